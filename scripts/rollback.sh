#!/usr/bin/env bash
# rollback.sh — redeploy a previously recorded release on the single production host.
#
# Usage: scripts/rollback.sh --env-file FILE (--previous | --to DEPLOYMENT_ID | --list)
#
#   --previous        the deployment before the current one (from $REGCASE_STATE_DIR/history.log)
#   --to ID           a deployment id listed by --list (deployments/<ID>/deploy.env)
#   --list            print the recorded deployments and exit
#   --no-pull, --with-observability, --smoke-url URL   passed on to deploy.sh
# Re-runs scripts/deploy.sh with the recorded image (digest reference when one was recorded),
# so the rollback gets the same config check, pull, health-gated up, smoke test and record.
#
# Migrations are forward-only: a rollback is an application rollback onto the CURRENT schema.
# It is safe when the release being rolled back only expanded the schema (expand/contract,
# ops/runbook-single-host.md); the older binary must accept a newer schema version.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

env_file="" target="" list=0 pass=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --env-file) env_file="${2:?}"; shift ;;
    --previous) target=previous ;;
    --to) target="${2:?}"; shift ;;
    --list) list=1 ;;
    --no-pull|--with-observability) pass+=("$1") ;;
    --smoke-url) pass+=("$1" "${2:?}"); shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
hist="$STATE_DIR/history.log"
[[ -s "$hist" ]] || die "no deployment history in $hist"
if [[ $list -eq 1 ]]; then
  cur="$(basename "$(readlink -f "$STATE_DIR/current" 2>/dev/null || echo none)")"
  while read -r id reason ref ver; do
    mark=" "; [[ "$id" == "$cur" ]] && mark="*"
    printf '%s %s  %-8s %-24s %s\n' "$mark" "$id" "$reason" "$ver" "$ref"
  done <"$hist"
  exit 0
fi
[[ -n "$env_file" ]] || die "--env-file is required" 64
[[ -n "$target" ]] || die "say --previous or --to ID (see --list)" 64

cur="$(basename "$(readlink -f "$STATE_DIR/current")")"
if [[ "$target" == previous ]]; then
  # the last history entry whose image differs from the current one
  cur_ref="$(awk -v c="$cur" '$1 == c {print $3}' "$hist" | tail -1)"
  target="$(awk -v r="$cur_ref" '$3 != r {id = $1} END {print id}' "$hist")"
  [[ -n "$target" ]] || die "no earlier deployment with a different image"
fi
rec="$STATE_DIR/deployments/$target/deploy.env"
[[ -r "$rec" ]] || die "no record $rec"
ref="$(sed -n 's/^IMAGE_DIGEST_REF=//p' "$rec")"
[[ -n "$ref" ]] || ref="$(sed -n 's/^REGCASE_IMAGE=//p' "$rec")"
ver="$(sed -n 's/^VERSION=//p' "$rec")"
log "rolling back from $cur to $target: $ref ($ver)"
exec "$REPO_ROOT/scripts/deploy.sh" --env-file "$env_file" --image "$ref" --reason "rollback-to-$target" "${pass[@]}"
