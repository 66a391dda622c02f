#!/usr/bin/env bash
# collect-diagnostics.sh — gather the incident bundle for a regcase Compose stack into one tarball.
#
# Usage: scripts/collect-diagnostics.sh [--stack prod|dev|test] [--env-file FILE] [--since 1h]
#                                       [--out DIR]
#
# Collects, without changing anything: docker/compose versions, engine info, disk and memory,
# `compose ps -a`, the resolved Compose config, every service's logs since --since (with
# timestamps), `docker inspect` of every container of the project (environment values of
# secret-looking variables redacted), health-probe history, engine events since --since, one
# `docker stats` sample, the app's /version and readiness, PostgreSQL connection usage by role
# and state against max_connections, locks waited on, database size, Redis liveness, and the
# recorded deployments (deploy.sh). Writes DIR/regcase-diagnostics-<host>-<UTC>.tar.gz (mode
# 0600) and prints its path. Secret files are never read.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

stack=prod env_file="" since=1h out="$PWD"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --stack) stack="${2:?}"; shift ;;
    --env-file) env_file="${2:?}"; shift ;;
    --since) since="${2:?}"; shift ;;
    --out) out="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker tar
select_stack "$stack"
out="$(mkdir -p "$out" && cd "$out" && pwd)"
cd "$REPO_ROOT"
dc_args=(); [[ -n "$env_file" ]] && dc_args+=(--env-file "$env_file")
dc() { compose "${dc_args[@]}" "${STACK_FILES[@]}" "$@"; }

name="regcase-diagnostics-$(hostname)-$(date -u +%Y%m%dT%H%M%SZ)"
work="$(mktemp -d)"; trap 'in_main_shell && rm -rf "$work"' EXIT
b="$work/$name"; mkdir -p "$b/logs" "$b/inspect"
# run FILE CMD...: never fail the bundle because one probe failed.
run() { local f="$1"; shift; { echo "\$ $*"; "$@"; } >>"$b/$f" 2>&1 || echo "(exit $?)" >>"$b/$f"; }

log "collecting into $name (since $since)"
run meta.txt date -u
run meta.txt uname -a
run meta.txt uptime
run meta.txt docker version
run meta.txt docker compose version
run engine.txt docker info
run engine.txt docker system df
run host.txt df -h
run host.txt free -m
run host.txt sh -c 'dmesg 2>/dev/null | grep -i -E "oom|killed process" | tail -20'
run compose-ps.txt dc ps -a
run compose-config.yml dc config
project="$(dc config --format json 2>/dev/null | sed -n 's/^ *"name": "\([^"]*\)".*/\1/p' | head -1)"
echo "project: ${project:-unknown}" >>"$b/meta.txt"

for s in $(dc config --services 2>/dev/null); do
  run "logs/$s.log" dc logs --no-color --timestamps --since "$since" "$s"
done
redact='s/("[A-Za-z0-9_]*(PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIALS?)=)[^"]*"/\1<redacted>"/g; s#(://[^:/@" ]*:)[^@" ]*@#\1<redacted>@#g'
for c in $(dc ps -a -q 2>/dev/null); do
  n="$(docker inspect -f '{{.Name}}' "$c" | tr -d /)"
  docker inspect "$c" 2>&1 | sed -E "$redact" >"$b/inspect/$n.json"
  docker inspect -f '{{.Name}} status={{.State.Status}} exit={{.State.ExitCode}} oom={{.State.OOMKilled}} restarts={{.RestartCount}} started={{.State.StartedAt}}{{if .State.Health}} health={{.State.Health.Status}}{{range .State.Health.Log}}
    {{.Start}} exit={{.ExitCode}} {{printf "%.200s" .Output}}{{end}}{{end}}' "$c" >>"$b/health.txt" 2>&1 || true
done
if [[ -n "$project" ]]; then
  timeout 10 docker events --since "$since" --until "$(date +%s)" --filter "label=com.docker.compose.project=$project" >"$b/events.txt" 2>&1 || true
fi
run stats.txt docker stats --no-stream --no-trunc

api="$(dc ps -q api 2>/dev/null | head -1 || true)"
if [[ -n "$api" ]]; then
  run app.txt docker exec "$api" /regcase version
  run app.txt docker exec "$api" /regcase healthcheck
fi
if [[ -n "$(dc ps -q postgres 2>/dev/null)" ]]; then
  q() { run postgres.txt dc exec -T postgres psql -X -U postgres -d regcase -c "$1"; }
  q "SHOW max_connections"
  q "SELECT usename, application_name, state, count(*) FROM pg_stat_activity GROUP BY 1, 2, 3 ORDER BY 4 DESC"
  q "SELECT rolname, rolconnlimit FROM pg_roles WHERE rolname LIKE 'regcase%'"
  q "SELECT pid, usename, wait_event_type, wait_event, now() - query_start AS running_for, left(query, 120) AS query FROM pg_stat_activity WHERE wait_event_type = 'Lock' OR (state = 'active' AND now() - query_start > interval '5 seconds')"
  q "SELECT pg_size_pretty(pg_database_size('regcase')) AS database_size"
  q "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
  q "SELECT count(*) AS outbox_rows FROM outbox"
fi
if [[ -n "$(dc ps -q redis 2>/dev/null)" ]]; then
  run redis.txt dc exec -T redis redis-cli -h 127.0.0.1 ping
fi
if [[ -d "$STATE_DIR" ]]; then
  run deployments.txt cat "$STATE_DIR/current/deploy.env"
  run deployments.txt tail -20 "$STATE_DIR/history.log"
fi

tar -C "$work" -czf "$out/$name.tar.gz" "$name"
chmod 0600 "$out/$name.tar.gz"
log "bundle: $(du -h "$out/$name.tar.gz" | cut -f1)"
echo "$out/$name.tar.gz"
