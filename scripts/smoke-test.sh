#!/usr/bin/env bash
# smoke-test.sh — non-mutating post-deploy smoke test of a running regcase through its proxy.
#
# Usage: scripts/smoke-test.sh [--url URL] [--insecure] [--expect-version V] [--retries N]
#
#   --url URL            base URL (default https://localhost, or $REGCASE_URL)
#   --insecure           accept a self-signed certificate (development, tests)
#   --expect-version V   fail unless GET /version reports version V
#   --retries N          retry the readiness check N times, 2 s apart (default 30)
# Checks: /health/live and /health/ready answer 200; /version is JSON with version and commit;
# /openapi.json is an OpenAPI 3.1 document; /metrics is NOT reachable from outside; an unknown
# route is an RFC 9457 problem; the TLS response carries HSTS. Creates nothing: safe on production.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

url="${REGCASE_URL:-https://localhost}" insecure=() expect="" retries=30
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --url) url="${2:?}"; shift ;;
    --insecure) insecure=(-k) ;;
    --expect-version) expect="${2:?}"; shift ;;
    --retries) retries="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need curl
url="${url%/}"
tmp="$(mktemp -d)"; trap 'in_main_shell && rm -rf "$tmp"' EXIT
ok=0 bad=0
c() { curl -sS "${insecure[@]}" --max-time 10 -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "$@" 2>"$tmp/err" || echo 000; }
result() { if [[ "$2" == 0 ]]; then ok=$((ok + 1)); echo "ok   $1"; else bad=$((bad + 1)); echo "FAIL $1${3:+: $3}"; fi; }

code=000
for ((i = 0; i < retries; i++)); do
  code="$(c "$url/health/ready")"
  [[ "$code" == 200 ]] && break
  sleep 2
done
result "GET /health/ready is 200" "$([[ $code == 200 ]]; echo $?)" "last status $code $(cat "$tmp/err")"
code="$(c "$url/health/live")"
result "GET /health/live is 200" "$([[ $code == 200 ]]; echo $?)" "status $code"
code="$(c "$url/version")"
ver="$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' "$tmp/body")"
result "GET /version names the version ($ver)" "$([[ $code == 200 && -n $ver ]] && grep -q '"commit"' "$tmp/body"; echo $?)" "status $code"
if [[ -n "$expect" ]]; then
  result "running version is $expect" "$([[ $ver == "$expect" ]]; echo $?)" "got $ver"
fi
if [[ "$url" == https://* ]]; then
  result "HSTS header present" "$(grep -qi '^strict-transport-security:' "$tmp/headers"; echo $?)"
fi
code="$(c "$url/openapi.json")"
result "GET /openapi.json is OpenAPI 3.1" "$([[ $code == 200 ]] && grep -q '"openapi":"3\.1' "$tmp/body"; echo $?)" "status $code"
code="$(c "$url/metrics")"
result "/metrics is not exposed at the edge" "$([[ $code != 200 ]]; echo $?)" "status $code"
code="$(c "$url/v1/no-such-resource")"
result "unknown route is a problem+json 404" "$([[ $code == 404 ]] && grep -qi '^content-type: application/problem+json' "$tmp/headers"; echo $?)" "status $code"
echo "smoke: $ok passed, $bad failed"
[[ $bad -eq 0 ]]
