#!/usr/bin/env bash
# dev-up.sh — start the development stack (compose.yml + compose.dev.yml) and wait until healthy.
#
# Usage: scripts/dev-up.sh [--no-build] [--seed] [--observability] [--env-file FILE]
#
#   1. makes development secrets in ./secrets if missing (scripts/gen-secrets.sh)
#   2. builds the image as regcase:dev (scripts/build-image.sh: from source when the golang image
#      can be had, else from a host-built binary) unless --no-build
#   3. uses the upstream postgres/redis/nginx images, or local stand-ins when none can be pulled
#   4. `docker compose up -d --wait`, then prints the URL and how to get an admin token
#   --seed           also run the idempotent demo data loader (profile seed)
#   --observability  also start Prometheus + Grafana (compose.observability.yml)
# Live rebuild on source changes: docker compose -f compose.yml -f compose.dev.yml watch
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

build=1 seed=0 obs=0 env_file=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --no-build) build=0 ;;
    --seed) seed=1 ;;
    --observability) obs=1 ;;
    --env-file) env_file="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker
have_compose_v2 || "$REPO_ROOT/scripts/install-platform-tools.sh" compose
cd "$REPO_ROOT"

export REGCASE_SECRETS_DIR="${REGCASE_SECRETS_DIR:-$REPO_ROOT/secrets}"
"$REPO_ROOT/scripts/gen-secrets.sh" --dir "$REGCASE_SECRETS_DIR" >/dev/null
REGCASE_AUDIT_PUBLIC_KEY="$(<"$REGCASE_SECRETS_DIR/audit_public_key")"
export REGCASE_AUDIT_PUBLIC_KEY REGCASE_IMAGE="${REGCASE_IMAGE:-regcase:dev}"

if [[ $build -eq 1 ]]; then
  "$REPO_ROOT/scripts/build-image.sh" --tag "$REGCASE_IMAGE" >&2
fi
while IFS= read -r kv; do export "${kv?}"; done < <(pick_backing_images)

files=("${COMPOSE_DEV[@]}")
[[ $obs -eq 1 ]] && files+=(-f compose.observability.yml)
args=()
[[ -n "$env_file" ]] && args+=(--env-file "$env_file")
log "docker compose ${files[*]} up -d --wait"
compose "${args[@]}" "${files[@]}" up -d --no-build --wait --wait-timeout 180
if [[ $seed -eq 1 ]]; then
  compose "${args[@]}" "${files[@]}" --profile seed run --rm seed
fi
compose "${args[@]}" "${files[@]}" ps
cat <<MSG

regcase (development) is up:   https://localhost:${REGCASE_HTTPS_PORT:-8443}/docs   (self-signed certificate)
admin token:                   docker compose ${files[*]} run --rm --no-deps api token create --role admin --name me
logs:                          docker compose ${files[*]} logs -f api worker
stop and wipe:                 scripts/dev-reset.sh
MSG
