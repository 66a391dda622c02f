#!/usr/bin/env bash
# deploy-stack.sh — deploy (or update) regcase on Docker Swarm from stack.yml, safely.
#
# Usage: scripts/deploy-stack.sh --env-file FILE [--stack NAME] [--image REF] [--no-migrate]
#                                [--smoke-url URL] [--insecure] [--no-smoke] [--timeout S]
#                                [--resolve-image always|changed|never] [--check-only]
#
#   --env-file FILE   the deployment's variables (deploy/swarm/stack.env.example): images,
#                     replicas, versioned secret names, config file paths. Nothing else from the
#                     calling shell reaches the stack file.
#   --stack NAME      stack name (default: $REGCASE_STACK or regcase)
#   --image REF       deploy this application image (overrides REGCASE_IMAGE of the env file)
#   --no-migrate      skip phase 1 (only for changes without a new image: config, replicas)
#   --smoke-url URL   base URL for scripts/smoke-test.sh (default https://127.0.0.1:$REGCASE_HTTPS_PORT)
#   --insecure        accept a self-signed certificate in the smoke test
#   --no-smoke        skip the smoke test
#   --timeout S       convergence / migration timeout in seconds (default 600)
#   --resolve-image   passed to `docker stack deploy` (default always: pin the registry digest;
#                     never: images that exist only on the nodes, e.g. a registry-less drill)
#   --check-only      resolve, validate and record the model, deploy nothing
#   --registry-insecure  the registry of --image speaks plain HTTP (a local drill registry)
#   --accept SVC:RULE accept one regcase-policy finding (repeatable; recorded with the
#                     deployment). For engines that force a deviation, e.g. the registry-less,
#                     IPVS-less drill engine: proxy:swarm-replicas (host-mode publishing).
#
# Steps (each one stops the deployment on failure):
#   1. resolve: content versions of the configs (sha256 of each file), `docker stack config`
#      of the interpolated stack.yml, regcase-policy stack (when bin/regcase-policy exists), the
#      external secrets exist, the image exists; record the resolved file, the image ID and the
#      registry digest under $REGCASE_STATE_DIR/stack/NAME/deployments/<time>/.
#   2. migrate: `docker stack deploy` with the NEW image for the one-shot `migrate` job only
#      (api/worker keep the image they run), wait for the job to complete. Expand/contract keeps
#      the running release valid on the migrated schema.
#   3. roll out: `docker stack deploy` with the new image everywhere; api/worker/proxy roll one
#      task at a time, start-first, and roll back by themselves when a new task fails its
#      healthcheck (update_config.failure_action: rollback).
#   4. converge: wait until every service runs its spec on the wanted number of tasks; a service
#      that rolled back fails the deployment (exit 3), a paused one too (exit 4).
#   5. smoke test through the proxy (scripts/smoke-test.sh --expect-version).
#   6. record: history.tsv gets "<time> ok|failed <image> <image id> <digest> <release>".
# Exit: 0 deployed; 1 failed; 3 rolled back automatically; 4 paused (needs a human); 64 usage.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/swarm.sh
source "$REPO_ROOT/scripts/lib/swarm.sh"

env_file="" stack="$STACK_NAME_DEFAULT" image="" migrate=1 smoke=1 smoke_url="" insecure=() timeout=600
resolve=always check_only=0 accepts=() reg_insecure=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --env-file) env_file="${2:?--env-file needs a value}"; shift ;;
    --stack) stack="${2:?}"; shift ;;
    --image) image="${2:?}"; shift ;;
    --no-migrate) migrate=0 ;;
    --smoke-url) smoke_url="${2:?}"; shift ;;
    --insecure) insecure=(--insecure) ;;
    --no-smoke) smoke=0 ;;
    --timeout) timeout="${2:?}"; shift ;;
    --resolve-image) resolve="${2:?}"; shift ;;
    --check-only) check_only=1 ;;
    --registry-insecure) reg_insecure=(--insecure) ;;
    --accept) accepts+=("${2:?--accept needs SERVICE:RULE}"); shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
[[ -n "$env_file" ]] || die "--env-file is required (see deploy/swarm/stack.env.example)" 64
need docker sha256sum
cd "$REPO_ROOT"

# --- 1. resolve -------------------------------------------------------------------------------
stack_env_load "$env_file"
[[ -n "$image" ]] || image="$(stack_env_get REGCASE_IMAGE)"
[[ -n "$image" ]] || die "no image: set REGCASE_IMAGE in $env_file or pass --image" 64
stack_env_set REGCASE_IMAGE "$image"
stack_env_set REGCASE_MIGRATE_IMAGE "$image"
stack_env_versions
ts="$(date -u +%Y%m%dT%H%M%SZ)"
state="$(stack_state_dir "$stack")"
rec="$state/deployments/$ts"
mkdir -p "$rec"
chmod 0700 "$state" 2>/dev/null || true
log "resolving $STACK_FILE for stack $stack (record: $rec)"
senv docker stack config -c "$STACK_FILE" >"$rec/stack.resolved.yml" 2>"$rec/stack-config.err" \
  || { cat "$rec/stack-config.err" >&2; die "docker stack config refused the stack file"; }
for k in "${CONFIG_KEYS[@]}"; do
  printf '%s %s %s\n' "$k" "$(stack_env_get "${CONFIG_VERSION_VAR[$k]}")" "$(config_file "$k")"
done >"$rec/configs.txt"
policy="${REGCASE_POLICY:-$REPO_ROOT/bin/regcase-policy}"
if [[ -x "$policy" ]]; then
  # The policy tool interpolates from its environment, which senv makes exactly STACK_ENV.
  prc=0
  senv "$policy" stack -c "$STACK_FILE" >"$rec/policy.txt" 2>&1 || prc=$?
  [[ $prc -le 1 ]] || { cat "$rec/policy.txt" >&2; die "regcase-policy stack cannot load the stack"; }
  findings="$(grep -E '^[^ ]+( [^ ]+)?: [a-z0-9-]+: ' "$rec/policy.txt" || true)"
  for a in "${accepts[@]}"; do
    grep -q -F "${a%%:*}: ${a#*:}: " <<<"$findings" && printf 'accepted %s\n' "$a" >>"$rec/policy-accepted.txt"
    findings="$(grep -v -F "${a%%:*}: ${a#*:}: " <<<"$findings" || true)"
  done
  [[ -z "$findings" ]] || { printf '%s\n' "$findings" >&2; die "regcase-policy stack: the resolved stack breaks the production rules"; }
  log "policy: $(tail -1 "$rec/policy.txt")${accepts[*]:+ (accepted: ${accepts[*]})}"
else
  warn "regcase-policy not built ($policy): policy check skipped (scripts/test-orchestrators.sh builds it)"
fi
if [[ $check_only -eq 1 ]]; then
  log "--check-only: model resolved and recorded in $rec; nothing deployed"
  exit 0
fi
swarm_manager_or_die
missing="$(missing_secrets)"
[[ -z "$missing" ]] || die "external secrets missing from the swarm (create them first, ops/runbook-swarm.md, section 4):
$missing"
image_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
digest="$(docker image inspect -f '{{join .RepoDigests ","}}' "$image" 2>/dev/null || true)"
if [[ "$resolve" != never ]]; then
  # Every node pulls the image during the rollout: when the registry cannot serve its manifest
  # now, stop here (nothing deployed) instead of letting tasks fail to pull on every node.
  if ! merr="$(timeout 30 docker manifest inspect "${reg_insecure[@]}" "$image" 2>&1 >/dev/null)"; then
    die "the registry cannot serve $image (${merr:-timeout after 30 s}): nothing was deployed; check the registry, then rerun" 69
  fi
fi
[[ -n "$digest" || "$image" != *@sha256:* ]] || digest="$image"
if [[ -z "$image_id" && "$resolve" == never ]]; then
  die "image $image is not on this node and --resolve-image never was given"
fi
release="$(stack_env_get REGCASE_RELEASE)"
if [[ -n "$image_id" ]]; then
  version_label="$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$image" 2>/dev/null || true)"
  [[ -n "$release" && "$release" != unrecorded ]] || release="${version_label:-unrecorded}"
fi
stack_env_set REGCASE_RELEASE "${release:-unrecorded}"
{
  printf 'IMAGE=%s\nIMAGE_ID=%s\nREPO_DIGESTS=%s\nRELEASE=%s\nSTACK=%s\nDEPLOYED_AT=%s\nCOMMIT=%s\n' \
    "$image" "${image_id:-unknown (not on this node)}" "${digest:-none (never pushed)}" "$release" "$stack" "$ts" "$(git_sha_full)"
} >"$rec/image.env"
log "image $image id=${image_id:-?} digest=${digest:-none} release=$release"

record() { # RESULT
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ts" "$1" "$image" "${image_id:-?}" "${digest:-none}" "$release" >>"$state/history.tsv"
}
fail() { # CODE MESSAGE
  record failed
  docker stack services "$stack" >"$rec/services.txt" 2>&1 || true
  docker stack ps --no-trunc "$stack" >"$rec/stack-ps.txt" 2>&1 || true
  die "$2 (evidence in $rec)" "$1"
}
deploy_args=(stack deploy --prune=false --resolve-image "$resolve" --with-registry-auth -c "$STACK_FILE")
deploy() { senv docker "${deploy_args[@]}" "$stack" >>"$rec/deploy.log" 2>&1 || { tail -20 "$rec/deploy.log" >&2; return 1; }; }

# --- 2. migrate with the new image while the running release keeps serving -----------------------
if [[ $migrate -eq 1 ]]; then
  current="$(service_image "${stack}_api" || true)"
  cur_release="$(docker service inspect -f '{{index .Spec.Labels "org.regcase.release"}}' "${stack}_api" 2>/dev/null || true)"
  STACK_ENV_SAVED=("${STACK_ENV[@]}")
  if [[ -n "$current" ]]; then
    stack_env_set REGCASE_IMAGE "$current"
    stack_env_set REGCASE_RELEASE "${cur_release:-unrecorded}"
  fi
  log "phase 1: migrate job with $image (api/worker stay on ${current:-nothing yet: first deployment})"
  before="$(job_iteration "${stack}_migrate" || true)"
  t0=$SECONDS
  deploy || fail 1 "docker stack deploy (phase 1) failed"
  STACK_ENV=("${STACK_ENV_SAVED[@]}")
  after="$(job_iteration "${stack}_migrate" || true)"
  log "migrate job iteration ${before:-none} -> ${after:-?}"
  wait_job "${stack}_migrate" "$timeout" || fail 1 "the migration job did not complete: nothing was rolled out"
  docker service logs --raw "${stack}_migrate" >"$rec/migrate.log" 2>&1 || true
  log "phase 1 done in $((SECONDS - t0)) s"
fi

# --- 3. roll out ------------------------------------------------------------------------------
log "phase 2: rolling out $image"
t0=$SECONDS
deploy || fail 1 "docker stack deploy (phase 2) failed"

# --- 4. converge ------------------------------------------------------------------------------
services=()
for s in $(docker stack services --format '{{.Name}}' "$stack"); do
  [[ "$s" == "${stack}_migrate" ]] || services+=("$s")
done
rc=0
wait_converged "$timeout" "${services[@]}" || rc=$?
docker stack services "$stack" >"$rec/services.txt" 2>&1 || true
docker stack ps --no-trunc "$stack" >"$rec/stack-ps.txt" 2>&1 || true
case $rc in
  0) log "converged in $((SECONDS - t0)) s" ;;
  3) fail 3 "a service failed its rollout and ROLLED BACK automatically" ;;
  4) fail 4 "an update is PAUSED: a human decides (ops/runbook-swarm.md, section 3)" ;;
  *) fail 1 "the stack did not converge within ${timeout}s" ;;
esac

# --- 5. smoke ---------------------------------------------------------------------------------
if [[ $smoke -eq 1 ]]; then
  [[ -n "$smoke_url" ]] || smoke_url="https://127.0.0.1:$(stack_env_get REGCASE_HTTPS_PORT)"
  expect=()
  [[ -n "${version_label:-}" ]] && expect=(--expect-version "$version_label")
  "$REPO_ROOT/scripts/smoke-test.sh" --url "$smoke_url" "${insecure[@]}" "${expect[@]}" --retries 15 >"$rec/smoke.txt" 2>&1 \
    || { cat "$rec/smoke.txt" >&2; fail 1 "smoke test failed against $smoke_url (consider scripts/rollback-stack.sh)"; }
  log "smoke test passed ($smoke_url)"
fi

# --- 6. record --------------------------------------------------------------------------------
record ok
ln -sfn "$rec" "$state/current"
echo "deployed $image to stack $stack (release $release); record: $rec"
