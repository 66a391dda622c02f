#!/usr/bin/env bash
# A throwaway PostgreSQL on loopback in a directory of your choice, for manual
# testing and benchmarks. Same rules as the Go test harness (internal/pgtest):
# binaries from /usr/lib/postgresql/<highest>/bin or PATH, initdb/pg_ctl as the
# postgres OS user when run as root, listening on 127.0.0.1 only, the unix
# socket inside the directory, trust authentication, fsync off. Never use it
# for data you want to keep.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/pg-test-server.sh start DIR [PORT]
       scripts/pg-test-server.sh stop DIR
       scripts/pg-test-server.sh url DIR
       scripts/pg-test-server.sh status DIR

start   create the cluster in DIR (initdb on first use) and start it on PORT
        (default: the first free port from 55432); prints the superuser URL
stop    stop the cluster (the files stay; rm -rf DIR to discard them)
url     print the superuser URL: postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
status  exit 0 when the cluster is running

Example:
  scripts/pg-test-server.sh start /dev/shm/regcase-pg   # tmpfs: CREATE DATABASE ~10x faster
  export REGCASE_TEST_POSTGRES_URL=$(scripts/pg-test-server.sh url /dev/shm/regcase-pg)
  go test ./internal/postgres/
  scripts/pg-test-server.sh stop /dev/shm/regcase-pg
EOF
}

die() {
	echo "pg-test-server: $*" >&2
	exit 1
}

bindir() {
	local best
	best=$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -t/ -k4,4n | tail -n 1)
	if [ -n "$best" ] && [ -x "$best/initdb" ] && [ -x "$best/pg_ctl" ]; then
		echo "$best"
		return
	fi
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
		return
	fi
	die "no PostgreSQL server binaries found (initdb, pg_ctl): run scripts/install-test-deps.sh"
}

# as_owner runs a PostgreSQL program as the postgres OS user when root.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
	local p=55432
	while port_in_use "$p"; do
		p=$((p + 1))
		[ "$p" -lt 65535 ] || die "no free port from 55432"
	done
	echo "$p"
}

running() {
	[ -f "$dir/data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

url() {
	[ -f "$dir/port" ] || die "no cluster in $dir (run: $0 start $dir)"
	echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable"
}

start() {
	local port=${1:-}
	if running; then
		url
		return
	fi
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || die "running as root needs the postgres OS user: run scripts/install-test-deps.sh"
		chown postgres: "$dir"
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
			die "initdb failed: $(cat "$dir/initdb.log")"
		echo "include_if_exists = 'regcase.conf'" | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
	fi
	[ -n "$port" ] || port=$(free_port)
	as_owner tee "$dir/data/regcase.conf" >/dev/null <<EOF
# written by scripts/pg-test-server.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_connections = 200
timezone = 'UTC'
EOF
	echo "$port" >"$dir/port"
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
		die "pg_ctl start failed; see $dir/postgres.log"
	url
}

stop() {
	if running; then
		as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
		echo "pg-test-server: stopped $dir" >&2
	else
		echo "pg-test-server: not running in $dir" >&2
	fi
}

cmd=${1:-}
case "$cmd" in
-h | --help | help)
	usage
	exit 0
	;;
start | stop | url | status) ;;
*)
	usage >&2
	exit 64
	;;
esac
[ $# -ge 2 ] || {
	usage >&2
	exit 64
}
case "$2" in
/*) dir=$2 ;;
*) dir=$PWD/$2 ;;
esac
dir=${dir%/}
bin=$(bindir)

case "$cmd" in
start) start "${3:-}" ;;
stop) stop ;;
url) url ;;
status) running ;;
esac
