# shellcheck shell=bash
# Shared parts of the drill scripts (drill-swarm.sh, drill-cluster.sh): checks, figures, the
# bounded load loop, the report. Sourced after lib/common.sh and lib/checks.sh (pass, failed,
# now_ms); needs OUT (the run's directory), and for the load loop URL (the proxy) and TOKEN (a
# supervisor token).

# drill_start KIND MAX_SECONDS (KIND: swarm, cluster): the run's directories — OUT = dist/drills-KIND/<UTC time>,
# report (unless given) in it, WORK a private temporary directory, REGCASE_STATE_DIR in WORK —,
# the figures, the checks file (every pass and failure is also written there), and the bound of
# the whole drill: after MAX_SECONDS the watchdog (WATCHDOG, for the script's cleanup) sends the
# script SIGTERM.
drill_start() {
  T0=$SECONDS
  ts="$(date -u +%Y%m%dT%H%M%SZ)"
  OUT="$REPO_ROOT/dist/drills-$1/$ts"
  mkdir -p "$OUT"
  [[ -n "$report" ]] || report="$OUT/report.md"
  WORK="$(mktemp -d "/tmp/regcase-drill-$1.XXXXXX")"
  chmod 0700 "$WORK"
  export REGCASE_STATE_DIR="$WORK/state"
  FIG=()
  CHECKS_MD="$OUT/checks.md"
  : >"$CHECKS_MD"
  ( trap 'kill $sp 2>/dev/null; exit 0' TERM; sleep "$2" & sp=$!; wait $sp
    echo "drill-$1: ${2}s bound reached, stopping" >&2; kill -TERM $$ 2>/dev/null ) &
  # shellcheck disable=SC2034 # read by the drill scripts' cleanup
  WATCHDOG=$!
}
figure() { FIG+=("$1|$2|$3"); printf '%s=%s  # %s\n' "$1" "$2" "$3" | tee -a "$OUT/figures.env"; }
section() { printf '\n== %s (t+%ds)\n' "$1" "$((SECONDS - T0))"; }

# drill_stack_env IMAGE: writes ENVF, the drill's stack env file, from
# deploy/swarm/stack.env.example: IMAGE as release "$version", the stand-in images px, pg, rd,
# the generated audit public key (WORK/secrets), 2 api and 2 worker replicas, a 10 s update
# monitor, the ports https_port/http_port, the proxy's replicas/publish/endpoint/update order
# (proxies, publish, endpoint, porder) and secret names under SECRET_PREFIX.
# shellcheck disable=SC2154 # the drill script's variables named above
drill_stack_env() {
  sed -e "s|^REGCASE_IMAGE=.*|REGCASE_IMAGE=$1|" -e "s|^REGCASE_RELEASE=.*|REGCASE_RELEASE=$version|" \
      -e "s|^PROXY_IMAGE=.*|PROXY_IMAGE=$px|" -e "s|^POSTGRES_IMAGE=.*|POSTGRES_IMAGE=$pg|" -e "s|^REDIS_IMAGE=.*|REDIS_IMAGE=$rd|" \
      -e "s|^REGCASE_AUDIT_PUBLIC_KEY=.*|REGCASE_AUDIT_PUBLIC_KEY=$(cat "$WORK/secrets/audit_public_key")|" \
      -e "s|^REGCASE_API_REPLICAS=.*|REGCASE_API_REPLICAS=2|" -e "s|^REGCASE_WORKER_REPLICAS=.*|REGCASE_WORKER_REPLICAS=2|" \
      -e "s|^REGCASE_PROXY_REPLICAS=.*|REGCASE_PROXY_REPLICAS=$proxies|" -e "s|^REGCASE_UPDATE_MONITOR=.*|REGCASE_UPDATE_MONITOR=10s|" \
      -e "s|^REGCASE_HTTPS_PORT=.*|REGCASE_HTTPS_PORT=$https_port|" -e "s|^REGCASE_HTTP_PORT=.*|REGCASE_HTTP_PORT=$http_port|" \
      -e "s|^REGCASE_PUBLISH_MODE=.*|REGCASE_PUBLISH_MODE=$publish|" -e "s|^REGCASE_ENDPOINT_MODE=.*|REGCASE_ENDPOINT_MODE=$endpoint|" \
      -e "s|^REGCASE_PROXY_UPDATE_ORDER=.*|REGCASE_PROXY_UPDATE_ORDER=$porder|" \
      -e "s|=regcase_\(.*\)_v1$|=${SECRET_PREFIX}_\1_v1|" deploy/swarm/stack.env.example >"$ENVF"
}

# drill_build_tools: the load client and the policy checker (tools/policy; static builds).
drill_build_tools() {
  [[ -x "$REPO_ROOT/bin/regcase-e2e" && -x "$REPO_ROOT/bin/regcase-policy" ]] && return 0
  mkdir -p "$REPO_ROOT/bin"
  (cd "$REPO_ROOT/tools/policy" && CGO_ENABLED=0 go build -trimpath -o ../../bin/regcase-e2e ./cmd/regcase-e2e \
    && CGO_ENABLED=0 go build -trimpath -o ../../bin/regcase-policy ./cmd/regcase-policy)
}

# load_start LABEL MAX_SECONDS: a bounded load loop in the background through the proxy on
# URL: back-to-back 5 s runs of `regcase-e2e load` (4 clients, a new TLS connection per
# request, GET /v1/cases with a supervisor token and every 10th a POST /v1/reports; readiness
# ignored on purpose: every failed request counts) until load_result or MAX_SECONDS.
load_start() {
  rm -f "$OUT/load-$1.stop" "$OUT/load-$1.jsonl"
  (
    end=$((SECONDS + $2))
    while [[ ! -e "$OUT/load-$1.stop" ]] && ((SECONDS < end)); do
      bin/regcase-e2e load --url "$URL" --token "$TOKEN" --duration 5s --concurrency 4 --respect-ready=false \
        >>"$OUT/load-$1.jsonl" 2>>"$OUT/load-$1.err" || true
    done
  ) &
  LOAD_PID=$!
}
# load_result LABEL: stops the loop, sums the runs; sets LOAD_OK and LOAD_FAILED (failed + refused).
load_result() {
  touch "$OUT/load-$1.stop"
  wait "$LOAD_PID" 2>/dev/null || true
  local sum
  sum="$(awk '{ for (k in a) delete a[k]
    n = split($0, f, /[,{}]/)
    for (i = 1; i <= n; i++) { split(f[i], kv, ":"); gsub(/"/, "", kv[1]); a[kv[1]] = kv[2] }
    ok += a["ok"]; failed += a["failed"]; refused += a["refused"]; secs += a["seconds"]; runs++ }
    END { printf "%d %d %d %.1f %d", ok, failed, refused, secs, runs }' "$OUT/load-$1.jsonl" 2>/dev/null)"
  read -r LOAD_OK f r secs runs <<<"${sum:-0 0 0 0 0}"
  LOAD_FAILED=$((f + r))
  [[ "${runs:-0}" -gt 0 ]] || LOAD_FAILED=999999
  echo "     load $1: $LOAD_OK ok, $f failed, $r refused in ${secs}s ($runs runs of 5 s)"
  grep -h '"samples":\[' "$OUT/load-$1.jsonl" 2>/dev/null | grep -o '"samples":\[[^]]*\]' | head -3 | sed 's/^/     /' || true
}
update_window() { # SVC -> milliseconds of its last update, UpdateStatus.StartedAt -> CompletedAt
  local s c
  s="$(docker service inspect -f '{{.UpdateStatus.StartedAt.UnixNano}}' "$1")"
  c="$(docker service inspect -f '{{.UpdateStatus.CompletedAt.UnixNano}}' "$1")"
  echo "$(( (c - s) / 1000000 ))"
}

# drill_report FILE INTRO_LINE...: appends the intro lines, the figures table and the checks.
drill_report() {
  local file="$1" f k v h; shift
  {
    printf '%s\n' "$@"
    echo
    echo "| figure | value | how |"
    echo "|---|---|---|"
    for f in "${FIG[@]}"; do IFS='|' read -r k v h <<<"$f"; echo "| $k | $v | $h |"; done
    echo
    echo "## Checks"
    cat "$OUT/checks.md"
    echo
    checks_summary
  } >>"$file"
}
