#!/usr/bin/env bash
# rotate-stack.sh — roll a new Swarm secret, or a changed configuration file, out to the regcase
# stack without downtime.
#
# Usage: scripts/rotate-stack.sh --env-file FILE --secret KEY (--from-file PATH | --from-stdin)
#                                [--stack NAME] [--keep-old] [--timeout S]
#        scripts/rotate-stack.sh --env-file FILE --config KEY --from-file PATH
#                                [--stack NAME] [--keep-old] [--timeout S]
#
#   --secret KEY  the stack's secret key = the file name under /run/secrets (database_url_api,
#                 redis_url, tls_cert, …); its current Swarm name is SECRET_<KEY> in FILE.
#   --config KEY  nginx_conf | redis_conf | postgres_initdb (the stack's config keys)
#   --from-file   the new value (never on the command line); --from-stdin (secrets only) reads
#                 it from stdin. For a config: the new content, e.g. an edited copy of
#                 docker/proxy/nginx.conf
#   --keep-old    do not remove the old object at the end (e.g. to keep a fast way back)
#
# Swarm secrets and configs are immutable, so a new value is a NEW object:
#   secret  <current name without version>_<UTC time>, labelled with the name it replaces;
#   config  regcase_<key>_<first 12 hex of sha256(content)>, as stack.yml names it, labelled as
#           the stack's own (a later `docker stack deploy` of the same content adopts it).
# Steps — the old object is never removed before every consumer runs on the new one:
#   1. create the new object (a config whose content is already running: nothing to do);
#   2. find the consumers: every service of the stack whose spec mounts the current secret (or
#      any version of the config);
#   3. for each consumer: `docker service update --secret-rm OLD --secret-add NEW` (--config-*
#      for a config) with the same target file, uid, gid and mode — a rolling, start-first update
#      that rolls itself back if the new tasks fail their healthcheck — and wait for it to
#      converge;
#   4. on any failure: roll the already-updated consumers back, remove the NEW object, keep the
#      old one, exit 1;
#   5. on success: record it in FILE (SECRET_<KEY>=<new name>, or <KEY>_FILE=PATH from which
#      deploy-stack.sh derives the same config name), then remove the old secret (Swarm refuses
#      while anything still uses it) or every old config version no service uses any more.
# Values that also live elsewhere need their own step BEFORE a secret rotation
# (ops/runbook-swarm.md, section 4): a database password (a second login role, or ALTER ROLE
# during a window), the Redis ACL. data_key cannot be rotated by replacing it (it wraps stored
# keys).
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/swarm.sh
source "$REPO_ROOT/scripts/lib/swarm.sh"

env_file="" kind="" key="" src="" stack="$STACK_NAME_DEFAULT" keep_old=0 timeout=600
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --env-file) env_file="${2:?}"; shift ;;
    --secret|--config)
      [[ -z "$kind" ]] || die "give one of --secret and --config" 64
      kind="${1#--}" key="${2:?}"; shift ;;
    --from-file) src="${2:?}"; shift ;;
    --from-stdin) src=- ;;
    --stack) stack="${2:?}"; shift ;;
    --keep-old) keep_old=1 ;;
    --timeout) timeout="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
[[ -n "$env_file" && -n "$kind" && -n "$src" ]] || die "--env-file, --secret or --config, and --from-file (or --from-stdin) are required (see --help)" 64
need docker
if [[ $kind == secret ]]; then
  [[ "$key" =~ ^[a-z0-9_]+$ ]] || die "secret key must look like database_url_api" 64
  [[ "$key" != data_key ]] || die "data_key wraps the stored per-report keys: it is not rotated by replacement (secrets/README.md)" 64
  [[ "$src" == - || -r "$src" ]] || die "cannot read $src" 66
else
  [[ -n "${CONFIG_FILE_VAR[$key]:-}" ]] || die "unknown config $key (one of: ${CONFIG_KEYS[*]})" 64
  [[ "$src" != - ]] || die "a config is rolled out from a file (its path is recorded in $env_file): use --from-file" 64
  [[ -r "$src" ]] || die "cannot read $src" 66
  need sha256sum
  src="$(cd "$(dirname "$src")" && pwd)/$(basename "$src")"
fi
swarm_manager_or_die

# The new name, and what a consumer's current mount must look like to be one (an awk condition on
# field 6, the mounted object's name, compared with the awk variable m).
# shellcheck disable=SC2016 # awk programs, not shell expansions
if [[ $kind == secret ]]; then
  stack_env_load "$env_file"
  var="SECRET_$(tr '[:lower:]' '[:upper:]' <<<"$key")"
  old="$(stack_env_get "$var")"
  [[ -n "$old" ]] || die "$var is not set in $env_file" 64
  docker secret inspect "$old" >/dev/null 2>&1 || die "the current secret $old does not exist"
  base="$old"
  [[ "$base" =~ ^(.*)_(v[0-9]+|[0-9]{8}T[0-9]{6}Z)$ ]] && base="${BASH_REMATCH[1]}"
  new="${base}_$(date -u +%Y%m%dT%H%M%SZ)"
  [[ "$new" != "$old" ]] || { sleep 1; new="${base}_$(date -u +%Y%m%dT%H%M%SZ)"; }
  mounts=Secrets name_field=SecretName match='$6 == m' pattern="$old"
else
  var="${CONFIG_FILE_VAR[$key]}"
  new="regcase_${key}_$(content_version "$src")"
  mounts=Configs name_field=ConfigName match='index($6, m) == 1' pattern="regcase_${key}_"
fi

# 2. consumers: "service target uid gid mode current-name"
mapfile -t consumers < <(docker service ls -q --filter "label=com.docker.stack.namespace=$stack" | while read -r id; do
  docker service inspect -f '{{$n := .Spec.Name}}{{range .Spec.TaskTemplate.ContainerSpec.'"$mounts"'}}{{if .File}}{{$n}} {{.File.Name}} {{.File.UID}} {{.File.GID}} {{printf "%o" .File.Mode}} {{.'"$name_field"'}}{{"\n"}}{{end}}{{end}}' "$id"
done | awk -v m="$pattern" "$match")
[[ ${#consumers[@]} -gt 0 ]] || die "no service of stack $stack mounts $pattern"
todo=()
for c in "${consumers[@]}"; do [[ "${c##* }" == "$new" ]] || todo+=("$c"); done
if [[ ${#todo[@]} -eq 0 ]]; then
  log "every consumer already runs $new: nothing to do"
  exit 0
fi
log "consumers: $(printf '%s ' "${todo[@]%% *}")"

# 1. the new object (created after the consumer check: nothing is left behind when there is none)
created=0
if [[ $kind == secret ]]; then
  docker secret create --label "org.regcase.replaces=$old" "$new" "$src" >/dev/null
  created=1
  log "created secret $new (replaces $old)"
elif ! docker config inspect "$new" >/dev/null 2>&1; then
  docker config create --label "com.docker.stack.namespace=$stack" --label "org.regcase.config=$key" "$new" "$src" >/dev/null
  created=1
  log "created config $new"
fi

# 3. roll each consumer onto the new object
done_svcs=()
undo() {
  local s
  warn "rotation failed: rolling back ${done_svcs[*]:-nothing}; the old $kind stays"
  for s in "${done_svcs[@]}"; do docker service rollback -d "$s" >/dev/null 2>&1 || true; done
  [[ ${#done_svcs[@]} -eq 0 ]] || WAIT_ROLLBACK_OK=1 wait_converged "$timeout" "${done_svcs[@]}" || true
  [[ $created -eq 0 ]] || docker "$kind" rm "$new" >/dev/null 2>&1 || warn "could not remove $new (still referenced?)"
  exit 1
}
t0=$SECONDS
for c in "${todo[@]}"; do
  read -r svc target uid gid mode cur <<<"$c"
  log "updating $svc: $cur -> $new (target $target, mode $mode)"
  docker service update -d "--$kind-rm" "$cur" \
    "--$kind-add" "source=$new,target=$target,uid=$uid,gid=$gid,mode=0$mode" "$svc" >/dev/null || undo
  done_svcs+=("$svc")
  rc=0; wait_converged "$timeout" "$svc" || rc=$?
  [[ $rc -eq 0 ]] || undo
done
log "every consumer runs $new ($((SECONDS - t0)) s)"

# 5. record, then remove the old object(s)
value="$new"
if [[ $kind == config ]]; then
  value="$src"
  [[ "$src" == "$REPO_ROOT"/* ]] && value="./${src#"$REPO_ROOT"/}"
fi
set_env_line "$env_file" "$var" "$value"
log "$env_file: $var=$value"
if [[ $keep_old -eq 1 ]]; then
  log "--keep-old: the old $kind kept (docker $kind ls; remove it later with docker $kind rm)"
elif [[ $kind == secret ]]; then
  docker secret rm "$old" >/dev/null || die "could not remove $old (still in use?)"
  log "removed the old secret $old"
else
  in_use="$(docker service ls -q | xargs -r docker service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Configs}}{{.ConfigName}} {{end}}')"
  for c in $(docker config ls --format '{{.Name}}' | grep "^$pattern" || true); do
    [[ "$c" == "$new" ]] && continue
    if grep -qw -- "$c" <<<"$in_use"; then continue; fi
    docker config rm "$c" >/dev/null && log "removed the unused old config $c"
  done
fi
if [[ $kind == secret ]]; then echo "rotated secret $key: $old -> $new"; else echo "rolled out config $key as $new"; fi
