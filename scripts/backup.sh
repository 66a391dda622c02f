#!/usr/bin/env bash
# backup.sh — consistent PostgreSQL backup of regcase: pg_dump custom format + SHA-256 + row counts.
#
# Usage: scripts/backup.sh [--stack prod|dev|test] [--env-file FILE] [--out DIR] [--quiet]
#
#   --stack S     which Compose files (default prod: compose.yml + compose.prod.yml)
#   --env-file F  env file of that stack (required for prod)
#   --out DIR     where to write (default ./backups, or $REGCASE_BACKUP_DIR)
# Writes DIR/regcase-<UTC>.dump (pg_dump -Fc, run inside the postgres container as the local
# superuser, nothing leaves the data network), DIR/regcase-<UTC>.dump.sha256 (sha256sum format)
# and DIR/regcase-<UTC>.meta: exact row counts of every table taken in the SAME snapshot as the
# dump (pg_export_snapshot), the applied migrations and the server version, so that
# scripts/restore-drill.sh can prove a restore row for row. Prints the dump path.
# Copy the three files off the host (the runbook's off-host step); keep secrets/data_key and the
# audit public keys backed up separately: the dump's reporter PII is unreadable without the key.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

stack=prod env_file="" out="${REGCASE_BACKUP_DIR:-$REPO_ROOT/backups}" quiet=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --stack) stack="${2:?}"; shift ;;
    --env-file) env_file="${2:?}"; shift ;;
    --out) out="${2:?}"; shift ;;
    --quiet) quiet=1 ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker sha256sum
use_stack "$stack" "$env_file"
pgc=(exec -T postgres)

mkdir -p "$out"; chmod 0700 "$out" 2>/dev/null || true
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
base="$out/regcase-$stamp"
t0=$(date +%s%N)

# One read-only REPEATABLE READ transaction exports its snapshot; pg_dump and the row counts
# both use it, so the counts describe exactly what is in the dump.
coproc PSQL { dc "${pgc[@]}" psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres -d regcase 2>&1; }
exec {to_psql}>&"${PSQL[1]}" {from_psql}<&"${PSQL[0]}"
printf 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();\n' >&"$to_psql"
read -r -t 60 snapshot <&"$from_psql" || die "could not open a snapshot in PostgreSQL"
[[ "$snapshot" =~ ^[0-9A-F-]+$ ]] || die "unexpected answer from psql: $snapshot"

dc "${pgc[@]}" pg_dump -U postgres -d regcase --format=custom --compress=6 --snapshot="$snapshot" >"$base.dump.tmp"
printf '%s\nSELECT %s;\n' "$COUNT_ROWS_SQL" "'__end__'" >&"$to_psql"
counts=()
while read -r -t 300 line <&"$from_psql"; do
  [[ "$line" == __end__ ]] && break
  counts+=("$line")
done
printf 'COMMIT;\n\\q\n' >&"$to_psql"
exec {to_psql}>&-
wait "$PSQL_PID" 2>/dev/null || true
[[ ${#counts[@]} -gt 0 ]] || die "no row counts read"

mv "$base.dump.tmp" "$base.dump"
(cd "$out" && sha256sum "$(basename "$base.dump")" >"$(basename "$base.dump").sha256")
{
  echo "# regcase backup metadata (scripts/backup.sh)"
  echo "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "SNAPSHOT=$snapshot"
  echo "STACK=$stack"
  echo "SERVER_VERSION=$(dc "${pgc[@]}" psql -X -A -t -U postgres -d regcase -c 'SHOW server_version' | tr -d '\r')"
  echo "MIGRATIONS=$(dc "${pgc[@]}" psql -X -A -t -U postgres -d regcase -c "SELECT coalesce(string_agg(version::text, ',' ORDER BY version), '') FROM schema_migrations" 2>/dev/null | tr -d '\r')"
  echo "DUMP_BYTES=$(stat -c %s "$base.dump")"
  echo "DURATION_MS=$(( ($(date +%s%N) - t0) / 1000000 ))"
  for c in "${counts[@]}"; do echo "ROWS_${c}"; done
} >"$base.meta"
chmod 0600 "$base.dump" "$base.dump.sha256" "$base.meta"
[[ $quiet -eq 1 ]] || log "backup: $base.dump ($(stat -c %s "$base.dump") bytes, ${#counts[@]} tables, $(( ($(date +%s%N) - t0) / 1000000 )) ms)"
echo "$base.dump"
