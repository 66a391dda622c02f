#!/usr/bin/env bash
# scripts/bench.sh — the figures of BENCHMARKS.md, measured in one run on this
# machine with one load generator (wrk), each next to the limits measured in
# the same run:
#   intake  POST /v1/reports   vs (a) pgbench running the same SQL statements,
#                                 (d) pgbench running only the three inserts
#                                     (report, audit record, outbox event:
#                                     intake.sql without the chain row);
#                                 on SQLite (b) one writer looping the same
#                                 intake transaction straight into SQLite
#                                 with the same synchronous setting, and
#                                 with synchronous=NORMAL (no fsync per commit)
#   read    GET /v1/cases/{id} vs (a) pgbench running the same reads,
#                                 (d) pgbench's primary-key read of the case,
#                                 (c) a bare Go handler returning the same bytes
#   optional (f), POCKETBASE=1: PocketBase (also SQLite, one writer) creating
#                                 and reading a record of the same fields
# on PostgreSQL (a throwaway cluster on 127.0.0.1, fsync and
# synchronous_commit on) and on SQLite, plus binary size, cold start to ready
# and idle RSS. Load goes to loopback only and every run is bounded (DURATION
# seconds per point; the default run takes about 5 minutes).
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: scripts/bench.sh [--help]

Environment: DURATION (seconds per measurement, default 10), CONCURRENCY (default "16 64"),
             OUT (markdown result file, default dist/bench-<date>.md),
             SQLITE_SYNCHRONOUS (FULL, the default, or NORMAL),
             ROUNDS (default 2: PostgreSQL intake measured again with a pool of as many
             connections as clients, alternating with pgbench, this many times),
             POCKETBASE=1 (also measure PocketBase v0.40.4 create and view, reference (f);
             builds it with Go 1.27.3, which the go command fetches from the module proxy,
             about 3 minutes; POCKETBASE_BIN=path uses a binary already built from
             github.com/pocketbase/pocketbase/examples/base),
             PROFILE=1 (take a 10 s CPU profile of `regcase api` during the 64-client
             PostgreSQL intake; written next to OUT as <OUT>.pg-intake.pprof)
Needs: wrk, pgbench, PostgreSQL server binaries (scripts/install-test-deps.sh installs them).
USAGE
}
[ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ] && { usage; exit 0; }
[ $# -gt 0 ] && { echo "bench: unknown argument $1" >&2; usage >&2; exit 64; }

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-16 64}
mkdir -p dist
OUT=${OUT:-dist/bench-$(date -u +%Y%m%dT%H%M%SZ).md}
SQLITE_SYNCHRONOUS=${SQLITE_SYNCHRONOUS:-FULL}
POCKETBASE_VERSION=v0.40.4
POCKETBASE_GO=go1.27.3 # PocketBase v0.40 needs a newer Go than the project's; used for its build only
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
command -v pgbench >/dev/null || scripts/install-test-deps.sh >/dev/null

for port in 18081 18082 18083 18084 18090 18091; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "bench: port $port on 127.0.0.1 is in use (a previous run still alive?)" >&2
		exit 1
	fi
done
work=$(mktemp -d /tmp/regcase-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
	[[ $BASHPID == "$$" ]] || return 0 # a killed subshell runs the inherited EXIT trap (bash 5.2)
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
go build -o "$work/sqliteloop" ./scripts/bench/sqliteloop

# wrk_run NAME CLIENTS URL [LUA] → prints "rps p50 p99 errors" (ms; errors =
# non-2xx answers + socket errors), keeps the raw output in $work/NAME.txt
wrk_run() {
	local name=$1 c=$2 url=$3 lua=${4:-}
	local args=(-t2 -c"$c" -d"${DURATION}s" --latency --timeout 10s)
	[ -n "$lua" ] && args+=(-s "$lua")
	wrk "${args[@]}" "$url" >"$work/$name.txt" 2>&1 || { echo "bench: wrk failed for $name:" >&2; cat "$work/$name.txt" >&2; exit 1; }
	awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/Requests\/sec/ {r = $2}
		/^ +50%/ {p50 = ms($2)} /^ +99%/ {p99 = ms($2)}
		/Non-2xx or 3xx responses/ {err += $5}
		/Socket errors/ {gsub(",", ""); err += $4 + $6 + $8 + $10}
		END {printf "%.0f %.1f %.1f %d\n", r, p50, p99, err}' "$work/$name.txt"
}

# pgbench_run NAME CLIENTS SCRIPT [ARGS…] → prints "tps avg_ms"
pgbench_run() {
	local name=$1 c=$2 script=$3; shift 3
	pgbench -n -M prepared -c "$c" -j 2 -T "$DURATION" -f "$script" "$@" "$bench_db" >"$work/$name.txt" 2>&1 ||
		{ echo "bench: pgbench failed for $name:" >&2; tail -5 "$work/$name.txt" >&2; exit 1; }
	awk '/^tps/ {t = $3} /^latency average/ {l = $4} END {printf "%.0f %s\n", t, l}' "$work/$name.txt"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "–" }'; }

wait_ready() { # READINESS_URL → prints the milliseconds it took
	local url=$1 t0
	t0=$(date +%s%N)
	for _ in $(seq 1 500); do
		if curl -fsS -o /dev/null "$url" 2>/dev/null; then
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
	eval "$("$work/regcase" audit keygen | sed -n 's/^REGCASE_/export REGCASE_/p')"
}

{
	echo "# regcase benchmark run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(go version | cut -d' ' -f3); PostgreSQL $(pgbench --version | awk '{print $3}')."
	echo "Load generator (wrk, 2 threads), server and database share the same cores. ${DURATION}s per point."
	echo "Other load on the machine at the start: load average $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
} >"$OUT"

keys_env
export LOG_FORMAT=json LOG_LEVEL=info REGCASE_ENV=development REGCASE_INTAKE_RATE=1000000 REGCASE_INTAKE_BURST=1000000

# ---------------------------------------------------------------- PostgreSQL
super=$(scripts/pg-test-server.sh start "$work/pg" | tail -n1)
psql "$super" -qAtc "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" -c "ALTER SYSTEM SET max_connections = 200" >/dev/null
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
bench_db=${super/\/postgres\?/\/regcase_bench?}
# (d) only the three inserts of an intake: intake.sql without its audit
# chain row (report, audit record, outbox event).
sed '/^INSERT INTO audit_chains/,+1d' scripts/bench/intake.sql >"$work/intake3.sql"

declare -A pg_tps pg3_tps sq_intake sq_read # sq_*: "rps p50 p99 errors" per clients, for (f)
bench_engine() { # ENGINE URL DATABASE_URL
	local engine=$1 base=$2 tok case_id c
	tok=$(DATABASE_URL=$3 "$work/regcase" token create --role supervisor --name "bench-$engine" 2>/dev/null)
	printf '{"channel":"api","category":"food_safety","subject":{"name":"Harbour Fish Market","registry_id":"FBO-10442"},"description":"Fish displayed without ice at noon; strong smell near the counter."}' >"$work/report.json"
	case_id=$(curl -fsS -XPOST "$base/v1/cases" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
		-d '{"title":"Bench case","subject":{"name":"Harbour Fish Market"},"category":"food_safety","priority":"high"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
	curl -fsS "$base/v1/cases/$case_id" -H "Authorization: Bearer $tok" >"$work/case-$engine.json"
	export TOKEN=$tok BODY_FILE=$work/report.json
	say ""
	say "## $engine"
	say ""
	say "| measure | clients | regcase req/s | p50 ms | p99 ms | errors | reference | ref req/s | ref p50 ms | ref p99 ms | ratio |"
	say "|---|---|---|---|---|---|---|---|---|---|---|"
	for c in $CONCURRENCY; do
		local prof=""
		if [ "$engine" = postgres ] && [ -n "${PROFILE:-}" ] && [ "$c" = "${CONCURRENCY##* }" ]; then
			(sleep 1; curl -fsS -o "$OUT.pg-intake.pprof" "http://127.0.0.1:18091/debug/pprof/profile?seconds=$((DURATION > 12 ? 10 : DURATION - 2))") &
			prof=$!
		fi
		read -r rps p50 p99 err < <(wrk_run "intake-$engine-$c" "$c" "$base/v1/reports" scripts/bench/post.lua)
		[ -z "$prof" ] || wait "$prof" || echo "bench: the CPU profile was not taken" >&2
		if [ "$engine" = postgres ]; then
			read -r tps lat < <(pgbench_run "pgbench-intake-$c" "$c" scripts/bench/intake.sql)
			pg_tps[$c]=$tps
			say "| POST /v1/reports | $c | $rps | $p50 | $p99 | $err | (a) pgbench, same statements (4 inserts) | $tps | avg $lat | – | $(ratio "$rps" "$tps") |"
			read -r tps lat < <(pgbench_run "pgbench-intake3-$c" "$c" "$work/intake3.sql")
			pg3_tps[$c]=$tps
			say "| POST /v1/reports | $c | $rps | $p50 | $p99 | $err | (d) pgbench, the three inserts | $tps | avg $lat | – | $(ratio "$rps" "$tps") |"
		else
			sq_intake[$c]="$rps $p50 $p99 $err"
			say "| POST /v1/reports | $c | $rps | $p50 | $p99 | $err | (b) one writer, same transaction straight into SQLite, synchronous=$SQLITE_SYNCHRONOUS | $loop_tps | – | – | $(ratio "$rps" "$loop_tps") |"
			[ "$SQLITE_SYNCHRONOUS" = NORMAL ] ||
				say "| POST /v1/reports | $c | $rps | $p50 | $p99 | $err | (b) the same loop, synchronous=NORMAL (no fsync per commit) | $loop_normal_tps | – | – | $(ratio "$rps" "$loop_normal_tps") |"
		fi
	done
	"$work/bare" -addr 127.0.0.1:18090 -body "$work/case-$engine.json" 2>/dev/null &
	local bare=$!
	pids+=("$bare")
	sleep 0.3
	for c in $CONCURRENCY; do
		read -r rps p50 p99 err < <(wrk_run "read-$engine-$c" "$c" "$base/v1/cases/$case_id" scripts/bench/get.lua)
		read -r brps bp50 bp99 _ < <(wrk_run "bare-$engine-$c" "$c" "http://127.0.0.1:18090/v1/cases/$case_id")
		if [ "$engine" = postgres ]; then
			read -r tps lat < <(pgbench_run "pgbench-read-$c" "$c" scripts/bench/case_read.sql -D "case_id=$case_id")
			say "| GET /v1/cases/{id} | $c | $rps | $p50 | $p99 | $err | (a) pgbench, same reads | $tps | avg $lat | – | $(ratio "$rps" "$tps") |"
			read -r tps lat < <(pgbench_run "pgbench-pk-$c" "$c" scripts/bench/case_pk.sql -D "case_id=$case_id")
			say "| GET /v1/cases/{id} | $c | $rps | $p50 | $p99 | $err | (d) pgbench, primary-key read of the case | $tps | avg $lat | – | $(ratio "$rps" "$tps") |"
		fi
		[ "$engine" = postgres ] || sq_read[$c]="$rps $p50 $p99 $err"
		say "| GET /v1/cases/{id} | $c | $rps | $p50 | $p99 | $err | (c) bare Go handler, same bytes | $brps | $bp50 | $bp99 | $(ratio "$rps" "$brps") |"
	done
	kill "$bare"; wait "$bare" 2>/dev/null || true
}

start_server() { # CMD URL ADDR → sets $srv (pid) and $ready_ms
	local cmd=$1 url=$2 addr=$3
	DATABASE_URL=$url REGCASE_HTTP_ADDR=$addr REGCASE_DATA_DIR=$work/data "$work/regcase" "$cmd" >"$work/$cmd.out" 2>"$work/$cmd-$addr.log" &
	srv=$!
	pids+=("$srv")
	ready_ms=$(wait_ready "http://$addr/health/ready")
}

export REGCASE_PPROF_ADDR=127.0.0.1:18091
start_server api "$app_url" 127.0.0.1:18081
unset REGCASE_PPROF_ADDR
ready_pg=$ready_ms
bench_engine postgres http://127.0.0.1:18081 "$app_url"
rss_pg=$(ps -o rss= -p "$srv")
pool_wait=$(curl -fsS http://127.0.0.1:18081/metrics | awk '/^regcase_db_pool_wait_seconds_total/ {printf "%.0f\n", $2}')
pool_max=$(curl -fsS http://127.0.0.1:18081/metrics | awk '/^regcase_db_pool_max_connections/ {print $2}')
kill -TERM "$srv"; wait "$srv" 2>/dev/null || true

# The same intake with as many connections as pgbench has clients: pgbench
# runs each client on a connection of its own, while the default pool (10
# per process) lets at most 10 intakes wait for PostgreSQL's commit at once
# (PostgreSQL shares one WAL flush among the commits waiting together). So
# the like-for-like ratio is measured with REGCASE_DB_MAX_CONNS = clients,
# each regcase point followed at once by its pgbench point, ROUNDS times.
for c in $CONCURRENCY; do
	export REGCASE_DB_MAX_CONNS=$c
	start_server api "$app_url" 127.0.0.1:18081
	unset REGCASE_DB_MAX_CONNS
	for r in $(seq "${ROUNDS:-2}"); do
		read -r rps p50 p99 err < <(wrk_run "intake-pool-$c-$r" "$c" http://127.0.0.1:18081/v1/reports scripts/bench/post.lua)
		read -r tps lat < <(pgbench_run "pgbench-intake-pool-$c-$r" "$c" scripts/bench/intake.sql)
		say "| POST /v1/reports, REGCASE_DB_MAX_CONNS=$c (round $r) | $c | $rps | $p50 | $p99 | $err | (a) pgbench, same statements, $c connections, right after | $tps | avg $lat | – | $(ratio "$rps" "$tps") |"
	done
	kill -TERM "$srv"; wait "$srv" 2>/dev/null || true
done

# --------------------------------------------------------------------- SQLite
sqlite_url="sqlite://$work/sqlite/regcase.db"
export REGCASE_SQLITE_SYNCHRONOUS=$SQLITE_SYNCHRONOUS
read -r loop_tps _ < <("$work/sqliteloop" -db "$work/loop.db" -sync "$SQLITE_SYNCHRONOUS" -duration "${DURATION}s")
# The same loop with synchronous=NORMAL: the fastest one writer can commit
# this transaction at all (no fsync per commit), whatever the server's setting.
loop_normal_tps=$loop_tps
if [ "$SQLITE_SYNCHRONOUS" != NORMAL ]; then
	read -r loop_normal_tps _ < <("$work/sqliteloop" -db "$work/loop-normal.db" -sync NORMAL -duration "${DURATION}s")
fi
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

# (f) PocketBase, optional: also SQLite with one writer, a generic REST
# layer over it. Its create has no audit chain and no outbox; records are
# created by anyone (createRule "") like the public intake, and read by id
# (viewRule "") without a token.
if [ -n "${POCKETBASE:-}" ]; then
	pb=${POCKETBASE_BIN:-}
	if [ -z "$pb" ]; then
		echo "building PocketBase $POCKETBASE_VERSION (Go $POCKETBASE_GO, for this reference only)"
		GOTOOLCHAIN=$POCKETBASE_GO GOBIN=$work CGO_ENABLED=0 GOFLAGS= \
			go install "github.com/pocketbase/pocketbase/examples/base@$POCKETBASE_VERSION" >"$work/pocketbase-build.log" 2>&1 ||
			{ echo "bench: building PocketBase failed:" >&2; tail -5 "$work/pocketbase-build.log" >&2; exit 1; }
		pb=$work/base
	fi
	"$pb" superuser upsert bench@example.org benchbench-superuser --dir "$work/pb" >/dev/null
	"$pb" serve --http 127.0.0.1:18084 --dir "$work/pb" >"$work/pocketbase.log" 2>&1 &
	pids+=("$!")
	wait_ready http://127.0.0.1:18084/api/health >/dev/null
	pbtok=$(curl -fsS -XPOST http://127.0.0.1:18084/api/collections/_superusers/auth-with-password -H 'Content-Type: application/json' \
		-d '{"identity":"bench@example.org","password":"benchbench-superuser"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
	curl -fsS -o /dev/null -XPOST http://127.0.0.1:18084/api/collections -H "Authorization: $pbtok" -H 'Content-Type: application/json' \
		-d '{"name":"reports","type":"base","createRule":"","viewRule":"","fields":[{"name":"channel","type":"text"},{"name":"category","type":"text"},{"name":"subject_name","type":"text"},{"name":"subject_registry_id","type":"text"},{"name":"description","type":"text"}]}'
	printf '{"channel":"api","category":"food_safety","subject_name":"Harbour Fish Market","subject_registry_id":"FBO-10442","description":"Fish displayed without ice at noon; strong smell near the counter."}' >"$work/pb-report.json"
	pb_id=$(curl -fsS -XPOST http://127.0.0.1:18084/api/collections/reports/records -H 'Content-Type: application/json' -d @"$work/pb-report.json" |
		sed 's/.*"id":"\([^"]*\)".*/\1/')
	say ""
	say "## sqlite against PocketBase $POCKETBASE_VERSION (f)"
	say ""
	say "PocketBase runs with its own defaults (WAL, synchronous=NORMAL); regcase with synchronous=$SQLITE_SYNCHRONOUS. regcase figures: the sqlite table above."
	say ""
	say "| measure | clients | regcase req/s | p50 ms | p99 ms | errors | reference | ref req/s | ref p50 ms | ref p99 ms | ratio |"
	say "|---|---|---|---|---|---|---|---|---|---|---|"
	for c in $CONCURRENCY; do
		read -r rps p50 p99 err <<<"${sq_intake[$c]}"
		read -r prps pp50 pp99 perr < <(TOKEN='' BODY_FILE=$work/pb-report.json wrk_run "pb-create-$c" "$c" http://127.0.0.1:18084/api/collections/reports/records scripts/bench/post.lua)
		say "| POST /v1/reports | $c | $rps | $p50 | $p99 | $err | (f) PocketBase create record ($perr errors) | $prps | $pp50 | $pp99 | $(ratio "$rps" "$prps") |"
	done
	for c in $CONCURRENCY; do
		read -r rps p50 p99 err <<<"${sq_read[$c]}"
		read -r prps pp50 pp99 perr < <(TOKEN='' wrk_run "pb-view-$c" "$c" "http://127.0.0.1:18084/api/collections/reports/records/$pb_id" scripts/bench/get.lua)
		say "| GET /v1/cases/{id} | $c | $rps | $p50 | $p99 | $err | (f) PocketBase view record ($perr errors) | $prps | $pp50 | $pp99 | $(ratio "$rps" "$prps") |"
	done
fi

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
say "| time requests waited for a pooled PostgreSQL connection during the run (pool of ${pool_max:-?}) | ${pool_wait:-?} s |"
echo
echo "written to $OUT"
