#!/usr/bin/env bash
# deploy.sh — deploy (or update) regcase on a single production host with Compose.
#
# Usage: scripts/deploy.sh --env-file FILE [--image REF] [--with-observability]
#                          [--smoke-url URL] [--skip-smoke] [--reason TEXT]
#        scripts/deploy.sh --env-file FILE --check-drift
#
# Steps (each one must succeed before the next):
#   1. preflight: env file and secret files present, not group/world-writable
#   2. config check: `docker compose --env-file FILE -f compose.yml -f compose.prod.yml config`
#      (every required ${VAR:?} set) and the production policy (tools/policy: regcase-policy)
#   3. pull every image (the host never builds)
#   4. `up -d --remove-orphans --wait`: postgres/redis healthy -> migrate (one-shot, as the
#      database owner) completes -> api/worker start and become healthy -> proxy
#   5. smoke test through the proxy (scripts/smoke-test.sh, expects the image's version)
#   6. record the deployment in $REGCASE_STATE_DIR (default /var/lib/regcase):
#      deployments/<UTC time>/{deploy.env,resolved-config.yml,images.txt}, `current` link,
#      history.log — the input of --check-drift and scripts/rollback.sh
#   --image REF          deploy this image (overrides REGCASE_IMAGE of the env file); prefer a
#                        digest reference printed by scripts/push-image.sh
#   --no-pull            do not pull: for air-gapped hosts whose images were loaded with
#                        `docker load` (they must already be present; the image ID is recorded)
#   --check-drift        compare the live resolved config and running image IDs with the
#                        recorded deployment; exit 1 on drift (run it from cron / monitoring)
# A failed step stops the script with a non-zero status and the previous containers keep
# running when it fails before step 4; see ops/runbook-single-host.md for what to do next.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

env_file="" image="" obs=0 smoke_url="" skip_smoke=0 reason="deploy" drift=0 pull=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --env-file) env_file="${2:?}"; shift ;;
    --image) image="${2:?}"; shift ;;
    --with-observability) obs=1 ;;
    --smoke-url) smoke_url="${2:?}"; shift ;;
    --skip-smoke) skip_smoke=1 ;;
    --reason) reason="${2:?}"; shift ;;
    --check-drift) drift=1 ;;
    --no-pull) pull=0 ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker sha256sum
[[ -n "$env_file" ]] || die "--env-file is required (see env/prod.env.example)" 64
[[ -r "$env_file" ]] || die "cannot read $env_file"
env_file="$(cd "$(dirname "$env_file")" && pwd)/$(basename "$env_file")"
cd "$REPO_ROOT"
have_compose_v2 || die "docker compose $COMPOSE_VERSION is required (scripts/install-platform-tools.sh compose)"

files=("${COMPOSE_PROD[@]}")
[[ $obs -eq 1 ]] && files+=(-f compose.observability.yml)
[[ -n "$image" ]] && export REGCASE_IMAGE="$image"
dc() { compose --env-file "$env_file" "${files[@]}" "$@"; }

# --- drift detection ---------------------------------------------------------------------------
if [[ $drift -eq 1 ]]; then
  cur="$STATE_DIR/current"
  [[ -d "$cur" ]] || die "no recorded deployment in $STATE_DIR"
  # shellcheck disable=SC1091
  REGCASE_IMAGE="$(sed -n 's/^REGCASE_IMAGE=//p' "$cur/deploy.env")"; export REGCASE_IMAGE
  rc=0
  if ! diff -u "$cur/resolved-config.yml" <(dc config 2>/dev/null) >"$STATE_DIR/drift.diff"; then
    warn "configuration drift: the files or the env file changed since $(basename "$(readlink -f "$cur")") (see $STATE_DIR/drift.diff)"
    rc=1
  fi
  live="$(dc ps --format '{{.Service}} {{.Image}}' 2>/dev/null | sort -u | while read -r s i; do
    printf '%s %s\n' "$s" "$(docker image inspect -f '{{.Id}}' "$i" 2>/dev/null)"; done)"
  if ! diff -u <(sort -u "$cur/images.txt") <(printf '%s\n' "$live" | sort -u) >>"$STATE_DIR/drift.diff"; then
    warn "runtime drift: running images differ from the recorded deployment"
    rc=1
  fi
  [[ $rc -eq 0 ]] && log "no drift from $(basename "$(readlink -f "$cur")")"
  exit $rc
fi

# --- 1. preflight ---------------------------------------------------------------------------
log "1/6 preflight"
perm="$(stat -c '%a' "$env_file")"
[[ "${perm: -1}" =~ [0145] && "${perm: -2:1}" =~ [0145] ]] || warn "$env_file is group/world-writable ($perm): fix with chmod 600"
secrets_dir="$(sed -n 's/^REGCASE_SECRETS_DIR=//p' "$env_file" | tail -1)"
secrets_dir="${REGCASE_SECRETS_DIR:-${secrets_dir:-./secrets}}"
[[ "$secrets_dir" == /* ]] || secrets_dir="$REPO_ROOT/$secrets_dir"
for f in pg_superuser_password pg_owner_password pg_api_password database_url_owner database_url_api \
         pg_worker_password database_url_worker \
         redis_acl redis_url data_key audit_signing_key tls_cert.pem tls_key.pem; do
  [[ -s "$secrets_dir/$f" ]] || die "missing secret file $secrets_dir/$f (scripts/gen-secrets.sh --dir $secrets_dir)"
done
[[ $obs -eq 0 || -s "$secrets_dir/grafana_admin_password" ]] || die "missing $secrets_dir/grafana_admin_password"

# --- 2. config + policy ---------------------------------------------------------------------
log "2/6 config check: docker compose ${files[*]} config"
dc config --quiet
policy="$REPO_ROOT/bin/regcase-policy"
if [[ ! -x "$policy" ]] && command -v go >/dev/null 2>&1; then
  (cd tools/policy && CGO_ENABLED=0 go build -trimpath -o "$policy" ./cmd/regcase-policy)
fi
if [[ -x "$policy" ]]; then
  policy_args=(check); for f in "${files[@]}"; do [[ "$f" == -f ]] || policy_args+=(-f "$f"); done
  "$policy" "${policy_args[@]}" --env-file "$env_file"
else
  warn "regcase-policy not available (no Go on this host): production policy NOT checked here; it ran in CI"
fi
target_image="${REGCASE_IMAGE:-$(sed -n 's/^REGCASE_IMAGE=//p' "$env_file" | tail -1)}"

# --- 3. pull ---------------------------------------------------------------------------------
if [[ $pull -eq 1 ]]; then
  log "3/6 pull"
  dc pull --quiet
else
  log "3/6 pull skipped (--no-pull): checking that every image is present"
  for i in $(dc config --images); do docker image inspect "$i" >/dev/null 2>&1 || die "image $i is not present (docker load it first)"; done
fi

# --- 4. up -----------------------------------------------------------------------------------
log "4/6 up -d --remove-orphans --wait (migrate runs to completion before api/worker start)"
started=$(date +%s)
if ! dc up -d --remove-orphans --wait --wait-timeout 300; then
  dc ps -a || true
  dc logs --no-color --tail 50 migrate api worker || true
  die "deployment did not become healthy: see the logs above; roll back with scripts/rollback.sh --env-file $env_file --previous"
fi
log "healthy after $(( $(date +%s) - started )) s"

# --- 5. smoke --------------------------------------------------------------------------------
expect_version="$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$target_image" 2>/dev/null || true)"
if [[ $skip_smoke -eq 0 ]]; then
  log "5/6 smoke test"
  port="$(sed -n 's/^REGCASE_HTTPS_PORT=//p' "$env_file" | tail -1)"
  url="${smoke_url:-https://127.0.0.1:${port:-443}}"
  smoke_args=(--url "$url")
  [[ -z "$smoke_url" ]] && smoke_args+=(--insecure) # loopback: the certificate names the public host
  [[ -n "$expect_version" ]] && smoke_args+=(--expect-version "$expect_version")
  "$REPO_ROOT/scripts/smoke-test.sh" "${smoke_args[@]}" \
    || die "smoke test failed: the new version is running but not proven; consider scripts/rollback.sh --env-file $env_file --previous"
else
  warn "5/6 smoke test skipped (--skip-smoke)"
fi

# --- 6. record -------------------------------------------------------------------------------
log "6/6 record"
id="$(date -u +%Y%m%dT%H%M%SZ)"
rec="$STATE_DIR/deployments/$id"
mkdir -p "$rec"
chmod 0750 "$STATE_DIR" "$STATE_DIR/deployments" 2>/dev/null || true
dc config >"$rec/resolved-config.yml"
dc ps --format '{{.Service}} {{.Image}}' | sort -u | while read -r s i; do
  printf '%s %s\n' "$s" "$(docker image inspect -f '{{.Id}}' "$i")"
done >"$rec/images.txt"
digest_ref="$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$target_image" 2>/dev/null | head -1 || true)"
{
  printf 'DEPLOYMENT_ID=%s\n' "$id"
  printf 'DEPLOYED_AT=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'DEPLOYED_BY=%s\n' "${SUDO_USER:-$(id -un)}"
  printf 'HOST=%s\n' "$(hostname)"
  printf 'REASON=%s\n' "$reason"
  printf 'REGCASE_IMAGE=%s\n' "$target_image"
  printf 'IMAGE_DIGEST_REF=%s\n' "$digest_ref"
  printf 'IMAGE_ID=%s\n' "$(docker image inspect -f '{{.Id}}' "$target_image" 2>/dev/null)"
  printf 'VERSION=%s\n' "$expect_version"
  printf 'REVISION=%s\n' "$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$target_image" 2>/dev/null)"
  printf 'COMPOSE_FILES=%s\n' "${files[*]}"
  printf 'RESOLVED_CONFIG_SHA256=%s\n' "$(sha256sum "$rec/resolved-config.yml" | cut -d' ' -f1)"
  printf 'ENV_FILE=%s\n' "$env_file"
  printf 'ENV_FILE_SHA256=%s\n' "$(sha256sum "$env_file" | cut -d' ' -f1)"
  printf 'SCHEMA=%s\n' "$(dc run --rm --no-deps -T migrate migrate status 2>/dev/null | tail -1 || true)"
} >"$rec/deploy.env"
ln -sfn "deployments/$id" "$STATE_DIR/current"
printf '%s %s %s %s\n' "$id" "$reason" "${digest_ref:-$target_image}" "$expect_version" >>"$STATE_DIR/history.log"
log "deployed $target_image ($expect_version) as $id; record in $rec"
