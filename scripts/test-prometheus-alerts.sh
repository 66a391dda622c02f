#!/usr/bin/env bash
# test-prometheus-alerts.sh — Prometheus for real in the observability profile: the test stack
# (compose.yml + compose.test.yml) plus compose.observability.yml's prometheus service, scraping
# api and worker; Redis is stopped and the outbox alert must go to firing in Prometheus' own
# /api/v1/alerts, then back to inactive once Redis is back.
#
# Usage: scripts/test-prometheus-alerts.sh [--image REF] [--keep] [--max-seconds S]
#
#   --image REF       regcase image to run (default: IMAGE_REF of dist/image.env; built when missing)
#   --keep            leave the project running (its name is printed)
#   --max-seconds S   hard bound on the whole run (default 600)
# Images: PROMETHEUS_IMAGE when it exists locally, else the stand-in built from Debian's
# `prometheus` package (scripts/build-standin-images.sh --prometheus); backing images as in
# scripts/test-platform.sh (upstream when present, else the stand-ins).
#
# Test overrides (the only differences from production, in a temporary override file):
#   prometheus.yml      scrape_interval, scrape_timeout and evaluation_interval 2 s (15/5/15 s);
#   regcase.rules.yml   the real rules file with RegcaseOutboxBacklog's `for: 10m` -> 10 s and its
#                       oldest-event threshold 300 s -> $ALERT_AGE_S s (default 15), so that the
#                       test takes about a minute and not a quarter of an hour, and
#                       RegcaseStreamUnreachable's `for: 2m` -> 10 s. The expressions are
#                       otherwise the ones production evaluates.
# Checks: prometheus healthy (the compose healthcheck), both regcase-api and regcase-worker
# targets up, the alert inactive before; Redis stopped + public reports submitted (201: intake
# never needs Redis) -> RegcaseStreamUnreachable firing, and the outbox alert pending then firing
# in /api/v1/alerts (times measured); Redis started -> the outbox drains and both alerts are gone
# from /api/v1/alerts, the outbox rule inactive (time measured). Prints "ok"/"FAIL" per check and "N passed, N failed"; exit 1 on a failure,
# 2 when no engine/Compose (the reason is printed as "SKIP: ...").
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/checks.sh
source "$REPO_ROOT/scripts/lib/checks.sh"

image="" keep=0 max_seconds=600
ALERT_AGE_S="${ALERT_AGE_S:-15}"
ALERT=RegcaseOutboxBacklog ALERT2=RegcaseStreamUnreachable
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --image) image="${2:?--image needs a value}"; shift ;;
    --keep) keep=1 ;;
    --max-seconds) max_seconds="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
cd "$REPO_ROOT"
command -v docker >/dev/null 2>&1 || { echo "SKIP: no docker CLI"; exit 2; }
docker info >/dev/null 2>&1 || { echo "SKIP: docker info failed (no engine)"; exit 2; }
have_compose_v2 || "$REPO_ROOT/scripts/install-platform-tools.sh" compose >/dev/null 2>&1 || true
have_compose_v2 || { echo "SKIP: Compose $COMPOSE_VERSION cannot be installed (scripts/install-platform-tools.sh compose failed)"; exit 2; }

T0=$SECONDS
WORK="$(mktemp -d /tmp/regcase-prom.XXXXXX)"
chmod 0700 "$WORK"
TEST_ID="prom$(date +%s)$$"

( trap 'kill $sp 2>/dev/null; exit 0' TERM; sleep "$max_seconds" & sp=$!; wait $sp
  echo "test-prometheus-alerts: ${max_seconds}s bound reached, stopping" >&2; kill -TERM $$ 2>/dev/null ) &
WATCHDOG=$!

# --- images ---------------------------------------------------------------------------------------
if [[ -z "$image" ]]; then
  image="$(sed -n 's/^IMAGE_REF=//p' dist/image.env 2>/dev/null || true)"
  if [[ -z "$image" ]] || ! docker image inspect "$image" >/dev/null 2>&1; then
    scripts/build-image.sh --quiet >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; kill "$WATCHDOG"; die "build-image.sh failed"; }
    image="$(sed -n 's/^IMAGE_REF=//p' dist/image.env)"
  fi
fi
docker image inspect "$image" >/dev/null 2>&1 || { kill "$WATCHDOG"; die "image $image not found locally"; }
prom="${PROMETHEUS_IMAGE:-}"
if [[ -z "$prom" ]] || ! docker image inspect "$prom" >/dev/null 2>&1; then
  scripts/build-standin-images.sh --prometheus >"$WORK/standin.log" 2>&1 || { tail -20 "$WORK/standin.log"; kill "$WATCHDOG"; die "building the Prometheus stand-in failed"; }
  prom="$STANDIN_PROMETHEUS_IMAGE"
fi
mapfile -t BACKING < <(pick_backing_images 2>"$WORK/backing.log") || { cat "$WORK/backing.log"; kill "$WATCHDOG"; die "no backing images"; }
echo "     regcase $image; prometheus $prom; ${BACKING[*]}"

# --- the test overrides ----------------------------------------------------------------------------
sed -e 's/^\(  scrape_interval:\) 15s/\1 2s/' -e 's/^\(  scrape_timeout:\) .*/\1 2s/' -e 's/^\(  evaluation_interval:\) 15s/\1 2s/' \
  deploy/prometheus/prometheus.yml >"$WORK/prometheus.yml"
awk -v a="$ALERT" -v b="$ALERT2" -v age="$ALERT_AGE_S" '
  /- alert:/ { inblk = ($3 == a); inb = ($3 == b) }
  inblk && /expr:/ { sub(/> 300/, "> " age) }
  (inblk || inb) && /for:/ { sub(/for: .*/, "for: 10s") }
  { print }' deploy/prometheus/rules/regcase.rules.yml >"$WORK/regcase.rules.yml"
[[ "$(grep -c 'for: 10s' "$WORK/regcase.rules.yml")" -eq 2 ]] && grep -q "oldest_event_age_seconds) > $ALERT_AGE_S" "$WORK/regcase.rules.yml" || { kill "$WATCHDOG"; die "the rules override did not apply (has $ALERT changed?)"; }
cat >"$WORK/override.yml" <<YAML
# test-prometheus-alerts.sh: short intervals and a short \`for:\` (see the script's header)
configs:
  prometheus_yml:
    file: $WORK/prometheus.yml
  prometheus_rules:
    file: $WORK/regcase.rules.yml
YAML
if command -v promtool >/dev/null 2>&1; then
  promtool check rules "$WORK/regcase.rules.yml" >/dev/null && pass "promtool check rules on the test override" || failed "promtool check rules on the override"
fi

scripts/gen-secrets.sh --dir "$WORK/secrets" >"$WORK/secrets.log" 2>&1 || { cat "$WORK/secrets.log"; kill "$WATCHDOG"; die "gen-secrets.sh failed"; }
E2E="$REPO_ROOT/bin/regcase-e2e"
STACK_ENV=(REGCASE_TEST_ID="$TEST_ID" REGCASE_IMAGE="$image" REGCASE_E2E_BIN="$E2E" PROMETHEUS_IMAGE="$prom"
           REGCASE_SECRETS_DIR="$WORK/secrets" REGCASE_AUDIT_PUBLIC_KEY="$(cat "$WORK/secrets/audit_public_key")" "${BACKING[@]}")
dc() {
  env -i PATH="$PATH" HOME="$HOME" ${DOCKER_CONFIG:+DOCKER_CONFIG="$DOCKER_CONFIG"} ${DOCKER_HOST:+DOCKER_HOST="$DOCKER_HOST"} \
    COMPOSE_DISABLE_ENV_FILE=1 "${STACK_ENV[@]}" \
    docker compose -f compose.yml -f compose.test.yml -f compose.observability.yml -f "$WORK/override.yml" "$@"
}
cleanup() {
  local rc=$?
  in_main_shell || exit "$rc"
  kill "$WATCHDOG" 2>/dev/null || true
  if [[ $keep -eq 1 ]]; then
    echo "--keep: project regcase-test-$TEST_ID left running (files in $WORK)"
  else
    dc down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# prom PATH: GET PATH on Prometheus, from inside its own container (no host port is published)
prom_get() { dc exec -T prometheus curl -fsS --max-time 5 "http://127.0.0.1:9090$1"; }
# alert_state [NAME]: the alert's state in /api/v1/alerts (pending/firing), or "absent"
alert_state() {
  local j; j="$(prom_get /api/v1/alerts 2>/dev/null)" || { echo error; return; }
  # one alert object per {"labels":{...,"alertname":"X",...},"annotations":{...},"state":"S",...}
  local s
  s="$(tr -d '\n' <<<"$j" | sed 's/{"labels":/\n&/g' | grep -F "\"alertname\":\"${1:-$ALERT}\"" | grep -o '"state":"[a-z]*"' | head -1 | cut -d'"' -f4)"
  echo "${s:-absent}"
}
rule_state() { # [NAME]: the alerting rule's own state in /api/v1/rules (inactive/pending/firing)
  prom_get '/api/v1/rules?type=alert' 2>/dev/null | tr -d '\n' | sed 's/{"state":/\n&/g' \
    | grep -F "\"name\":\"${1:-$ALERT}\"" | grep -o '^{"state":"[a-z]*"' | cut -d'"' -f4
}

# --- up ---------------------------------------------------------------------------------------------
t=$(now_ms)
if dc up -d --wait --wait-timeout 240 api worker prometheus >"$WORK/up.log" 2>&1; then
  pass "test stack + prometheus ($prom) up and healthy ($(( $(now_ms) - t )) ms)"
else
  tail -20 "$WORK/up.log"; dc ps -a; dc logs --no-color --tail 20 prometheus worker; failed "compose up"; exit 1
fi
up=""
for _ in $(seq 1 60); do
  tg="$(prom_get /api/v1/targets 2>/dev/null | tr -d '\n' || true)"
  a="$(grep -o '"scrapePool":"regcase-api"[^}]*"health":"up"' <<<"$tg" | wc -l || true)"
  w="$(grep -o '"scrapePool":"regcase-worker"[^}]*"health":"up"' <<<"$tg" | wc -l || true)"
  if [[ "$a" -ge 1 && "$w" -ge 1 ]]; then up="api $a, worker $w"; break; fi
  sleep 1
done
[[ -n "$up" ]] && pass "Prometheus scrapes the stack: targets up ($up)" || { failed "targets not up: $(grep -o '"scrapePool":"[^"]*"[^}]*"health":"[a-z]*"' <<<"$tg" | head -4)"; }
v="$(prom_get '/api/v1/query?query=regcase_outbox_backlog_events' | grep -o '"value":\[[^]]*\]' | head -1 || true)"
[[ -n "$v" ]] && pass "worker exports regcase_outbox_backlog_events: $v" || failed "no regcase_outbox_backlog_events series"
st=""
for _ in $(seq 1 20); do st="$(rule_state)"; [[ -n "$st" ]] && break; sleep 1; done
[[ "$st" == inactive && "$(alert_state)" == absent ]] && pass "$ALERT inactive before the outage" || failed "$ALERT is '$st' before the outage"

# --- Redis down -------------------------------------------------------------------------------------
t=$(now_ms)
dc stop -t 10 redis >/dev/null 2>&1
acc=0
for i in 1 2 3 4 5; do
  code="$(dc exec -T prometheus curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST http://api:8080/v1/reports \
    -H 'Content-Type: application/json' -H "Idempotency-Key: prom-$TEST_ID-$i" \
    -d "{\"channel\":\"web\",\"category\":\"food_safety\",\"subject\":{\"name\":\"Alert drill $i\",\"registry_id\":\"AD-$TEST_ID-$i\"},\"description\":\"outbox alert drill\",\"location\":\"1 Test Street\",\"reporter\":{\"name\":\"Drill\",\"email\":\"drill-$i@example.org\"}}" || true)"
  [[ "$code" == 201 ]] && acc=$((acc + 1))
done
[[ $acc -eq 5 ]] && pass "Redis stopped; 5 of 5 reports accepted (201) into the outbox" || failed "Redis stopped; only $acc of 5 reports accepted"
seen_pending=0 fire_ms="" fire2_ms=""
for _ in $(seq 1 150); do
  s="$(alert_state)"
  [[ "$s" == pending ]] && seen_pending=1
  if [[ -z "$fire2_ms" && "$(alert_state "$ALERT2")" == firing ]]; then fire2_ms=$(( $(now_ms) - t )); fi
  if [[ "$s" == firing ]]; then fire_ms=$(( $(now_ms) - t )); break; fi
  sleep 1
done
if [[ -n "$fire2_ms" || "$(alert_state "$ALERT2")" == firing ]]; then
  pass "$ALERT2 firing in /api/v1/alerts ${fire2_ms:-<$(( $(now_ms) - t ))} ms after Redis stopped (regcase_stream_up 0, for 10s)"
else
  failed "$ALERT2 not firing while Redis is down (state $(alert_state "$ALERT2"); $(prom_get '/api/v1/query?query=regcase_stream_up' | grep -o '"value":\[[^]]*\]' || true))"
fi
if [[ -n "$fire_ms" ]]; then
  pass "$ALERT firing in /api/v1/alerts $fire_ms ms after Redis stopped (pending seen: $seen_pending; threshold ${ALERT_AGE_S}s + for 10s + 2 s scrape/eval)"
  echo "PROM_ALERT_FIRING_MS=$fire_ms  # redis stopped -> $ALERT firing in /api/v1/alerts (test override: age > ${ALERT_AGE_S}s, for 10s, 2 s intervals)"
else
  failed "$ALERT not firing within 150 s (state $(alert_state); backlog $(prom_get '/api/v1/query?query=regcase_outbox_oldest_event_age_seconds' | grep -o '"value":\[[^]]*\]' || true))"
fi

# --- Redis back -------------------------------------------------------------------------------------
t=$(now_ms)
dc start redis >/dev/null 2>&1
clear_ms=""
for _ in $(seq 1 150); do
  if [[ "$(alert_state)" == absent && "$(rule_state)" == inactive && "$(alert_state "$ALERT2")" == absent ]]; then clear_ms=$(( $(now_ms) - t )); break; fi
  sleep 1
done
if [[ -n "$clear_ms" ]]; then
  pass "Redis back: $ALERT and $ALERT2 gone from /api/v1/alerts, $ALERT's rule inactive, after $clear_ms ms"
  echo "PROM_ALERT_RESOLVED_MS=$clear_ms  # redis started -> outbox drained, $ALERT inactive"
else
  failed "$ALERT still '$(alert_state)' 150 s after Redis came back"
fi
b="$(prom_get '/api/v1/query?query=regcase_outbox_backlog_events' | grep -o '"value":\[[^]]*\]' | head -1 || true)"
[[ "$b" == *'"0"]' ]] && pass "outbox drained: regcase_outbox_backlog_events $b" || failed "outbox not drained: $b"

echo "test-prometheus-alerts took $((SECONDS - T0))s"
checks_summary
[[ $FAIL -eq 0 ]]
