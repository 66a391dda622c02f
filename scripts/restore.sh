#!/usr/bin/env bash
# restore.sh — restore a backup made by scripts/backup.sh into the live regcase database.
#
# Usage: scripts/restore.sh --file DUMP [--stack prod|dev|test] [--env-file FILE] --yes
#
# DESTRUCTIVE: the current contents of the regcase database are replaced. Steps:
#   1. verify DUMP against DUMP.sha256
#   2. stop api and worker (the proxy answers 502 meanwhile: announce the maintenance)
#   3. pg_restore --clean --if-exists --single-transaction --exit-on-error as the local
#      superuser inside the postgres container (roles already exist; ownership is kept)
#   4. compare every table's row count with DUMP's .meta (taken in the dump's snapshot)
#   5. start api and worker again, wait for health
# Rehearse with scripts/restore-drill.sh (scratch database, no downtime) before you need this.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

stack=prod env_file="" file="" yes=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --file) file="${2:?}"; shift ;;
    --stack) stack="${2:?}"; shift ;;
    --env-file) env_file="${2:?}"; shift ;;
    --yes) yes=1 ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker sha256sum
select_stack "$stack"
[[ -n "$file" && -r "$file" ]] || die "--file DUMP is required and must be readable" 64
[[ $stack != prod || -n "$env_file" ]] || die "--env-file is required for the prod stack" 64
[[ $yes -eq 1 ]] || die "this replaces the live database: add --yes when you mean it" 64
file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
cd "$REPO_ROOT"
dc_args=(); [[ -n "$env_file" ]] && dc_args+=(--env-file "$env_file")
dc() { compose "${dc_args[@]}" "${STACK_FILES[@]}" "$@"; }

log "1/5 checksum"
(cd "$(dirname "$file")" && sha256sum -c --quiet "$(basename "$file").sha256") || die "checksum mismatch: $file"
meta="${file%.dump}.meta"

log "2/5 stop api and worker"
dc stop api worker

log "3/5 pg_restore (single transaction)"
t0=$(date +%s)
dc exec -T postgres pg_restore -U postgres -d regcase --clean --if-exists --single-transaction \
  --exit-on-error <"$file"
log "restored in $(( $(date +%s) - t0 )) s"

log "4/5 row counts"
if [[ -r "$meta" ]]; then
  mismatch=0
  while IFS='=' read -r table rows; do
    want="$(sed -n "s/^ROWS_${table}=//p" "$meta")"
    [[ -z "$want" || "$want" == "$rows" ]] || { warn "$table: $rows rows, backup had $want"; mismatch=1; }
  done < <(dc exec -T postgres psql -X -A -t -U postgres -d regcase -c "$COUNT_ROWS_SQL" | tr -d '\r')
  [[ $mismatch -eq 0 ]] || die "row counts differ from the backup's"
else
  warn "no $meta: row counts not compared"
fi

log "5/5 start api and worker"
dc up -d --wait --wait-timeout 180 api worker
log "restore of $(basename "$file") complete; run scripts/smoke-test.sh and \`regcase audit verify\` next"
