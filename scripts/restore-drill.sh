#!/usr/bin/env bash
# restore-drill.sh — prove that a backup restores: restore into a scratch database, compare
# every table's row count with the backup, verify the audit chain, drop the scratch database.
#
# Usage: scripts/restore-drill.sh [--stack prod|dev|test] [--env-file FILE] [--file DUMP]
#                                 [--keep-db] [--record DIR]
#
#   --file DUMP   drill this backup (default: take a fresh one with scripts/backup.sh)
#   --keep-db     leave the scratch database regcase_drill_<time> for inspection
#   --record DIR  where to write the drill record (default dist/drills)
# No downtime and no change to the live database: the scratch database lives beside it in the
# same PostgreSQL. The audit chain is verified by the regcase binary itself (`regcase audit
# verify`, run as a one-shot container of the api service with its DATABASE_URL pointed at the
# scratch database and the api's own read privileges), including signed checkpoints against
# REGCASE_AUDIT_PUBLIC_KEY. Prints durations; exit 1 if anything differs or fails to verify.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

stack=prod env_file="" file="" keep=0 record="$REPO_ROOT/dist/drills"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --stack) stack="${2:?}"; shift ;;
    --env-file) env_file="${2:?}"; shift ;;
    --file) file="${2:?}"; shift ;;
    --keep-db) keep=1 ;;
    --record) record="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker sha256sum
use_stack "$stack" "$env_file"
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

secrets_dir="${REGCASE_SECRETS_DIR:-}"
if [[ -z "$secrets_dir" && -n "$env_file" ]]; then secrets_dir="$(sed -n 's/^REGCASE_SECRETS_DIR=//p' "$env_file" | tail -1)"; fi
secrets_dir="${secrets_dir:-./secrets}"
[[ "$secrets_dir" == /* ]] || secrets_dir="$REPO_ROOT/$secrets_dir"
[[ -r "$secrets_dir/pg_api_password" ]] || die "cannot read $secrets_dir/pg_api_password"

T0=$(date +%s%N)
if [[ -z "$file" ]]; then
  t=$(date +%s%N)
  args=(--stack "$stack" --quiet); [[ -n "$env_file" ]] && args+=(--env-file "$env_file")
  file="$("$REPO_ROOT/scripts/backup.sh" "${args[@]}" | tail -1)"
  backup_ms=$(ms_since "$t")
  log "backup $file in ${backup_ms} ms"
else
  backup_ms=0
fi
file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
meta="${file%.dump}.meta"
(cd "$(dirname "$file")" && sha256sum -c --quiet "$(basename "$file").sha256") || die "checksum mismatch: $file"
[[ -r "$meta" ]] || die "no $meta: a drill needs the row counts taken with the dump"

db="regcase_drill_$(date -u +%Y%m%d%H%M%S)"
work="$(mktemp -d)"; chmod 0700 "$work"
cleanup() {
  in_main_shell || return 0
  rm -rf "$work"
  if [[ $keep -eq 0 ]]; then
    dc exec -T postgres dropdb -U postgres --if-exists "$db" >/dev/null 2>&1 || true
  else
    log "--keep-db: scratch database $db left in place"
  fi
}
trap cleanup EXIT

t=$(date +%s%N)
dc exec -T postgres createdb -U postgres -O regcase_owner "$db"
dc exec -T postgres pg_restore -U postgres -d "$db" --single-transaction --exit-on-error <"$file"
restore_ms=$(ms_since "$t")
log "restored into scratch database $db in ${restore_ms} ms"

t=$(date +%s%N)
tables=0 rows=0 mismatch=0
while IFS='=' read -r table n; do
  want="$(sed -n "s/^ROWS_${table}=//p" "$meta")"
  if [[ "$want" != "$n" ]]; then warn "$table: restored $n rows, backup had ${want:-none}"; mismatch=1; fi
  tables=$((tables + 1)); rows=$((rows + n))
done < <(dc exec -T postgres psql -X -A -t -U postgres -d "$db" -c "$COUNT_ROWS_SQL" | tr -d '\r')
expected_tables="$(grep -c '^ROWS_' "$meta")"
[[ $tables -eq $expected_tables ]] || { warn "restored $tables tables, backup had $expected_tables"; mismatch=1; }
compare_ms=$(ms_since "$t")
reports="$(sed -n 's/^ROWS_reports=//p' "$meta")"

# The binary verifies the restored chain. Its connection string is a file mounted read-only.
printf 'postgres://regcase_api:%s@postgres:5432/%s?sslmode=disable' "$(<"$secrets_dir/pg_api_password")" "$db" >"$work/url"
chmod 0444 "$work/url"
t=$(date +%s%N)
verify_rc=0
dc run --rm --no-deps -T -v "$work/url:/run/secrets/drill_database_url:ro" \
  -e DATABASE_URL_FILE=/run/secrets/drill_database_url -e REGCASE_DB_MAX_CONNS=2 \
  api audit verify >"$work/verify.out" 2>&1 || verify_rc=$?
verify_ms=$(ms_since "$t")
total_ms=$(ms_since "$T0")

mkdir -p "$record"
rec="$record/restore-drill-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "restore drill $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), stack $stack"
  echo "backup:          $(basename "$file") ($(stat -c %s "$file") bytes), sha256 ok"
  echo "tables compared: $tables (backup: $expected_tables), rows: $rows, reports: ${reports:-?}, mismatches: $mismatch"
  echo "audit verify:    exit $verify_rc"
  sed 's/^/  | /' "$work/verify.out" | tail -20
  echo "durations (ms):  backup $backup_ms, restore $restore_ms, compare $compare_ms, verify $verify_ms, total $total_ms"
} | tee "$rec"
if [[ $mismatch -ne 0 || $verify_rc -ne 0 ]]; then
  die "restore drill FAILED (record: $rec)"
fi
log "restore drill passed (record: $rec)"
