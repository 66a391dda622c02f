#!/usr/bin/env bash
# test-integration.sh — run the end-to-end suite against a disposable Compose test stack.
#
# Usage: scripts/test-integration.sh [--image REF] [--keep]
#
# Builds the image (unless --image) and the end-to-end client, brings up compose.yml +
# compose.test.yml under a unique project name (no host ports), waits for the health gates,
# mints an admin token with `regcase token create`, runs the test-runner container (same image,
# tools/policy/cmd/regcase-e2e mounted read-only), prints diagnostics on failure and always
# removes the stack with `down -v` (unless --keep). Exit status: the suite's.
# The fuller platform check (image assertions, outage and SIGTERM drills) is test-platform.sh.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

image="" keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --image) image="${2:?}"; shift ;;
    --keep) keep=1 ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker go
have_compose_v2 || "$REPO_ROOT/scripts/install-platform-tools.sh" compose
cd "$REPO_ROOT"

if [[ -z "$image" ]]; then
  "$REPO_ROOT/scripts/build-image.sh" >&2
  image="$(sed -n 's/^IMAGE_REF=//p' dist/image.env)"
fi
mkdir -p bin
(cd tools/policy && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$REPO_ROOT/bin/regcase-e2e" ./cmd/regcase-e2e)

work="$(mktemp -d)"
export REGCASE_TEST_ID="it$(date +%s)$$" REGCASE_IMAGE="$image" REGCASE_E2E_BIN="$REPO_ROOT/bin/regcase-e2e"
export REGCASE_SECRETS_DIR="$work/secrets"
"$REPO_ROOT/scripts/gen-secrets.sh" --dir "$REGCASE_SECRETS_DIR" >/dev/null 2>&1
REGCASE_AUDIT_PUBLIC_KEY="$(<"$REGCASE_SECRETS_DIR/audit_public_key")"
export REGCASE_AUDIT_PUBLIC_KEY
while IFS= read -r kv; do export "${kv?}"; done < <(pick_backing_images)

dc() { compose "${COMPOSE_TEST[@]}" "$@"; }
cleanup() {
  local rc=$?
  in_main_shell || exit "$rc"
  if [[ $rc -ne 0 ]]; then
    warn "failed: diagnostics follow"
    dc ps -a || true
    dc logs --no-color --tail 80 || true
  fi
  if [[ $keep -eq 1 ]]; then
    log "--keep: project regcase-test-$REGCASE_TEST_ID left running; secrets in $REGCASE_SECRETS_DIR"
  else
    dc down -v --remove-orphans --timeout 30 >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT

log "project regcase-test-$REGCASE_TEST_ID: up, waiting for the health gates"
dc up -d --wait --wait-timeout 240
token="$(dc run --rm --no-deps -T api token create --role admin --name integration 2>/dev/null)"
[[ "$token" == rct_* ]] || die "regcase token create returned no token"
E2E_TOKEN="$token" dc run --rm -T test-runner
