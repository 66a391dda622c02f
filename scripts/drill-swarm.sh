#!/usr/bin/env bash
# drill-swarm.sh — the Swarm failure drills (ops/drills-swarm.md) on a real single-node Docker Swarm.
#
# Usage: scripts/drill-swarm.sh [--stack NAME] [--image REF] [--keep] [--report FILE]
#                               [--max-seconds S] [--only LIST]
#
#   --stack NAME      stack name (default regcase-drill; never the production default)
#   --image REF       release A (default: the image scripts/build-image.sh built from this commit,
#                     per dist/image.env; built now when there is none or the tree is dirty)
#   --keep            leave the stack, its secrets and the swarm in place at the end
#   --report FILE     markdown report (default dist/drills-swarm/<time>/report.md)
#   --max-seconds S   hard bound on the whole drill (default 1500)
#   --only LIST       comma-separated subset of: deploy,rolling,badimage,kill,secret,config,oom,
#                     previous
#                     (deploy always runs)
#
# Drills (each bounded in time; load only to 127.0.0.1, i.e. to the proxy task's published port):
#   deploy     swarm init on loopback when no swarm exists (left again at the end), node labels,
#              versioned secrets from scripts/gen-secrets.sh, scripts/deploy-stack.sh of release
#              A with the stand-in PostgreSQL/Redis/nginx images (scripts/build-standin-images.sh)
#   rolling    scripts/deploy-stack.sh to release B (new image) under a load loop: migration job
#              first, then start-first rolling update; failed requests counted (target 0)
#   badimage   `docker service update --image` to an image whose healthcheck never passes, under
#              the load loop: automatic rollback, time from the update to rollback_completed,
#              failed requests counted (target 0)
#   kill       SIGKILL of one api task's container: time until the service runs 2/2 again
#   secret     scripts/rotate-stack.sh --secret database_url_api onto a second database login
#              role, under the load loop: consumers updated, old secret removed afterwards,
#              connections on the new role, failed requests counted (target 0)
#   config     scripts/rotate-stack.sh --config nginx_conf: the proxy's nginx.conf
#   oom        api memory limit lowered to 24M (GOMEMLIMIT left at 460MiB: the misconfiguration
#              regcase-policy's gomemlimit rule refuses) + bounded large-body pressure: OOM kill
#              visible (exit 137, oom events), tasks restarted, then scripts/rollback-stack.sh
#   previous   scripts/rollback-stack.sh --previous: back to release A from the deployment history
# Engines without IPVS (no VIP, no routing mesh) get REGCASE_ENDPOINT_MODE=dnsrr and a host-mode
# published proxy (one replica, stop-first); this is detected and said in the report.
# Prints "ok"/"FAIL" per check and a last line "N passed, N failed". Exit 1 when anything failed,
# 2 when the engine cannot run a swarm at all (the reason is printed).
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/swarm.sh
source "$REPO_ROOT/scripts/lib/swarm.sh"
# shellcheck source=lib/checks.sh
source "$REPO_ROOT/scripts/lib/checks.sh"
# shellcheck source=lib/drill.sh
source "$REPO_ROOT/scripts/lib/drill.sh"

stack=regcase-drill image="" keep=0 report="" max_seconds=1500 only="deploy,rolling,badimage,kill,secret,config,oom,previous"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --stack) stack="${2:?}"; shift ;;
    --image) image="${2:?}"; shift ;;
    --keep) keep=1 ;;
    --report) report="${2:?}"; shift ;;
    --max-seconds) max_seconds="${2:?}"; shift ;;
    --only) only="deploy,${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
[[ "$stack" != regcase ]] || die "the drill never runs on the stack named regcase" 64
need docker curl sha256sum openssl
cd "$REPO_ROOT"
wants() { [[ ",$only," == *",$1,"* ]]; }

drill_start swarm "$max_seconds"

created_swarm=0 labelled=0 node=""
created_images=()
cleanup() {
  local rc=$?
  in_main_shell || exit "$rc"
  kill "$WATCHDOG" 2>/dev/null || true
  jobs -p | xargs -r kill 2>/dev/null || true
  if [[ $keep -eq 1 ]]; then
    echo "--keep: stack $stack, its secrets/configs and the swarm are left in place (work dir $WORK)"
  else
    if docker stack ls --format '{{.Name}}' 2>/dev/null | grep -qx "$stack"; then
      docker stack rm "$stack" >/dev/null 2>&1 || true
      for _ in $(seq 1 90); do
        [[ -z "$(docker ps -q --filter "label=com.docker.stack.namespace=$stack")" ]] \
          && [[ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")" ]] && break
        sleep 1
      done
    fi
    # finished job tasks (migrate) leave exited containers behind
    docker ps -a -q --filter "label=com.docker.stack.namespace=$stack" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker secret ls --format '{{.Name}}' 2>/dev/null | grep "^${SECRET_PREFIX:-none}_" | xargs -r docker secret rm >/dev/null 2>&1 || true
    for c in $(docker config ls --format '{{.Name}} {{.ID}}' 2>/dev/null | awk '{print $2}'); do
      [[ "$(docker config inspect -f '{{index .Spec.Labels "com.docker.stack.namespace"}}' "$c" 2>/dev/null)" == "$stack" ]] && docker config rm "$c" >/dev/null 2>&1 || true
    done
    docker volume ls -q --filter "label=com.docker.stack.namespace=$stack" | xargs -r docker volume rm >/dev/null 2>&1 || true
    if [[ $labelled -eq 1 && $created_swarm -eq 0 ]]; then
      docker node update --label-rm regcase.app --label-rm regcase.data --label-rm regcase.zone "$node" >/dev/null 2>&1 || true
    fi
    if [[ $created_swarm -eq 1 ]]; then
      docker swarm leave --force >/dev/null 2>&1 && echo "left the swarm this drill created"
    fi
    for i in "${created_images[@]}"; do
      for _ in 1 2 3 4 5; do docker rmi "$i" >/dev/null 2>&1 && break; sleep 2; done
    done
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

{
  echo "# Swarm drills — $ts"
  echo
  echo "Commit $(git_sha_full); engine $(docker version -f '{{.Server.Version}}' 2>/dev/null); client $(docker version -f '{{.Client.Version}}' 2>/dev/null); $(nproc) CPUs."
  echo
} >"$report"
: >"$OUT/checks.md"

# --- 0. the engine and the swarm --------------------------------------------------------------------
section "engine"
docker info >/dev/null 2>&1 || die "docker info fails: no engine" 2
echo "other work on this engine (left alone):"
docker ps --format '  {{.Names}}  {{.Status}}' | grep -v "^  ${stack}_" || echo "  (no other container)"
docker compose ls 2>/dev/null | sed 's/^/  /' || true
swarm_state="$(docker info -f '{{.Swarm.LocalNodeState}}')"
if [[ "$swarm_state" == inactive ]]; then
  if out="$(docker swarm init --advertise-addr 127.0.0.1 2>&1)"; then
    created_swarm=1
    pass "docker swarm init --advertise-addr 127.0.0.1 (created by this drill, left at the end)"
  else
    echo "$out"
    echo "The engine refused to create a swarm: $out" >>"$report"
    failed "docker swarm init --advertise-addr 127.0.0.1: $out"
    checks_summary
    exit 2
  fi
elif [[ "$(docker info -f '{{.Swarm.ControlAvailable}}')" != true ]]; then
  die "this engine is in a swarm but not a manager: the drill needs a manager" 2
else
  pass "swarm already active on this engine (manager): reusing it, it stays"
fi
node="$(docker info -f '{{.Swarm.NodeID}}')"
if [[ "$(docker node inspect -f '{{index .Spec.Labels "regcase.app"}}' "$node")" != true ]]; then
  docker node update --label-add regcase.app=true --label-add regcase.data=true --label-add regcase.zone=a "$node" >/dev/null
  labelled=1
fi
ipvs=1
if [[ ! -e /proc/net/ip_vs ]] && ! grep -qw ip_vs /proc/modules 2>/dev/null; then
  ipvs=0
  echo "no IPVS in this kernel (/proc/net/ip_vs missing): Swarm VIPs and the ingress routing mesh cannot work;"
  echo "using REGCASE_ENDPOINT_MODE=dnsrr and a host-mode published proxy (1 replica, stop-first)"
fi

# --- 1. images ------------------------------------------------------------------------------------
section "images"
if [[ -z "$image" && -r dist/image.env ]] && [[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  # the image scripts/test-platform.sh just built from this very commit
  ref="$(sed -n 's/^IMAGE_REF=//p' dist/image.env)"; rev="$(sed -n 's/^REVISION=//p' dist/image.env)"
  if [[ "$rev" == "$(git_sha_full)" ]] && docker image inspect "$ref" >/dev/null 2>&1; then
    image="$ref"
    pass "release A: $image, built by scripts/build-image.sh from this commit (dist/image.env)"
  fi
fi
if [[ -z "$image" ]]; then
  if scripts/build-image.sh --quiet >"$OUT/build-image.log" 2>&1; then
    image="$(sed -n 's/^IMAGE_REF=//p' dist/image.env)"
    pass "scripts/build-image.sh built release A: $image"
  else
    tail -20 "$OUT/build-image.log"; failed "scripts/build-image.sh"; exit 1
  fi
fi
docker image inspect "$image" >/dev/null 2>&1 || die "image $image is not on this engine"
version="$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$image")"
repo="${image%:*}"
img_a="$image"
img_b="$repo:${version}-drill-b"
img_bad="$repo:${version}-drill-bad"
bctx="$WORK/imgctx"; mkdir -p "$bctx"
# B: a new image (new ID and tag) of the same program: what a patch release looks like to Swarm.
printf 'FROM %s\nLABEL org.regcase.drill="release B of the rolling-update drill"\n' "$img_a" >"$bctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$img_b" "$bctx" >/dev/null 2>"$OUT/build-b.err" && created_images+=("$img_b")
# bad: same program, broken configuration baked in: it starts and stays alive but can never reach
# PostgreSQL (pgx honours PGTARGETSESSIONATTRS; a primary is not a standby), so /health/ready and
# therefore `regcase healthcheck` never pass.
printf 'FROM %s\nENV PGTARGETSESSIONATTRS=standby\nLABEL org.regcase.drill="bad release: never ready"\n' "$img_a" >"$bctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$img_bad" "$bctx" >/dev/null 2>"$OUT/build-bad.err" && created_images+=("$img_bad")
if docker image inspect "$img_b" "$img_bad" >/dev/null 2>&1; then
  pass "drill images: B=$img_b ($(docker image inspect -f '{{.Id}}' "$img_b" | cut -c8-19)), bad=$img_bad"
else
  failed "building the drill images"; exit 1
fi
backing="$(scripts/build-standin-images.sh --list 2>/dev/null || true)"
pg="$(sed -n 's/^POSTGRES_IMAGE_PINNED=//p' <<<"$backing")"; rd="$(sed -n 's/^REDIS_IMAGE_PINNED=//p' <<<"$backing")"; px="$(sed -n 's/^PROXY_IMAGE_PINNED=//p' <<<"$backing")"
if [[ -z "$pg" || -z "$rd" || -z "$px" ]]; then
  scripts/build-standin-images.sh >"$OUT/standin.log" 2>&1 || { tail -20 "$OUT/standin.log"; failed "stand-in images"; exit 1; }
  backing="$(scripts/build-standin-images.sh --list)"
  pg="$(sed -n 's/^POSTGRES_IMAGE_PINNED=//p' <<<"$backing")"; rd="$(sed -n 's/^REDIS_IMAGE_PINNED=//p' <<<"$backing")"; px="$(sed -n 's/^PROXY_IMAGE_PINNED=//p' <<<"$backing")"
fi
echo "backing (local stand-ins, NOT upstream images): $pg $rd $px"

# --- 2. secrets, env file, tools -------------------------------------------------------------------
section "secrets and environment"
SECRET_PREFIX="$(tr -c 'a-z0-9\n' '_' <<<"$stack")"
scripts/gen-secrets.sh --dir "$WORK/secrets" >"$OUT/gen-secrets.log" 2>&1 || { failed "scripts/gen-secrets.sh"; exit 1; }
for f in pg_superuser_password pg_owner_password pg_api_password database_url_owner database_url_api \
         pg_worker_password database_url_worker \
         redis_acl redis_url data_key audit_signing_key tls_cert.pem tls_key.pem; do
  k="${f%.pem}"
  docker secret rm "${SECRET_PREFIX}_${k}_v1" >/dev/null 2>&1 || true
  docker secret create "${SECRET_PREFIX}_${k}_v1" "$WORK/secrets/$f" >/dev/null
done
# The optional features' secrets (SMTP password, S3 secret key): unused here, so one newline
# each (Swarm refuses an empty secret; regcase reads a lone newline as "not set").
for k in smtp_password s3_secret_access_key; do
  docker secret rm "${SECRET_PREFIX}_${k}_v1" >/dev/null 2>&1 || true
  printf '\n' | docker secret create "${SECRET_PREFIX}_${k}_v1" - >/dev/null
done
free_port() { local p; for _ in $(seq 1 50); do p=$((20000 + RANDOM % 20000)); ss -ltn "( sport = :$p )" | grep -q ":$p" || { echo "$p"; return; }; done; return 1; }
https_port="$(free_port)"; http_port="$(free_port)"
ENVF="$WORK/stack.env"
publish=ingress endpoint=vip proxies=2 porder=start-first
if [[ $ipvs -eq 0 ]]; then publish=host endpoint=dnsrr proxies=1 porder=stop-first; fi
drill_stack_env "$img_a"
echo "POSTGRES_SHARED_BUFFERS=64MB" >>"$ENVF"
chmod 0600 "$ENVF"
ACCEPT=()
[[ $ipvs -eq 1 ]] || ACCEPT=(--accept proxy:swarm-replicas --accept proxy:swarm-update-config --accept proxy:swarm-rollback-config)
URL="https://127.0.0.1:$https_port"
echo "stack $stack, proxy on $URL (published $publish), api endpoints $endpoint"
# the load client and the policy checker (tools/policy; static builds, seconds when cached)
drill_build_tools || { failed "building bin/regcase-e2e, bin/regcase-policy"; exit 1; }

# --- 3. deploy ------------------------------------------------------------------------------------
section "deploy release A"
t=$(now_ms)
if scripts/deploy-stack.sh --env-file "$ENVF" --stack "$stack" --resolve-image never --insecure --timeout 300 "${ACCEPT[@]}" >"$OUT/deploy-a.log" 2>&1; then
  ms=$(( $(now_ms) - t ))
  pass "scripts/deploy-stack.sh: release A deployed, converged, smoke-tested ($ms ms)"
  figure DEPLOY_FIRST_MS "$ms" "scripts/deploy-stack.sh of release A on an empty stack: resolve, migrate job, all services converged, smoke"
  grep -E 'phase|converged|iteration' "$OUT/deploy-a.log" | sed 's/^/     /'
else
  tail -30 "$OUT/deploy-a.log"; failed "scripts/deploy-stack.sh release A"; exit 1
fi
docker stack services "$stack" --format '{{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}' | sed 's/^/     /'
api_c() { docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_api" | head -1; }
TOKEN="$(docker exec "$(api_c)" /regcase token create --role supervisor --name "drill-$ts" 2>/dev/null)"
[[ "$TOKEN" == rct_* ]] && pass "token minted in an api task (docker exec /regcase token create)" || failed "minting a token"
net_ok() {
  local attach internal
  attach="$(docker network inspect -f '{{.Attachable}}' "${stack}_data")"; internal="$(docker network inspect -f '{{.Internal}}' "${stack}_data")"
  echo "     ${stack}_data: driver $(docker network inspect -f '{{.Driver}}' "${stack}_data") attachable=$attach internal=$internal"
  [[ "$attach" == false && "$internal" == true ]]
}
net_ok && pass "data network is overlay, internal, not attachable" || failed "data network attributes"
if docker run --rm --network "${stack}_data" "$img_a" version >/dev/null 2>"$OUT/attach.err"; then
  failed "a plain container could join ${stack}_data"
else
  pass "docker run --network ${stack}_data is refused: $(head -1 "$OUT/attach.err" | cut -c1-110)"
fi

# --- 4. rolling update under load -----------------------------------------------------------------
if wants rolling; then
  section "rolling update A -> B under load"
  load_start rolling 240
  sleep 3
  t=$(now_ms)
  if scripts/deploy-stack.sh --env-file "$ENVF" --stack "$stack" --image "$img_b" --resolve-image never --insecure --timeout 300 "${ACCEPT[@]}" >"$OUT/deploy-b.log" 2>&1; then
    ms=$(( $(now_ms) - t ))
    pass "scripts/deploy-stack.sh --image B: migrate job, rolling update, converged, smoke ($ms ms)"
  else
    ms=$(( $(now_ms) - t )); tail -20 "$OUT/deploy-b.log"; failed "scripts/deploy-stack.sh --image B"
  fi
  grep -E 'phase|converged|iteration' "$OUT/deploy-b.log" | sed 's/^/     /'
  api_upd="$(update_window "${stack}_api")"; wk_upd="$(update_window "${stack}_worker")"
  sleep 2
  load_result rolling
  figure ROLLING_DEPLOY_TOTAL_MS "$ms" "scripts/deploy-stack.sh --image B end to end (resolve, migrate job, roll, converge, smoke)"
  figure ROLLING_UPDATE_API_MS "$api_upd" "api (2 replicas): UpdateStatus.StartedAt -> CompletedAt (parallelism 1, start-first, delay 5s, monitor 10s)"
  figure ROLLING_UPDATE_WORKER_MS "$wk_upd" "worker (2 replicas): same"
  figure ROLLING_LOAD_OK "${LOAD_OK:-0}" "requests answered < 500 during the rolling update (4 clients through the proxy)"
  figure ROLLING_LOAD_FAILED "$LOAD_FAILED" "requests failed (5xx, reset, refused) during the rolling update — target 0"
  [[ "$(service_image "${stack}_api")" == "$img_b" ]] && pass "api runs release B" || failed "api does not run release B"
  [[ "$LOAD_FAILED" -eq 0 ]] && pass "rolling update under load: 0 failed of ${LOAD_OK:-?} requests" || failed "rolling update under load: $LOAD_FAILED failed requests"
fi

# --- 5. bad image -> automatic rollback, under load --------------------------------------------------
if wants badimage; then
  section "bad image -> automatic rollback under load"
  before="$(service_image "${stack}_api")"
  load_start badimage 200
  sleep 3
  t=$(now_ms)
  docker service update -d --no-resolve-image --image "$img_bad" "${stack}_api" >/dev/null
  st="" rb_ms=""
  for _ in $(seq 1 300); do
    st="$(update_state "${stack}_api")"
    [[ "$st" == rollback_completed || "$st" == rollback_paused || "$st" == paused ]] && break
    sleep 0.5
  done
  rb_ms=$(( $(now_ms) - t ))
  # let the restored service settle, then stop measuring with the load loop's own bound
  wait_converged 120 "${stack}_api" >/dev/null 2>&1 || true
  load_result badimage
  docker service ps --no-trunc --format '{{.Name}} {{.Image}} {{.CurrentState}} {{.Error}}' "${stack}_api" | head -6 | sed 's/^/     /'
  echo "     update status: $(docker service inspect -f '{{.UpdateStatus.State}}: {{.UpdateStatus.Message}}' "${stack}_api")"
  figure BAD_IMAGE_TO_ROLLBACK_COMPLETED_MS "$rb_ms" "docker service update --image <never-ready image> -> UpdateStatus rollback_completed (start_period 20s + 3 x 5s healthchecks, then rollback)"
  figure BAD_IMAGE_LOAD_OK "${LOAD_OK:-0}" "requests answered < 500 during the bad rollout and the rollback"
  figure BAD_IMAGE_LOAD_FAILED "$LOAD_FAILED" "requests failed during the bad rollout and the rollback — target 0"
  [[ "$st" == rollback_completed && "$(service_image "${stack}_api")" == "$before" ]] \
    && pass "bad image rolled back automatically to $before in $rb_ms ms" || failed "bad image: state $st, image $(service_image "${stack}_api")"
  [[ "$LOAD_FAILED" -eq 0 ]] && pass "load loop served throughout the bad rollout: 0 failed of ${LOAD_OK:-?}" || failed "bad rollout: $LOAD_FAILED failed requests"
fi

# --- 6. kill a task ---------------------------------------------------------------------------------
if wants kill; then
  section "kill a task"
  victim="$(api_c)"
  vname="$(docker inspect -f '{{.Name}}' "$victim")"
  vtask="$(docker inspect -f '{{index .Config.Labels "com.docker.swarm.task.id"}}' "$victim")"
  load_start kill 90
  sleep 2
  t=$(now_ms)
  docker kill "$victim" >/dev/null
  back=""
  for _ in $(seq 1 240); do
    sleep 0.25
    line="$(service_converged "${stack}_api" || true)"
    if [[ "$line" == *" 2/2 running, 0 starting, 0 on another image"* ]] \
       && ! docker service ps -q --no-trunc --filter desired-state=running "${stack}_api" | grep -q "^$vtask"; then
      back=$(( $(now_ms) - t )); break
    fi
  done
  load_result kill
  docker service ps --format '{{.Name}} {{.CurrentState}} {{.Error}}' "${stack}_api" | head -4 | sed 's/^/     /'
  if [[ -n "$back" ]]; then
    figure KILL_TO_RESCHEDULED_MS "$back" "docker kill (SIGKILL) of one api task container -> a replacement task running and healthy, service 2/2 (restart_policy delay 5s)"
    pass "killed $vname: replacement running and healthy after $back ms"
  else
    failed "killed task not replaced within 60 s"
  fi
  figure KILL_LOAD_FAILED "$LOAD_FAILED" "requests failed while one of two api tasks was killed (not a target: in-flight requests on the killed task are lost; the proxy retries connection errors on the other task)"
fi

# --- 7. secret rotation --------------------------------------------------------------------------------
if wants secret; then
  section "secret rotation: database_url_api onto a second login role"
  old="$(stack_env_load "$ENVF"; stack_env_get SECRET_DATABASE_URL_API)"
  pgc="$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_postgres" | head -1)"
  pw2="$(openssl rand -hex 24)"
  # Zero-downtime credential rotation: a second LOGIN member of regcase_app (the old role keeps
  # working until every task has moved), then the secret that names it.
  if docker exec -i "$pgc" psql -v ON_ERROR_STOP=1 -q -U postgres -d regcase >/dev/null 2>"$OUT/role.err" <<SQL
CREATE ROLE regcase_api_r2 LOGIN PASSWORD '$pw2' IN ROLE regcase_app;
SQL
  then pass "second login role regcase_api_r2 (member of regcase_app) created"; else cat "$OUT/role.err"; failed "creating regcase_api_r2"; fi
  umask 077
  printf 'postgres://regcase_api_r2:%s@postgres:5432/regcase?sslmode=disable' "$pw2" >"$WORK/database_url_api.new"
  load_start secret 240
  sleep 2
  t=$(now_ms)
  if scripts/rotate-stack.sh --env-file "$ENVF" --stack "$stack" --secret database_url_api --from-file "$WORK/database_url_api.new" --timeout 240 >"$OUT/rotate-secret.log" 2>&1; then
    ms=$(( $(now_ms) - t ))
    pass "scripts/rotate-stack.sh --secret database_url_api ($ms ms)"
    figure SECRET_ROTATION_MS "$ms" "new secret, api then worker rolled onto it (start-first, monitor 10s), env file updated, old secret removed"
  else
    tail -20 "$OUT/rotate-secret.log"; failed "scripts/rotate-stack.sh --secret"
  fi
  grep -E 'consumers|updating|every consumer|removed' "$OUT/rotate-secret.log" | sed 's/^/     /'
  load_result secret
  figure SECRET_ROTATION_LOAD_FAILED "$LOAD_FAILED" "requests failed while api and worker rolled onto the new secret — target 0 (of ${LOAD_OK:-?})"
  [[ "$LOAD_FAILED" -eq 0 ]] && pass "secret rotation under load: 0 failed of ${LOAD_OK:-?} requests" || failed "secret rotation under load: $LOAD_FAILED failed requests"
  new="$(stack_env_load "$ENVF"; stack_env_get SECRET_DATABASE_URL_API)"
  [[ "$new" != "$old" ]] && ! docker secret inspect "$old" >/dev/null 2>&1 \
    && pass "env file names $new; the old secret $old is gone" || failed "secret bookkeeping: env $new, old $old still present?"
  users="$(docker service inspect -f '{{.Spec.Name}}={{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{if eq .File.Name "database_url_api"}}{{.SecretName}}{{end}}{{end}}' "${stack}_api" "${stack}_worker" | tr '\n' ' ')"
  echo "     consumers now: $users"
  [[ "$users" != *"$old"* ]] && pass "api and worker mount $new" || failed "a consumer still mounts $old"
  sleep 2
  conns="$(docker exec "$pgc" psql -U postgres -d regcase -Atc "SELECT usename || ':' || count(*) FROM pg_stat_activity WHERE usename LIKE 'regcase_api%' GROUP BY usename ORDER BY 1" | tr '\n' ' ')"
  echo "     connections by role: $conns"
  [[ "$conns" == *regcase_api_r2:* && "$conns" != *"regcase_api:"* ]] && pass "every application connection uses the new role" || failed "connections: $conns"
  ! grep -rqF "$pw2" "$OUT" && pass "the new password appears in no drill log" || failed "the new password leaked into a log"
fi

# --- 8. config rotation --------------------------------------------------------------------------------
if wants config; then
  section "config rotation: nginx.conf"
  cp docker/proxy/nginx.conf "$WORK/nginx.conf"
  printf '\n# drill %s: a configuration change is a new versioned config\n' "$ts" >>"$WORK/nginx.conf"
  t=$(now_ms)
  if scripts/rotate-stack.sh --env-file "$ENVF" --stack "$stack" --config nginx_conf --from-file "$WORK/nginx.conf" --timeout 180 >"$OUT/rotate-config.log" 2>&1; then
    ms=$(( $(now_ms) - t ))
    pass "scripts/rotate-stack.sh --config nginx_conf ($ms ms)"
    figure CONFIG_ROTATION_MS "$ms" "new content-versioned config, proxy rolled onto it (stop-first here: host-mode port), old version removed"
  else
    tail -20 "$OUT/rotate-config.log"; failed "scripts/rotate-stack.sh --config"
  fi
  grep -E 'created|updating|removed|every' "$OUT/rotate-config.log" | sed 's/^/     /'
  "$REPO_ROOT/scripts/smoke-test.sh" --url "$URL" --insecure --retries 10 >"$OUT/smoke-config.txt" 2>&1 \
    && pass "smoke test after the config rotation" || failed "smoke test after the config rotation"
fi

# --- 9. memory pressure -----------------------------------------------------------------------------
if wants oom; then
  section "memory pressure: api limit lowered to 24M"
  docker service update -d --no-resolve-image --limit-memory 24M --reserve-memory 16M "${stack}_api" >/dev/null
  wait_converged 120 "${stack}_api" >"$OUT/oom-update.log" 2>&1 || true
  echo "     after the update: $(update_state "${stack}_api"), limit $(docker service inspect -f '{{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}}' "${stack}_api") bytes"
  docker stats --no-stream --format '     {{.Name}} {{.MemUsage}}' | grep "${stack}_api" || true
  since="$(date +%s)"
  exits_before="$(docker service ps --no-trunc --format '{{.Error}}' "${stack}_api" | grep -c 'exit (137)' || true)"
  big_body() { # ~900 kB JSON report: read and decoded by the api before validation refuses it
    printf '{"channel":"web","category":"other","subject":{"name":"pressure"},"description":"'
    head -c 900000 /dev/zero | tr '\0' 'x'
    printf '"}'
  }
  big_body >"$WORK/big.json"
  seq 1 120 | timeout 60 xargs -P 16 -I{} curl -sk -o /dev/null -w '%{http_code}\n' --max-time 20 \
    -H 'Content-Type: application/json' --data-binary "@$WORK/big.json" "$URL/v1/reports" >"$OUT/oom-codes.txt" 2>/dev/null || true
  sleep 2
  ooms="$(docker events --since "$since" --until "$(date +%s)" --filter type=container --filter event=oom --format '{{.Actor.Attributes.name}}' 2>/dev/null | grep -c "^${stack}_api" || true)"
  exits="$(docker service ps --no-trunc --format '{{.Error}}' "${stack}_api" | grep -c 'exit (137)' || true)"
  exits=$((exits - exits_before))
  echo "     responses: $(sort "$OUT/oom-codes.txt" | uniq -c | tr '\n' ' ')"
  echo "     oom events: $ooms; tasks failed with exit 137: $exits"
  docker service ps --format '{{.Name}} {{.CurrentState}} {{.Error}}' "${stack}_api" | head -6 | sed 's/^/     /'
  figure OOM_EVENTS "$ooms" "docker events type=container event=oom for api tasks during 120 large-body requests (16 parallel) at a 24M limit"
  [[ "$ooms" -gt 0 || "$exits" -gt 0 ]] && pass "OOM visible: $ooms oom event(s), $exits task(s) exited 137" || failed "no OOM observed at 24M"
  t=$(now_ms)
  if wait_converged 90 "${stack}_api" >/dev/null 2>&1 || [[ "$(update_state "${stack}_api")" == rollback_completed ]]; then
    pass "api restarted: $(docker service ps --filter desired-state=running -q "${stack}_api" | wc -l) replacement task(s) running and healthy $(( $(now_ms) - t )) ms after the pressure ended (restart_policy any)"
  else
    failed "api not running again after the OOM kills"
  fi
  t=$(now_ms)
  if [[ "$(docker service inspect -f '{{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}}' "${stack}_api")" != 25165824 ]]; then
    pass "the 24M update had already been rolled back automatically (its new tasks were OOM-killed while starting)"
  elif scripts/rollback-stack.sh --stack "$stack" --service api --smoke-url "$URL" --insecure --timeout 180 >"$OUT/rollback-oom.log" 2>&1; then
    pass "scripts/rollback-stack.sh --service api restored the 512M limit ($(( $(now_ms) - t )) ms, smoke-tested)"
  else
    tail -15 "$OUT/rollback-oom.log"; failed "scripts/rollback-stack.sh after the memory drill"
  fi
  echo "     limit now $(docker service inspect -f '{{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}}' "${stack}_api") bytes"
fi

# --- 10. roll back to the previously recorded release ------------------------------------------------
if wants previous; then
  section "rollback-stack.sh --previous (release B -> A, from the deployment history)"
  t=$(now_ms)
  if scripts/rollback-stack.sh --stack "$stack" --previous --env-file "$ENVF" --insecure --resolve-image never "${ACCEPT[@]}" --timeout 240 >"$OUT/rollback-previous.log" 2>&1; then
    ms=$(( $(now_ms) - t ))
    figure ROLLBACK_PREVIOUS_MS "$ms" "scripts/rollback-stack.sh --previous: redeploy of the last recorded ok release (no migration), converged, smoke"
    [[ "$(service_image "${stack}_api")" == "$img_a" ]] && pass "scripts/rollback-stack.sh --previous: api back on release A ($ms ms)" \
      || failed "rollback --previous: api runs $(service_image "${stack}_api"), want $img_a"
  else
    tail -15 "$OUT/rollback-previous.log"; failed "scripts/rollback-stack.sh --previous"
  fi
  grep -E 'redeploying|phase|converged' "$OUT/rollback-previous.log" | sed 's/^/     /'
fi

# --- report ------------------------------------------------------------------------------------------
section "report"
total=$((SECONDS - T0))
figure DRILL_TOTAL_S "$total" "wall time of scripts/drill-swarm.sh up to the report (cleanup excluded)"
noipvs=""
[[ $ipvs -eq 1 ]] || noipvs="Engine without IPVS: api endpoint_mode dnsrr, proxy published in host mode (1 replica, stop-first)."
drill_report "$report" "Stack \`$stack\`, release A \`$img_a\`, B \`$img_b\`, bad \`$img_bad\`; backing images (local stand-ins): \`$pg\`, \`$rd\`, \`$px\`." ${noipvs:+"$noipvs"}
echo "report: $report (raw logs in $OUT)"
checks_summary
[[ $FAIL -eq 0 ]]
