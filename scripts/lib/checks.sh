# shellcheck shell=bash
# Checks and their counters, shared by the test and drill scripts (test-platform,
# test-orchestrators, test-prometheus-alerts, and drill-swarm / drill-cluster through lib/drill.sh).
# Sourced after lib/common.sh (colours), never executed.
#
#   pass MESSAGE            one "ok   MESSAGE" line, PASS+1
#   failed NAME [LOG]       one "FAIL NAME" line and the last 25 lines of LOG, FAIL+1, NAME kept
#                           in FAILED_NAMES
#   skip NAME REASON        one "skip NAME: REASON" line, SKIPPED+1
#   check [--timeout S] NAME CMD...
#                           CMD (a command or a function) in a subshell, bounded in time
#                           (default CHECK_TIMEOUT, else 300 s), its output in a log under WORK
#                           that is shown when it fails; pass or failed with its duration
#   add_summary NAME LOG RC adds the "N passed, N failed" last line of a sub-script's LOG to the
#                           counters (a sub-script that exited RC without that line fails)
#   checks_summary          the last line every script prints: "N passed, N failed"
#   scripts_sane NAME...    scripts/NAME.sh exists, is executable, parses, runs in strict mode and
#                           answers --help (run from the repository root)
#   now_ms                  milliseconds since the epoch
#
# CHECKS_MD: when set, every pass and failure is also appended to that Markdown file (the drills'
# checks.md).
# shellcheck disable=SC2154 # the colours (_c_*) come from lib/common.sh

PASS=0 FAIL=0 SKIPPED=0
FAILED_NAMES=()

now_ms() { date +%s%3N; }

# stop_execd PID COMM: TERM and reap a background child, but not before it runs COMM (read from
# /proc, no fork): a bash fork signalled before its exec runs the parent's EXIT trap.
stop_execd() {
  local c
  if [[ -d /proc/$$ ]]; then
    while read -r c 2>/dev/null </proc/"$1"/comm && [[ "$c" != "$2" ]]; do :; done
  fi
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

pass() {
  PASS=$((PASS + 1))
  printf '%sok%s   %s\n' "$_c_grn" "$_c_off" "$1"
  [[ -z "${CHECKS_MD:-}" ]] || printf -- '- ok: %s\n' "$1" >>"$CHECKS_MD"
}

failed() {
  FAIL=$((FAIL + 1)); FAILED_NAMES+=("$1")
  printf '%sFAIL%s %s\n' "$_c_red" "$_c_off" "$1"
  [[ -z "${CHECKS_MD:-}" ]] || printf -- '- **FAIL**: %s\n' "$1" >>"$CHECKS_MD"
  if [[ -n "${2:-}" && -s "$2" ]]; then tail -n 25 "$2" | sed 's/^/     | /'; fi
}

skip() { SKIPPED=$((SKIPPED + 1)); printf 'skip %s: %s\n' "$1" "$2"; }

check() {
  local secs="${CHECK_TIMEOUT:-300}"
  if [[ "$1" == --timeout ]]; then secs="$2"; shift 2; fi
  local name="$1"; shift
  local log="${WORK:?WORK is not set}/check.$((PASS + FAIL + SKIPPED)).log" t rc=0 pid timer done=""
  t=$(now_ms)
  ( trap - EXIT; "$@" ) >"$log" 2>&1 &
  pid=$!
  # The time limit is a plain `sleep` raced against the check with `wait -n`. A bash fork that is
  # signalled before it has exec'd runs the script's EXIT trap (bash 5.2: that removed WORK under
  # the remaining checks), so the timer is stopped only once it is `sleep` (stop_execd).
  sleep "$secs" & timer=$!
  wait -n -p done "$pid" "$timer" || rc=$?
  if [[ "$done" == "$timer" ]]; then
    echo "TIMEOUT after ${secs}s" >>"$log"
    pkill -TERM -P "$pid" 2>/dev/null || true; kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rc=124
  else
    stop_execd "$timer" sleep
  fi
  if [[ $rc -eq 0 ]]; then
    pass "$name ($(( $(now_ms) - t )) ms)"
  else
    failed "$name" "$log"
    return 1
  fi
}

add_summary() {
  local name="$1" log="$2" rc="$3" last p f
  last="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)"
  if [[ -z "$last" ]]; then
    failed "scripts/$name.sh (exit $rc, no summary line)" "$log"
    return
  fi
  p="${last%% passed*}"; f="${last#*, }"; f="${f%% failed*}"
  PASS=$((PASS + p)); FAIL=$((FAIL + f))
  [[ $f -eq 0 ]] || FAILED_NAMES+=("$name ($f)")
  if [[ $rc -ne 0 && $f -eq 0 ]]; then failed "scripts/$name.sh exited $rc"; fi
}

checks_summary() { echo "$PASS passed, $FAIL failed"; }

scripts_sane() {
  local s rc=0
  for s in "$@"; do
    s="scripts/$s.sh"
    [[ -x "$s" ]] || { echo "missing or not executable: $s"; rc=1; continue; }
    bash -n "$s" || { echo "syntax: $s"; rc=1; continue; }
    grep -q '^set -Eeuo pipefail' "$s" || { echo "no strict mode: $s"; rc=1; }
    "$s" --help >/dev/null 2>&1 || { echo "--help fails: $s"; rc=1; }
  done
  return $rc
}
