#!/usr/bin/env bash
# rotate-config-stack.sh — roll a changed configuration file out to the regcase stack on Swarm.
#
# Usage: scripts/rotate-config-stack.sh --env-file FILE --config KEY --file PATH
#                                       [--stack NAME] [--keep-old] [--timeout S]
#
#   KEY     nginx_conf | redis_conf | postgres_initdb (the stack's config keys)
#   PATH    the new content (e.g. an edited copy of docker/proxy/nginx.conf)
#
# Swarm configs are immutable, so a configuration change is a NEW config object, named like
# stack.yml names it: regcase_<key>_<first 12 hex of sha256(content)>. Steps:
#   1. create the new config (labelled as the stack's own, so a later `docker stack deploy` of
#      the same content adopts it);
#   2. for each service that mounts a version of KEY: `docker service update --config-rm OLD
#      --config-add NEW` with the same target and mode — a rolling update that rolls itself
#      back when the new tasks fail their healthcheck — and wait for convergence;
#   3. on failure: roll back the consumers already updated, remove the new config, keep the old
#      one, exit 1;
#   4. on success: write <KEY>_FILE=PATH into FILE (deploy-stack.sh derives the same name from
#      it next time), then remove the old versions that no service uses any more.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/swarm.sh
source "$REPO_ROOT/scripts/lib/swarm.sh"

env_file="" key="" file="" stack="$STACK_NAME_DEFAULT" keep_old=0 timeout=600
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --env-file) env_file="${2:?}"; shift ;;
    --config) key="${2:?}"; shift ;;
    --file) file="${2:?}"; shift ;;
    --stack) stack="${2:?}"; shift ;;
    --keep-old) keep_old=1 ;;
    --timeout) timeout="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
[[ -n "$env_file" && -n "$key" && -n "$file" ]] || die "--env-file, --config and --file are required (see --help)" 64
[[ -n "${CONFIG_FILE_VAR[$key]:-}" ]] || die "unknown config $key (one of: ${CONFIG_KEYS[*]})" 64
[[ -r "$file" ]] || die "cannot read $file" 66
need docker sha256sum
swarm_manager_or_die
file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"

new="regcase_${key}_$(content_version "$file")"
prefix="regcase_${key}_"
# consumers: "service target uid gid mode current-name"
mapfile -t consumers < <(docker service ls -q --filter "label=com.docker.stack.namespace=$stack" | while read -r id; do
  docker service inspect -f '{{$n := .Spec.Name}}{{range .Spec.TaskTemplate.ContainerSpec.Configs}}{{if .File}}{{$n}} {{.File.Name}} {{.File.UID}} {{.File.GID}} {{printf "%o" .File.Mode}} {{.ConfigName}}{{"\n"}}{{end}}{{end}}' "$id"
done | awk -v p="$prefix" 'index($6, p) == 1')
[[ ${#consumers[@]} -gt 0 ]] || die "no service of stack $stack mounts a $key config"
todo=()
for c in "${consumers[@]}"; do [[ "${c##* }" == "$new" ]] || todo+=("$c"); done
if [[ ${#todo[@]} -eq 0 ]]; then
  log "every consumer already runs $new: nothing to do"
  exit 0
fi

created=0
if ! docker config inspect "$new" >/dev/null 2>&1; then
  docker config create --label "com.docker.stack.namespace=$stack" --label "org.regcase.config=$key" "$new" "$file" >/dev/null
  created=1
  log "created config $new"
fi
done_svcs=()
undo() {
  local s
  warn "config rollout failed: rolling back ${done_svcs[*]:-nothing}; the old config stays"
  for s in "${done_svcs[@]}"; do docker service rollback -d "$s" >/dev/null 2>&1 || true; done
  [[ ${#done_svcs[@]} -eq 0 ]] || WAIT_ROLLBACK_OK=1 wait_converged "$timeout" "${done_svcs[@]}" || true
  [[ $created -eq 0 ]] || docker config rm "$new" >/dev/null 2>&1 || true
  exit 1
}
t0=$SECONDS
for c in "${todo[@]}"; do
  read -r svc target uid gid mode old <<<"$c"
  log "updating $svc: $old -> $new ($target)"
  docker service update -d --config-rm "$old" \
    --config-add "source=$new,target=$target,uid=$uid,gid=$gid,mode=0$mode" "$svc" >/dev/null || undo
  done_svcs+=("$svc")
  rc=0; wait_converged "$timeout" "$svc" || rc=$?
  [[ $rc -eq 0 ]] || undo
done
log "every consumer runs $new ($((SECONDS - t0)) s)"
rel="$file"
[[ "$file" == "$REPO_ROOT"/* ]] && rel="./${file#"$REPO_ROOT"/}"
set_env_line "$env_file" "${CONFIG_FILE_VAR[$key]}" "$rel"
log "$env_file: ${CONFIG_FILE_VAR[$key]}=$rel"
if [[ $keep_old -eq 0 ]]; then
  in_use="$(docker service ls -q | xargs -r docker service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Configs}}{{.ConfigName}} {{end}}')"
  for c in $(docker config ls --format '{{.Name}}' | grep "^$prefix" || true); do
    [[ "$c" == "$new" ]] && continue
    if grep -qw -- "$c" <<<"$in_use"; then continue; fi
    docker config rm "$c" >/dev/null && log "removed the unused old config $c"
  done
fi
echo "rolled out $key as $new"
