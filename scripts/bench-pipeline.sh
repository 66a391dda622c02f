#!/usr/bin/env bash
# scripts/bench-pipeline.sh — the event pipeline figures of BENCHMARKS.md, in
# one run on this machine: end-to-end latency from the API's commit to a
# webhook receiver, the highest sustained events/s with 1 and 2 workers, and
# the backlog when the receiver is slow, next to hardware references
# measured in the same run (pgbench running the intake's SQL; the same load
# generator POSTing straight to the same receiver).
#
# Everything runs on loopback: a throwaway PostgreSQL (scripts/pg-test-server.sh,
# fsync on as in scripts/bench.sh), a throwaway Redis (no RDB, AOF on), one
# `regcase api`, two `regcase worker`s, and scripts/bench/pipeline (load
# generator + receiver, one run per scenario). Every process it starts is
# stopped on exit.
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: scripts/bench-pipeline.sh [--help]

Environment (durations in seconds):
  LAT_RATES      latency scenarios, events/s with 2 workers   (default "200 1000")
  LAT_DURATION   seconds per latency scenario                 (default 60)
  RAMP_RATES     the ramp's steps, events/s; stops at the first step not sustained
                 (default "250 400 550 700 850 1000 1200 1500 2000 2500 3000")
  RAMP_STEP      seconds per ramp step                        (default 20)
  RAMP_WORKERS   worker counts to ramp                        (default "2 1")
  SLOW_DELAY     the slow receiver's delay per request        (default 200ms)
  SLOW_RATE      events/s against the slow receiver           (default 400)
  SLOW_DURATION  seconds of load against the slow receiver    (default 30)
  DRAIN_EVENTS   events queued with the workers stopped, then drained (default 20000)
  DRAIN_RATE     the intake rate that queues them, events/s    (default 1000)
  DRAIN_WORKERS  worker counts that drain it                   (default "1 2")
  REF_DURATION   seconds per hardware reference               (default 10)
  WORKER_ENV     extra environment for the workers, e.g. "REGCASE_DB_MAX_CONNS=40"
  OUT            markdown result file (default dist/bench-pipeline-<date>.md)
  KEEP=1         keep the work directory (logs, JSON of every scenario)
Needs: PostgreSQL server binaries, pgbench, redis-server (scripts/install-test-deps.sh), jq, Go.
Takes about 10 minutes with the defaults.
USAGE
}
[ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ] && { usage; exit 0; }
[ $# -gt 0 ] && { echo "bench-pipeline: unknown argument $1" >&2; usage >&2; exit 64; }

cd "$(dirname "$0")/.."
LAT_RATES=${LAT_RATES:-200 1000}
LAT_DURATION=${LAT_DURATION:-60}
RAMP_RATES=${RAMP_RATES:-250 400 550 700 850 1000 1200 1500 2000 2500 3000}
RAMP_STEP=${RAMP_STEP:-20}
RAMP_WORKERS=${RAMP_WORKERS:-2 1}
SLOW_DELAY=${SLOW_DELAY:-200ms}
SLOW_RATE=${SLOW_RATE:-400}
SLOW_DURATION=${SLOW_DURATION:-30}
DRAIN_EVENTS=${DRAIN_EVENTS:-20000}
DRAIN_RATE=${DRAIN_RATE:-1000}
DRAIN_WORKERS=${DRAIN_WORKERS:-1 2}
REF_DURATION=${REF_DURATION:-10}
WORKER_ENV=${WORKER_ENV:-}
mkdir -p dist
OUT=${OUT:-dist/bench-pipeline-$(date -u +%Y%m%dT%H%M%SZ).md}
JSON_DIR=${OUT%.md}-json
command -v pgbench >/dev/null && command -v redis-server >/dev/null || scripts/install-test-deps.sh >/dev/null
command -v jq >/dev/null || { echo "bench-pipeline: jq is needed (apt-get install jq)" >&2; exit 1; }

API=127.0.0.1:18181
WORKER_ADDRS=(127.0.0.1:18182 127.0.0.1:18183)
RECEIVER=127.0.0.1:18190
REDIS_PORT=18179
for port in 18181 18182 18183 18190 18191 $REDIS_PORT; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "bench-pipeline: port $port on 127.0.0.1 is in use (a previous run still alive?)" >&2
		exit 1
	fi
done

work=$(mktemp -d /tmp/regcase-bench-pipeline.XXXXXX)
chmod 755 "$work"
pids=()
worker_pids=()
cleanup() {
	[[ $BASHPID == "$$" ]] || return 0 # a killed subshell runs the inherited EXIT trap (bash 5.2)
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -f "$work/redis/redis.pid" ]; then kill "$(cat "$work/redis/redis.pid")" 2>/dev/null || true; fi
	scripts/pg-test-server.sh stop "$work/pg" >/dev/null 2>&1 || true
	[ -n "${KEEP:-}" ] && echo "work directory kept: $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '%s\n' "$*" | tee -a "$OUT"; }
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

log "building"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/regcase/regcase/internal/buildinfo.Version=bench" -o "$work/regcase" ./cmd/regcase
go build -o "$work/pipebench" ./scripts/bench/pipeline

wait_ready() { # URL
	for _ in $(seq 1 1000); do
		curl -fsS -o /dev/null "$1/health/ready" 2>/dev/null && return 0
		sleep 0.02
	done
	echo "bench-pipeline: $1 never became ready" >&2
	return 1
}

export REGCASE_DATA_KEY LOG_FORMAT=json LOG_LEVEL=info REGCASE_ENV=development
REGCASE_DATA_KEY=$(head -c32 /dev/urandom | base64)
eval "$("$work/regcase" audit keygen | sed -n 's/^REGCASE_/export REGCASE_/p')"
export REGCASE_INTAKE_RATE=1000000 REGCASE_INTAKE_BURST=1000000 REGCASE_WEBHOOK_ALLOW_NETS=127.0.0.0/8

# --------------------------------------------------------------- PostgreSQL
log "starting PostgreSQL and Redis on loopback"
super=$(scripts/pg-test-server.sh start "$work/pg" | tail -n1)
# fsync on as in scripts/bench.sh; pg_stat_statements tells where the database's time goes.
psql "$super" -qAtc "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET max_connections = 200" \
	-c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
scripts/pg-test-server.sh stop "$work/pg" >/dev/null 2>&1
super=$(scripts/pg-test-server.sh start "$work/pg" | tail -n1)
psql "$super" -qAt >/dev/null <<'SQL'
CREATE ROLE regcase_owner LOGIN CREATEROLE PASSWORD 'owner';
CREATE DATABASE regcase_bench OWNER regcase_owner;
SQL
owner_url=${super/postgres@/regcase_owner:owner@}
owner_url=${owner_url/\/postgres\?/\/regcase_bench?}
super_db=${super/\/postgres\?/\/regcase_bench?}
DATABASE_URL=$owner_url "$work/regcase" migrate 2>>"$work/migrate.log"
psql "$super_db" -qAtc "CREATE ROLE regcase_api LOGIN PASSWORD 'api' IN ROLE regcase_app" >/dev/null
app_url=${owner_url/regcase_owner:owner@/regcase_api:api@}
pg_pid=$(head -n1 "$work/pg/data/postmaster.pid")

# -------------------------------------------------------------------- Redis
mkdir -p "$work/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly yes --dir "$work/redis" \
	--daemonize yes --pidfile "$work/redis/redis.pid" --logfile "$work/redis/redis.log"
for _ in $(seq 1 100); do [ -s "$work/redis/redis.pid" ] && redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis_pid=$(cat "$work/redis/redis.pid")
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0

# ------------------------------------------------------------ the references
{
	echo "# regcase event pipeline benchmark, run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/{print $2}') GiB;"
	echo "$(go version | cut -d' ' -f3); PostgreSQL $(pgbench --version | awk '{print $3}') (fsync on); Redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') (AOF on)."
	echo "The load generator, the receiver, the API, the workers, PostgreSQL and Redis share these $(nproc) cores."
	echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "Command: \`LAT_RATES=\"$LAT_RATES\" LAT_DURATION=$LAT_DURATION RAMP_RATES=\"$RAMP_RATES\" RAMP_STEP=$RAMP_STEP RAMP_WORKERS=\"$RAMP_WORKERS\" SLOW_DELAY=$SLOW_DELAY SLOW_RATE=$SLOW_RATE SLOW_DURATION=$SLOW_DURATION DRAIN_EVENTS=$DRAIN_EVENTS DRAIN_RATE=$DRAIN_RATE DRAIN_WORKERS=\"$DRAIN_WORKERS\" REF_DURATION=$REF_DURATION${WORKER_ENV:+ WORKER_ENV=\"$WORKER_ENV\"} scripts/bench-pipeline.sh\`"
	echo
} >"$OUT"

log "reference: pgbench, the intake's SQL, 16 clients, ${REF_DURATION}s"
pgbench -n -M prepared -c 16 -j 2 -T "$REF_DURATION" -f scripts/bench/intake.sql "$super_db" >"$work/pgbench.txt" 2>&1 ||
	{ echo "bench-pipeline: pgbench failed:" >&2; tail -5 "$work/pgbench.txt" >&2; exit 1; }
ref_tps=$(awk '/^tps/{printf "%.0f", $3}' "$work/pgbench.txt")
# pgbench's rows are not events of this benchmark: out of the outbox before any worker runs.
psql "$super_db" -qAtc "DELETE FROM outbox WHERE request_id = 'c0ffee0123456789abcdef01'" >/dev/null

bare_rows=()
for r in $LAT_RATES; do
	log "reference: bare HTTP hop (generator → receiver, no regcase) at $r/s, ${REF_DURATION}s"
	"$work/pipebench" -mode bare -name "bare-$r" -rate "$r" -duration "${REF_DURATION}s" -listen 127.0.0.1:18191 \
		-json "$work/bare-$r.json" >>"$work/details.md"
	bare_rows+=("$(jq -r '"| same generator → same receiver, signed, no regcase | \(.config.rate) | \(.achieved_rate) | \(.latency_ms.p50) | \(.latency_ms.p99) | \(.latency_ms.max) |"' "$work/bare-$r.json")")
done

# ------------------------------------------------------------------ regcase
DATABASE_URL=$app_url REGCASE_HTTP_ADDR=$API REGCASE_DATA_DIR=$work/data "$work/regcase" api >"$work/api.out" 2>"$work/api.log" &
api_pid=$!
pids+=("$api_pid")
wait_ready "http://$API"

start_worker() { # INDEX (0 or 1)
	local i=$1
	# shellcheck disable=SC2086 # WORKER_ENV is a list of NAME=value words
	env $WORKER_ENV DATABASE_URL="$app_url" REGCASE_HTTP_ADDR="${WORKER_ADDRS[$i]}" REGCASE_DATA_DIR="$work/data" \
		"$work/regcase" worker >"$work/worker$((i + 1)).out" 2>>"$work/worker$((i + 1)).log" &
	worker_pids[$i]=$!
	pids+=("$!")
	wait_ready "http://${WORKER_ADDRS[$i]}"
}
stop_worker() { # INDEX
	local i=$1
	kill -TERM "${worker_pids[$i]}"
	wait "${worker_pids[$i]}" 2>/dev/null || true
	unset 'worker_pids[$i]'
}
start_worker 0
start_worker 1

token=$(DATABASE_URL=$app_url "$work/regcase" token create --role admin --name bench-pipeline 2>/dev/null)
hook=$(curl -fsS -XPOST "http://$API/v1/webhooks" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
	-d "{\"url\":\"http://$RECEIVER/hook\",\"event_types\":[\"gov.regcase.report.received\"],\"description\":\"bench-pipeline receiver\"}")
export PIPEBENCH_TOKEN=$token PIPEBENCH_SECRET
PIPEBENCH_SECRET=$(jq -r .secret <<<"$hook")

# pb NAME ARGS… runs one scenario against the workers running now; its JSON
# lands in $work/NAME.json, its summary in $work/details.md.
pb() {
	local name=$1 metrics="" procs="api=$api_pid,postgres=$pg_pid,redis=$redis_pid" n=0 i
	shift
	for i in "${!worker_pids[@]}"; do
		metrics+="${metrics:+,}http://${WORKER_ADDRS[$i]}/metrics"
		procs+=",worker$((i + 1))=${worker_pids[$i]}"
		n=$((n + 1))
	done
	log "scenario $name ($*), $n worker(s)"
	"$work/pipebench" -name "$name" -workers "$n" -api "http://$API" -listen "$RECEIVER" -metrics "$metrics" \
		-procs "$procs" -db "$super_db" -json "$work/$name.json" "$@" >>"$work/details.md"
	jq -r '"  → sent \(.load.accepted)/\(.load.attempted), delivered \(.delivered_unique), p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, backlog max \(.backlog.max) slope \(.backlog.slope_last_half_per_s)/s, sustained \(.sustained) \(.why_not_sustained // [] | join("; "))"' "$work/$name.json" >&2
}

# other_cores: CPU used during the load by processes that are not ours
# (other work on the machine), in cores.
other_cores='((.machine_busy * '"$(nproc)"') - ([.cpu_cores[]] | add)) | if . < 0 then 0 else . end | . * 100 | round / 100'

# ------------------------------------------------------------- scenarios
for r in $LAT_RATES; do
	pb "latency-$r" -rate "$r" -duration "${LAT_DURATION}s"
done
pb "slow-receiver" -rate "$SLOW_RATE" -duration "${SLOW_DURATION}s" -delay "$SLOW_DELAY" -wait 600s -max-drain 600s
ramp_names=()
best=()
for w in $RAMP_WORKERS; do
	while [ "${#worker_pids[@]}" -gt "$w" ]; do stop_worker $((${#worker_pids[@]} - 1)); done
	while [ "${#worker_pids[@]}" -lt "$w" ]; do start_worker "${#worker_pids[@]}"; done
	best[$w]=0
	for r in $RAMP_RATES; do
		pb "ramp-$w-$r" -rate "$r" -duration "${RAMP_STEP}s" -wait 120s
		ramp_names+=("ramp-$w-$r")
		if [ "$(jq -r .sustained "$work/ramp-$w-$r.json")" = true ]; then
			best[$w]=$r
		else
			break
		fi
	done
done

# drain W: queue DRAIN_EVENTS with every worker stopped, then start W workers
# and time how fast they deliver the backlog: the pipeline's throughput with
# no intake competing for the cores.
drain_names=()
drain() {
	local w=$1 name="drain-$1" metrics="" i secs
	while [ "${#worker_pids[@]}" -gt 0 ]; do stop_worker $((${#worker_pids[@]} - 1)); done
	for ((i = 0; i < w; i++)); do metrics+="${metrics:+,}http://${WORKER_ADDRS[$i]}/metrics"; done
	secs=$(awk -v n="$DRAIN_EVENTS" -v r="$DRAIN_RATE" 'BEGIN{printf "%.3f", n/r}')
	log "scenario $name: queue $DRAIN_EVENTS events at $DRAIN_RATE/s with the workers stopped, then $w worker(s) drain them"
	"$work/pipebench" -name "$name" -workers "$w" -api "http://$API" -listen "$RECEIVER" -metrics "$metrics" \
		-procs "api=$api_pid,postgres=$pg_pid,redis=$redis_pid" -db "$super_db" -json "$work/$name.json" \
		-rate "$DRAIN_RATE" -duration "${secs}s" -settle 0s -wait 600s -max-drain 600s >>"$work/details.md" 2>>"$work/$name.err" &
	local pb_pid=$!
	pids+=("$pb_pid")
	# the load ends after $secs; the outbox then holds the backlog
	local until=$(($(date +%s) + ${secs%.*} + 30))
	while [ "$(psql "$super_db" -qAtc "SELECT count(*) FROM outbox WHERE published_at IS NULL")" -lt "$DRAIN_EVENTS" ]; do
		kill -0 "$pb_pid" 2>/dev/null || break
		[ "$(date +%s)" -lt "$until" ] || break
		sleep 0.5
	done
	for ((i = 0; i < w; i++)); do start_worker "$i"; done
	wait "$pb_pid"
	drain_names+=("$name")
	jq -r '"  → \(.delivered_unique) of \(.load.accepted) delivered at \(.delivery_rate)/s"' "$work/$name.json" >&2
}
for w in $DRAIN_WORKERS; do drain "$w"; done

# ------------------------------------------------------------- the report
say "## End-to-end latency (commit in the API → webhook receiver)"
say ""
say "Latency = arrival at the receiver − the event's CloudEvents \`time\` (taken in the API just before its transaction commits), for every event, deduplicated by webhook-id; every request verified with the Standard Webhooks Go library."
say ""
say "| scenario | workers | target ev/s | achieved ev/s | sent | delivered (unique) | duplicates | intake errors | p50 ms | p90 ms | p99 ms | max ms | p50 first / last fifth ms | backlog max | backlog slope, 2nd half (ev/s) | grew | machine busy | other load (cores) |"
say "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in $LAT_RATES slow; do
	f=$work/latency-$r.json
	[ "$r" = slow ] && f=$work/slow-receiver.json
	say "$(jq -r '"| \(.config.name)\(if .config.receiver_delay_ms > 0 then " (receiver +\(.config.receiver_delay_ms) ms)" else "" end) | \(.config.workers) | \(.config.rate) | \(.achieved_rate) | \(.load.accepted) | \(.delivered_unique) | \(.duplicates) | \(.load.errors) | \(.latency_ms.p50) | \(.latency_ms.p90) | \(.latency_ms.p99) | \(.latency_ms.max) | \(.latency_first_fifth_p50_ms) / \(.latency_last_fifth_p50_ms) | \(.backlog.max) | \(.backlog.slope_last_half_per_s) | \(.backlog.grew) | \(.machine_busy * 100 | round)% | \('"$other_cores"') |"' "$f")"
done
say ""
say "Hardware references, same run:"
say ""
say "| reference | target ev/s | achieved | p50 ms | p99 ms | max ms |"
say "|---|---|---|---|---|---|"
for row in "${bare_rows[@]}"; do say "$row"; done
say ""
say "pgbench running the intake's SQL (\`scripts/bench/intake.sql\`, -M prepared, 16 clients, ${REF_DURATION}s, before any worker ran): **$ref_tps transactions/s** — the ceiling of intake (one event each) on this machine with nothing else of ours running."
say ""
say "## Where the time goes (per event, from the database's timestamps)"
say ""
say "| scenario | stage | p50 ms | p90 ms | p99 ms | max ms |"
say "|---|---|---|---|---|---|"
for n in $(for r in $LAT_RATES; do echo "latency-$r"; done) slow-receiver; do
	jq -r '.config.name as $n | .stages[]? | "| \($n) | \(.name) | \(.ms.p50) | \(.ms.p90) | \(.ms.p99) | \(.ms.max) |"' "$work/$n.json" | while IFS= read -r l; do say "$l"; done
done
say ""
say "Workers' own metrics over each scenario (deltas of /metrics; histogram quantiles are bucket estimates):"
say ""
say "| scenario | worker | relay published | fan-outs | fan-out tx mean / p99 ms | deliveries | POST mean / p99 ms | regcase_webhook_event_latency p50 / p99 ms | DB pool wait s | CPU s |"
say "|---|---|---|---|---|---|---|---|---|---|"
for n in $(for r in $LAT_RATES; do echo "latency-$r"; done) slow-receiver "${ramp_names[@]}" "${drain_names[@]}"; do
	jq -r '.config.name as $n | .workers[]? | "| \($n) | \(.url | sub("http://";"") | sub("/metrics";"")) | \(.relay_published) | \(.fanout_handled) | \(.fanout_ms.mean) / \(.fanout_ms.p99) | \(.deliveries_handled) | \(.send_ms.mean) / \(.send_ms.p99) | \(.event_latency_ms.p50) / \(.event_latency_ms.p99) | \(.db_pool_wait_s) | \(.cpu_s) |"' "$work/$n.json" | while IFS= read -r l; do say "$l"; done
done
say ""
say "CPU during the load, in cores (CPU seconds per second of load; each process with its children — PostgreSQL's backends count under postgres):"
say ""
say "| scenario | api | worker1 | worker2 | postgres | redis | load generator + receiver | other processes | machine busy |"
say "|---|---|---|---|---|---|---|---|---|"
for n in $(for r in $LAT_RATES; do echo "latency-$r"; done) slow-receiver "${ramp_names[@]}"; do
	say "$(jq -r '"| \(.config.name) | \(.cpu_cores.api // "–") | \(.cpu_cores.worker1 // "–") | \(.cpu_cores.worker2 // "–") | \(.cpu_cores.postgres // "–") | \(.cpu_cores.redis // "–") | \(.cpu_cores["load generator + receiver"] // "–") | \('"$other_cores"') | \(.machine_busy * 100 | round)% |"' "$work/$n.json")"
done
say ""
say "## Highest sustained events/s (ramp, ${RAMP_STEP}s per step)"
say ""
say "Sustained = every intake request succeeded, the achieved rate is ≥ 97% of the target, every event was delivered, the last one within 5 s of the end of the load, the backlog (outbox + stream lag + stream pending + pending deliveries, sampled every 0.5 s) did not grow over the step's second half (fitted slope ≤ max(2 events/s, 1% of the rate, 50 events over the half)), and the median latency of the step's last fifth of events is within 250 ms of its first fifth's (a queue that built up, then held, is growth too)."
say ""
say "| workers | target ev/s | achieved ev/s | intake errors | delivered / sent | p50 ms | p99 ms | last arrival after load s | backlog max | slope 2nd half ev/s | sustained |"
say "|---|---|---|---|---|---|---|---|---|---|---|"
for n in "${ramp_names[@]}"; do
	say "$(jq -r '"| \(.config.workers) | \(.config.rate) | \(.achieved_rate) | \(.load.errors) | \(.delivered_unique) / \(.load.accepted) | \(.latency_ms.p50) | \(.latency_ms.p99) | \(.drain_s) | \(.backlog.max) | \(.backlog.slope_last_half_per_s) | \(if .sustained then "yes" else "no: " + (.why_not_sustained | join("; ")) end) |"' "$work/$n.json")"
done
say ""
for w in $RAMP_WORKERS; do say "- highest sustained step with $w worker(s): **${best[$w]} events/s**"; done
say ""
say "## Pipeline throughput without intake (a backlog drained)"
say ""
say "$DRAIN_EVENTS events queued in the outbox at $DRAIN_RATE/s with every worker stopped; then the workers start and deliver them. Delivery rate = events / (last arrival − first arrival) at the receiver. CPU = CPU seconds per delivered event while draining (from the end of the intake to the last arrival; the workers' figure from their process_cpu_seconds_total)."
say ""
say "| workers | events | delivered | duplicates | delivery rate ev/s | drain s | CPU ms/event: workers | postgres | redis | load generator + receiver | machine busy while draining |"
say "|---|---|---|---|---|---|---|---|---|---|---|"
for n in "${drain_names[@]}"; do
	say "$(jq -r '(.load.accepted | if . == 0 then 1 else . end) as $e | "| \(.config.workers) | \(.load.accepted) | \(.delivered_unique) | \(.duplicates) | \(.delivery_rate) | \(.after_load_s) | \([.workers[].cpu_s] | add * 1000 / $e * 100 | round / 100) | \(.cpu_seconds_after_load.postgres * 1000 / $e * 100 | round / 100) | \(.cpu_seconds_after_load.redis * 1000 / $e * 100 | round / 100) | \(.cpu_seconds_after_load["load generator + receiver"] * 1000 / $e * 100 | round / 100) | \(.machine_busy_after_load * 100 | round)% |"' "$work/$n.json")"
done
say ""
say "## Database time per event (pg_stat_statements, top statements by total execution time)"
say ""
for n in $(for r in $LAT_RATES; do echo "latency-$r"; done) "${drain_names[@]}"; do
	[ -f "$work/$n.json" ] || continue
	say "$(jq -r '(.load.accepted | if . == 0 then 1 else . end) as $e | "\(.config.name): \(.db.calls // 0) statements, \(.db.total_ms // 0 | round) ms executing = \((.db.total_ms // 0) / $e * 1000 | round / 1000) ms per event."' "$work/$n.json")"
	say ""
	say "| statement | calls per event | mean ms | share of DB time |"
	say "|---|---|---|---|"
	jq -r '(.load.accepted | if . == 0 then 1 else . end) as $e | .db.total_ms as $t | .db.top[]? | "| `\(.query | gsub("\\|"; "\\|"))` | \(.calls / $e * 100 | round / 100) | \(.mean_ms * 1000 | round / 1000) | \(.total_ms / $t * 100 | round)% |"' "$work/$n.json" | while IFS= read -r l; do say "$l"; done
	say ""
done
say "## Slow receiver (${SLOW_DELAY} per request, ${SLOW_RATE} events/s for ${SLOW_DURATION}s, 2 workers)"
say ""
say "$(jq -r '"Outbox backlog max \(.backlog.max_outbox), stream lag max \(.backlog.max_stream_lag), pending webhook deliveries max \(.backlog.max_deliveries_pending) (at the end of the load \(.backlog.at_load_end)); the last event arrived \(.drain_s) s after the load ended; \(.delivered_unique) of \(.load.accepted) delivered, \(.duplicates) duplicates; intake p99 \(.intake_ms.p99) ms."' "$work/slow-receiver.json")"
say ""
say "Backlog samples (seconds since the load started: outbox / stream lag / pending deliveries):"
say ""
say "$(jq -r '[.samples[] | select((.t * 2 | floor) % 10 == 0) | "\(.t | floor)s: \(.outbox)/\(.stream_lag)/\(.deliveries_pending)"] | join(", ")' "$work/slow-receiver.json")"
say ""
say "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
{
	echo
	echo "## Scenario details"
	echo
	cat "$work/details.md"
} >>"$OUT"
mkdir -p "$JSON_DIR"
cp "$work"/*.json "$JSON_DIR/"
echo
echo "written to $OUT (JSON of every scenario in $JSON_DIR/)"
