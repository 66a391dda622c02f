#!/usr/bin/env bash
# scripts/bench.sh — the figures of BENCHMARKS.md, measured in one run on this
# machine, each next to the hardware limit measured in the same run:
#   intake  POST /v1/reports   vs pgbench running the same SQL transaction
#   read    GET /v1/cases/{id} vs a bare Go handler returning the same bytes
# on PostgreSQL (a throwaway cluster on 127.0.0.1, fsync on) and on SQLite,
# plus binary size, cold start to ready and idle RSS. Load goes to loopback
# only and every run is bounded (DURATION seconds per point).
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: scripts/bench.sh [--help]

Environment: DURATION (seconds per measurement, default 10), CONCURRENCY (default "16 64"),
             OUT (markdown result file, default dist/bench-<date>.md)
Needs: hey, pgbench, PostgreSQL server binaries (scripts/install-test-deps.sh installs them).
USAGE
}
[ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ] && { usage; exit 0; }
[ $# -gt 0 ] && { echo "bench: unknown argument $1" >&2; usage >&2; exit 64; }

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-16 64}
mkdir -p dist
OUT=${OUT:-dist/bench-$(date -u +%Y%m%dT%H%M%SZ).md}
command -v hey >/dev/null || apt-get install -y hey >/dev/null
command -v pgbench >/dev/null || scripts/install-test-deps.sh >/dev/null

for port in 18081 18082 18083 18090; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "bench: port $port on 127.0.0.1 is in use (a previous run still alive?)" >&2
		exit 1
	fi
done
work=$(mktemp -d /tmp/regcase-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	scripts/pg-test-server.sh stop "$work/pg" >/dev/null 2>&1 || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" | tee -a "$OUT"; }

echo "building"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/regcase/regcase/internal/buildinfo.Version=bench" -o "$work/regcase" ./cmd/regcase
go build -o "$work/bare" scripts/bench/bare.go

# hey_run NAME ARGS… → appends "rps p50 p99" to $work/NAME
hey_run() {
	local name=$1; shift
	hey -z "${DURATION}s" "$@" >"$work/$name.txt" || { echo "bench: hey failed for $name" >&2; exit 1; }
	awk '/Requests\/sec/{r=$2} / 50%/{p50=$3} / 99%/{p99=$3} /\[5[0-9][0-9]\]/{err+=$2} END{printf "%.0f %.1f %.1f %d\n", r, p50*1000, p99*1000, err}' "$work/$name.txt"
}

wait_ready() {
	local url=$1 t0
	t0=$(date +%s%N)
	for _ in $(seq 1 500); do
		if curl -fsS -o /dev/null "$url/health/ready" 2>/dev/null; then
			echo $((($(date +%s%N) - t0) / 1000000))
			return 0
		fi
		sleep 0.01
	done
	echo "server at $url never became ready" >&2
	return 1
}

keys_env() {
	export REGCASE_DATA_KEY
	REGCASE_DATA_KEY=$(head -c32 /dev/urandom | base64)
	eval "$("$work/regcase" audit keygen | sed 's/^/export /')"
}

{
	echo "# regcase benchmark run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(go version | cut -d' ' -f3); PostgreSQL $(pgbench --version | awk '{print $3}')."
	echo "Load generator (hey), server and database share the same cores. ${DURATION}s per point."
	echo
} >"$OUT"

keys_env
export LOG_FORMAT=json LOG_LEVEL=info REGCASE_ENV=development REGCASE_INTAKE_RATE=1000000 REGCASE_INTAKE_BURST=1000000

# ---------------------------------------------------------------- PostgreSQL
super=$(scripts/pg-test-server.sh start "$work/pg" | tail -n1)
psql "$super" -qAtc "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET max_connections = 200" >/dev/null
scripts/pg-test-server.sh stop "$work/pg" >/dev/null
super=$(scripts/pg-test-server.sh start "$work/pg" | tail -n1)
psql "$super" -qAt >/dev/null <<'SQL'
CREATE ROLE regcase_owner LOGIN CREATEROLE PASSWORD 'owner';
CREATE DATABASE regcase_bench OWNER regcase_owner;
SQL
owner_url=${super/postgres@/regcase_owner:owner@}
owner_url=${owner_url/\/postgres\?/\/regcase_bench?}
DATABASE_URL=$owner_url "$work/regcase" migrate 2>>"$work/migrate.log"
psql "${super/\/postgres\?/\/regcase_bench?}" -qAtc "CREATE ROLE regcase_api LOGIN PASSWORD 'api' IN ROLE regcase_app" >/dev/null
app_url=${owner_url/regcase_owner:owner@/regcase_api:api@}

bench_engine() { # ENGINE URL
	local engine=$1 base=$2 tok case_id
	tok=$(DATABASE_URL=$3 "$work/regcase" token create --role supervisor --name "bench-$engine" 2>/dev/null)
	printf '{"channel":"api","category":"food_safety","subject":{"name":"Harbour Fish Market","registry_id":"FBO-10442"},"description":"Fish displayed without ice at noon; strong smell near the counter."}' >"$work/report.json"
	case_id=$(curl -fsS -XPOST "$base/v1/cases" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
		-d '{"title":"Bench case","subject":{"name":"Harbour Fish Market"},"category":"food_safety","priority":"high"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
	curl -fsS "$base/v1/cases/$case_id" -H "Authorization: Bearer $tok" >"$work/case-$engine.json"
	echo "$case_id" >"$work/case-id-$engine"
	say ""
	say "## $engine"
	say ""
	say "| measure | clients | regcase req/s | p50 ms | p99 ms | 5xx | reference | ref req/s | ref p50 ms | ref p99 ms | ratio |"
	say "|---|---|---|---|---|---|---|---|---|---|---|"
	for c in $CONCURRENCY; do
		read -r rps p50 p99 err < <(hey_run "intake-$engine-$c" -c "$c" -m POST -T application/json -H "Authorization: Bearer $tok" -D "$work/report.json" "$base/v1/reports")
		if [ "$engine" = postgres ]; then
			pgbench -n -M prepared -c "$c" -j 2 -T "$DURATION" -r -f scripts/bench/intake.sql "${super/\/postgres\?/\/regcase_bench?}" >"$work/pgbench-$c.txt" 2>&1 ||
				{ echo "bench: pgbench failed:" >&2; tail -5 "$work/pgbench-$c.txt" >&2; exit 1; }
			ref_tps=$(awk '/^tps/{printf "%.0f", $3}' "$work/pgbench-$c.txt")
			ref_lat=$(awk '/^latency average/{print $4}' "$work/pgbench-$c.txt")
			say "| POST /v1/reports | $c | $rps | $p50 | $p99 | $err | pgbench -M prepared, same transaction | $ref_tps | avg $ref_lat | – | $(awk -v a="$rps" -v b="$ref_tps" 'BEGIN{printf "%.0f%%", 100*a/b}') |"
		else
			say "| POST /v1/reports | $c | $rps | $p50 | $p99 | $err | – | – | – | – | – |"
		fi
	done
	"$work/bare" -addr 127.0.0.1:18090 -body "$work/case-$engine.json" 2>/dev/null &
	local bare=$!
	sleep 0.3
	for c in $CONCURRENCY; do
		read -r rps p50 p99 err < <(hey_run "read-$engine-$c" -c "$c" -H "Authorization: Bearer $tok" "$base/v1/cases/$case_id")
		read -r brps bp50 bp99 _ < <(hey_run "bare-$engine-$c" -c "$c" "http://127.0.0.1:18090/v1/cases/$case_id")
		say "| GET /v1/cases/{id} | $c | $rps | $p50 | $p99 | $err | bare Go handler, same bytes | $brps | $bp50 | $bp99 | $(awk -v a="$rps" -v b="$brps" 'BEGIN{printf "%.0f%%", 100*a/b}') |"
	done
	kill "$bare"; wait "$bare" 2>/dev/null || true
}

start_server() { # CMD URL ADDR → sets $srv (pid) and $ready_ms
	local cmd=$1 url=$2 addr=$3
	DATABASE_URL=$url REGCASE_HTTP_ADDR=$addr REGCASE_DATA_DIR=$work/data "$work/regcase" "$cmd" >"$work/$cmd.out" 2>"$work/$cmd-$addr.log" &
	srv=$!
	pids+=("$srv")
	ready_ms=$(wait_ready "http://$addr")
}

start_server api "$app_url" 127.0.0.1:18081
ready_pg=$ready_ms
bench_engine postgres http://127.0.0.1:18081 "$app_url"
rss_pg=$(ps -o rss= -p "$srv")
kill -TERM "$srv"; wait "$srv" 2>/dev/null || true

# --------------------------------------------------------------------- SQLite
sqlite_url="sqlite://$work/sqlite/regcase.db"
start_server all "$sqlite_url" 127.0.0.1:18082
ready_sqlite=$ready_ms
sleep 1
idle_rss=$(ps -o rss= -p "$srv")
bench_engine sqlite http://127.0.0.1:18082 "$sqlite_url"
kill -TERM "$srv"; wait "$srv" 2>/dev/null || true
# cold start on an existing database (migrations already applied)
start_server all "$sqlite_url" 127.0.0.1:18083
ready_warm=$ready_ms
kill -TERM "$srv"; wait "$srv" 2>/dev/null || true

say ""
say "## process"
say ""
say "| measure | value |"
say "|---|---|"
say "| binary size (static, -s -w) | $(($(stat -c %s "$work/regcase") / 1024 / 1024)) MiB |"
say "| cold start to ready, \`regcase all\`, fresh SQLite (migrate + keygen + bootstrap) | ${ready_sqlite} ms |"
say "| cold start to ready, \`regcase all\`, existing SQLite | ${ready_warm} ms |"
say "| cold start to ready, \`regcase api\`, PostgreSQL | ${ready_pg} ms |"
say "| idle RSS, \`regcase all\` on SQLite | $((idle_rss / 1024)) MiB |"
say "| RSS after the PostgreSQL load, \`regcase api\` | $((rss_pg / 1024)) MiB |"
echo
echo "written to $OUT"
