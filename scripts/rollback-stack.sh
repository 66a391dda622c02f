#!/usr/bin/env bash
# rollback-stack.sh — roll regcase on Docker Swarm back to the previous release.
#
# Usage: scripts/rollback-stack.sh [--stack NAME] [--service SVC]... [--timeout S]
#                                  [--smoke-url URL] [--insecure] [--no-smoke]
#        scripts/rollback-stack.sh --to-release IMAGE|--previous --env-file FILE [--stack NAME] …
#        scripts/rollback-stack.sh --list [--stack NAME]
#
#   (default)        `docker service rollback` of api and worker (or the --service list): each
#                    returns to the spec it had before its last update (image, secrets, configs,
#                    environment), one task at a time, start-first; then waits for convergence
#                    and smoke-tests. This is what Swarm already did by itself when a rollout
#                    failed its healthchecks; use it for a release that is healthy but wrong.
#   --previous       redeploy the last release recorded as "ok" in the deployment history before
#                    the current one, through scripts/deploy-stack.sh --no-migrate (needs
#                    --env-file). Use it when the previous *spec* is not the release you want
#                    (several updates since) or the stack file changed.
#   --to-release REF redeploy that image the same way.
#   --list           print the deployment history (time, result, image, image id, digest, release).
#   --stack NAME     default: $REGCASE_STACK or regcase
#   --smoke-url URL  default https://127.0.0.1:<REGCASE_HTTPS_PORT of --env-file, else 443>
#
# The schema is never rolled back: migrations are expand/contract, so the previous release runs
# on the current schema (README.md "Database migrations"). Records go to
# $REGCASE_STATE_DIR/stack/NAME/history.tsv like deploy-stack.sh's. Exit 0 when rolled back and
# smoke-tested; 1 otherwise; 64 usage.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/swarm.sh
source "$REPO_ROOT/scripts/lib/swarm.sh"

stack="$STACK_NAME_DEFAULT" services=() timeout=600 smoke=1 smoke_url="" insecure=() mode=spec
env_file="" target="" extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --stack) stack="${2:?}"; shift ;;
    --service) services+=("${2:?}"); shift ;;
    --timeout) timeout="${2:?}"; shift ;;
    --smoke-url) smoke_url="${2:?}"; shift ;;
    --insecure) insecure=(--insecure) ;;
    --no-smoke) smoke=0 ;;
    --previous) mode=previous ;;
    --to-release) mode=release; target="${2:?}"; shift ;;
    --env-file) env_file="${2:?}"; shift ;;
    --list) mode=list ;;
    --accept|--resolve-image) extra+=("$1" "${2:?}"); shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
state="$(stack_state_dir "$stack")"
history="$state/history.tsv"

case "$mode" in
  list)
    [[ -s "$history" ]] || die "no deployment recorded for stack $stack ($history)" 1
    printf 'time\tresult\timage\timage_id\tdigest\trelease\n'; cat "$history"
    exit 0 ;;
  previous|release)
    [[ -n "$env_file" ]] || die "--previous/--to-release need --env-file (the deployment's variables)" 64
    if [[ $mode == previous ]]; then
      [[ -s "$history" ]] || die "no deployment history for stack $stack ($history)"
      current="$(service_image "${stack}_api" || true)"
      target="$(awk -F'\t' -v cur="$current" '$2 == "ok" && $3 != cur {img=$3} END {print img}' "$history")"
      [[ -n "$target" ]] || die "no earlier successful release than $current in $history"
    fi
    log "redeploying $target (no migration: the schema stays, expand/contract)"
    args=(--env-file "$env_file" --stack "$stack" --image "$target" --no-migrate --timeout "$timeout" "${insecure[@]}" "${extra[@]}")
    [[ $smoke -eq 1 ]] || args+=(--no-smoke)
    [[ -n "$smoke_url" ]] && args+=(--smoke-url "$smoke_url")
    exec "$REPO_ROOT/scripts/deploy-stack.sh" "${args[@]}" ;;
esac

need docker
swarm_manager_or_die
[[ ${#services[@]} -gt 0 ]] || services=("${APP_SERVICES[@]}")
full=()
for s in "${services[@]}"; do
  [[ "$s" == "$stack"_* ]] || s="${stack}_$s"
  service_exists "$s" || die "no service $s"
  docker service inspect -f '{{if .PreviousSpec}}yes{{end}}' "$s" | grep -q yes || die "$s has no previous spec to roll back to"
  full+=("$s")
done
t0=$SECONDS
for s in "${full[@]}"; do
  from="$(service_image "$s")"
  log "rolling back $s (now $from)"
  docker service rollback -d "$s" >/dev/null
done
rc=0
WAIT_ROLLBACK_OK=1 wait_converged "$timeout" "${full[@]}" || rc=$?
[[ $rc -eq 0 ]] || die "rollback did not converge (code $rc): ops/runbook-swarm.md, section 3"
for s in "${full[@]}"; do log "$s now runs $(service_image "$s")"; done
log "rolled back in $((SECONDS - t0)) s"
if [[ $smoke -eq 1 ]]; then
  if [[ -z "$smoke_url" ]]; then
    port=443
    if [[ -n "$env_file" ]]; then stack_env_load "$env_file"; port="$(stack_env_get REGCASE_HTTPS_PORT)"; fi
    smoke_url="https://127.0.0.1:${port:-443}"
  fi
  "$REPO_ROOT/scripts/smoke-test.sh" --url "$smoke_url" "${insecure[@]}" --retries 15 || die "smoke test failed after the rollback"
fi
mkdir -p "$state"
img="$(service_image "${full[0]}")"
printf '%s\trollback\t%s\t%s\t%s\t%s\n' "$(date -u +%Y%m%dT%H%M%SZ)" "$img" \
  "$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || echo '?')" "-" \
  "$(docker service inspect -f '{{index .Spec.Labels "org.regcase.release"}}' "${full[0]}")" >>"$history"
echo "rolled back ${full[*]}"
