#!/usr/bin/env bash
# rotate-secret-stack.sh — rotate one Swarm secret of the regcase stack without downtime.
#
# Usage: scripts/rotate-secret-stack.sh --env-file FILE --secret KEY (--from-file PATH | --from-stdin)
#                                       [--stack NAME] [--keep-old] [--timeout S]
#
#   KEY           the stack's secret key = the file name under /run/secrets (database_url_api,
#                 redis_url, tls_cert, …); its current Swarm name is SECRET_<KEY> in FILE.
#   --from-file   the new value (never on the command line); --from-stdin reads it from stdin
#   --keep-old    do not remove the old secret at the end (e.g. to keep a fast way back)
#
# Steps — the old secret is never removed before every consumer runs on the new one:
#   1. create the new secret under a new versioned name <name>_<UTC time> (labelled with the
#      name it replaces);
#   2. find the consumers: every service whose spec mounts the current secret;
#   3. for each consumer: `docker service update --secret-rm OLD --secret-add NEW` with the same
#      target file, uid, gid and mode — a rolling, start-first update that rolls itself back if
#      the new tasks fail their healthcheck — and wait for it to converge;
#   4. on any failure: roll the already-updated consumers back, remove the NEW secret, keep the
#      old one, exit 1;
#   5. on success: write SECRET_<KEY>=<new name> into FILE (the next deploy-stack.sh uses it),
#      then remove the old secret (Swarm refuses while anything still uses it).
# Values that also live elsewhere need their own step BEFORE this one (ops/runbook-swarm.md, section 4):
# a database password (a second login role, or ALTER ROLE during a window), the Redis ACL.
# data_key cannot be rotated by replacing it (it wraps stored keys).
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/swarm.sh
source "$REPO_ROOT/scripts/lib/swarm.sh"

env_file="" key="" src="" stack="$STACK_NAME_DEFAULT" keep_old=0 timeout=600
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --env-file) env_file="${2:?}"; shift ;;
    --secret) key="${2:?}"; shift ;;
    --from-file) src="${2:?}"; shift ;;
    --from-stdin) src=- ;;
    --stack) stack="${2:?}"; shift ;;
    --keep-old) keep_old=1 ;;
    --timeout) timeout="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
[[ -n "$env_file" && -n "$key" && -n "$src" ]] || die "--env-file, --secret and --from-file/--from-stdin are required (see --help)" 64
[[ "$key" =~ ^[a-z0-9_]+$ ]] || die "secret key must look like database_url_api" 64
[[ "$key" != data_key ]] || die "data_key wraps the stored per-report keys: it is not rotated by replacement (secrets/README.md)" 64
need docker
swarm_manager_or_die
stack_env_load "$env_file"
var="SECRET_$(tr '[:lower:]' '[:upper:]' <<<"$key")"
old="$(stack_env_get "$var")"
[[ -n "$old" ]] || die "$var is not set in $env_file" 64
docker secret inspect "$old" >/dev/null 2>&1 || die "the current secret $old does not exist"

base="$old"
[[ "$base" =~ ^(.*)_(v[0-9]+|[0-9]{8}T[0-9]{6}Z)$ ]] && base="${BASH_REMATCH[1]}"
new="${base}_$(date -u +%Y%m%dT%H%M%SZ)"
[[ "$new" != "$old" ]] || { sleep 1; new="${base}_$(date -u +%Y%m%dT%H%M%SZ)"; }

# 1. the new secret
if [[ "$src" == - ]]; then
  docker secret create --label "org.regcase.replaces=$old" "$new" - >/dev/null
else
  [[ -r "$src" ]] || die "cannot read $src"
  docker secret create --label "org.regcase.replaces=$old" "$new" "$src" >/dev/null
fi
log "created secret $new (replaces $old)"

# 2. consumers: services that mount the old secret, with their mount options
mapfile -t consumers < <(docker service ls -q --filter "label=com.docker.stack.namespace=$stack" | while read -r id; do
  docker service inspect -f '{{$n := .Spec.Name}}{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{if eq .SecretName "'"$old"'"}}{{$n}} {{.File.Name}} {{.File.UID}} {{.File.GID}} {{printf "%o" .File.Mode}}{{"\n"}}{{end}}{{end}}' "$id"
done | grep . || true)
[[ ${#consumers[@]} -gt 0 ]] || { docker secret rm "$new" >/dev/null; die "no service of stack $stack uses $old"; }
log "consumers: $(printf '%s ' "${consumers[@]%% *}")"

# 3. roll each consumer onto the new secret
done_svcs=()
undo() {
  local s
  warn "rotation failed: rolling back ${done_svcs[*]:-nothing} and removing $new; $old stays"
  for s in "${done_svcs[@]}"; do docker service rollback -d "$s" >/dev/null 2>&1 || true; done
  [[ ${#done_svcs[@]} -eq 0 ]] || WAIT_ROLLBACK_OK=1 wait_converged "$timeout" "${done_svcs[@]}" || true
  docker secret rm "$new" >/dev/null 2>&1 || warn "could not remove $new (still referenced?)"
  exit 1
}
t0=$SECONDS
for c in "${consumers[@]}"; do
  read -r svc file uid gid mode <<<"$c"
  log "updating $svc: $old -> $new (target $file, mode $mode)"
  docker service update -d --secret-rm "$old" \
    --secret-add "source=$new,target=$file,uid=$uid,gid=$gid,mode=0$mode" "$svc" >/dev/null || undo
  done_svcs+=("$svc")
  rc=0; wait_converged "$timeout" "$svc" || rc=$?
  [[ $rc -eq 0 ]] || undo
done
log "every consumer runs on $new ($((SECONDS - t0)) s)"

# 5. record, then remove the old one
set_env_line "$env_file" "$var" "$new"
log "$env_file: $var=$new"
if [[ $keep_old -eq 1 ]]; then
  log "--keep-old: $old kept (remove it later: docker secret rm $old)"
else
  docker secret rm "$old" >/dev/null || die "could not remove $old (still in use?)"
  log "removed the old secret $old"
fi
echo "rotated $key: $old -> $new"
