# shellcheck shell=bash
# Helpers of the Swarm scripts (deploy-stack, rollback-stack, rotate-stack, drill-swarm).
# Sourced after lib/common.sh, never executed.

STACK_FILE="${STACK_FILE:-$REPO_ROOT/stack.yml}"
STACK_NAME_DEFAULT="${REGCASE_STACK:-regcase}"
# Services that run the application image and roll on a release.
APP_SERVICES=(api worker)
# Config key -> variable holding its file, relative to the repository (stack.yml's directory).
CONFIG_KEYS=(nginx_conf redis_conf postgres_initdb)
declare -A CONFIG_FILE_VAR=([nginx_conf]=NGINX_CONF_FILE [redis_conf]=REDIS_CONF_FILE [postgres_initdb]=POSTGRES_INITDB_FILE)
declare -A CONFIG_VERSION_VAR=([nginx_conf]=NGINX_CONF_VERSION [redis_conf]=REDIS_CONF_VERSION [postgres_initdb]=POSTGRES_INITDB_VERSION)
declare -A CONFIG_DEFAULT_FILE=([nginx_conf]=./docker/proxy/nginx.conf [redis_conf]=./deploy/redis/redis.conf [postgres_initdb]=./deploy/postgres/initdb/10-regcase-roles.sh)
# Which services mount which config/secret (the stack file's own map, for targeted rotation).
declare -A CONFIG_CONSUMERS=([nginx_conf]="proxy" [redis_conf]="redis" [postgres_initdb]="postgres")
declare -A CONFIG_TARGET=([nginx_conf]=/etc/nginx/nginx.conf [redis_conf]=/etc/regcase/redis.conf [postgres_initdb]=/docker-entrypoint-initdb.d/10-regcase-roles.sh)
declare -A CONFIG_MODE=([nginx_conf]=0444 [redis_conf]=0444 [postgres_initdb]=0555)

# STACK_ENV: KEY=VALUE words of the deployment (env file + overrides), the ONLY environment the
# stack file is interpolated with (nothing leaks in from the caller's shell).
STACK_ENV=()

# stack_env_load FILE: reads KEY=VALUE lines (no shell evaluation; optional surrounding quotes).
stack_env_load() {
  local file="$1" line key val
  [[ -r "$file" ]] || die "cannot read env file $file" 66
  STACK_ENV=()
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || die "$file: not KEY=VALUE: $line" 65
    key="${BASH_REMATCH[1]}" val="${BASH_REMATCH[2]}"
    if [[ "$val" =~ ^\"(.*)\"$ || "$val" =~ ^\'(.*)\'$ ]]; then val="${BASH_REMATCH[1]}"; fi
    STACK_ENV+=("$key=$val")
  done <"$file"
}

# stack_env_get KEY: the value in STACK_ENV (last one wins), empty when unset.
stack_env_get() {
  local kv v=""
  for kv in "${STACK_ENV[@]}"; do [[ "${kv%%=*}" == "$1" ]] && v="${kv#*=}"; done
  printf '%s' "$v"
}

# stack_env_set KEY VALUE: override (appended: last one wins).
stack_env_set() { STACK_ENV+=("$1=$2"); }

# senv CMD...: run CMD with only PATH/HOME/DOCKER_* and STACK_ENV in its environment.
senv() {
  env -i PATH="$PATH" HOME="$HOME" ${DOCKER_CONFIG:+DOCKER_CONFIG="$DOCKER_CONFIG"} \
    ${DOCKER_HOST:+DOCKER_HOST="$DOCKER_HOST"} "${STACK_ENV[@]}" "$@"
}

# config_file KEY: absolute path of a config's source file.
config_file() {
  local f; f="$(stack_env_get "${CONFIG_FILE_VAR[$1]}")"
  [[ -n "$f" ]] || f="${CONFIG_DEFAULT_FILE[$1]}"
  [[ "$f" = /* ]] || f="$(dirname "$STACK_FILE")/${f#./}"
  printf '%s' "$f"
}

# content_version FILE: the first 12 hex digits of its SHA-256 (names the Swarm config).
content_version() { sha256sum "$1" | cut -c1-12; }

# stack_env_versions: sets every *_CONF_VERSION from the content of its file.
stack_env_versions() {
  local k f
  for k in "${CONFIG_KEYS[@]}"; do
    f="$(config_file "$k")"
    [[ -r "$f" ]] || die "config $k: cannot read $f" 66
    stack_env_set "${CONFIG_VERSION_VAR[$k]}" "$(content_version "$f")"
  done
}

swarm_manager_or_die() {
  local st
  st="$(docker info -f '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null || true)"
  [[ "$st" == "active true" ]] || die "this Docker engine is not a Swarm manager (state: ${st:-no engine}); run on a manager node" 69
}

# missing_secrets: prints the SECRET_* names of STACK_ENV that do not exist in the swarm.
missing_secrets() {
  local kv
  for kv in "${STACK_ENV[@]}"; do
    [[ "$kv" == SECRET_* ]] || continue
    docker secret inspect "${kv#*=}" >/dev/null 2>&1 || echo "${kv%%=*}=${kv#*=}"
  done | sort -u
}

service_exists() { docker service inspect "$1" >/dev/null 2>&1; }
service_image() { docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$1" 2>/dev/null; }
update_state() { docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$1" 2>/dev/null; }

# service_converged SVC: 0 when every desired-running task runs the spec's image, their number is
# the replica count, and no update/rollback is in progress. Prints a one-line status.
service_converged() {
  local svc="$1" want image state tasks running=0 other=0 stale=0 t img st
  want="$(docker service inspect -f '{{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{else}}-{{end}}' "$svc" 2>/dev/null)" || return 1
  image="$(service_image "$svc")"
  state="$(update_state "$svc")"
  tasks="$(docker service ps -q --no-trunc --filter desired-state=running "$svc" 2>/dev/null || true)"
  for t in $tasks; do
    read -r img st < <(docker inspect -f '{{.Spec.ContainerSpec.Image}} {{.Status.State}}' "$t" 2>/dev/null || echo "? ?")
    if [[ "$st" == running ]]; then running=$((running + 1)); else other=$((other + 1)); fi
    [[ "$img" == "$image" ]] || stale=$((stale + 1))
  done
  echo "$svc: ${running}/${want} running, ${other} starting, ${stale} on another image, update=${state:-none}"
  case "$state" in updating | rollback_started | paused | rollback_paused) return 1 ;; esac
  [[ "$want" == - || "$running" == "$want" ]] && [[ $other -eq 0 && $stale -eq 0 ]]
}

# wait_converged TIMEOUT_S SVC...: polls every second; returns 0 when all converged, 3 when a
# service rolled back (update failed), 4 when an update or rollback paused, 1 on timeout.
# WAIT_ROLLBACK_OK=1: a completed rollback is the goal (rollback-stack.sh), not a failure.
wait_converged() {
  local timeout="$1"; shift
  local deadline=$((SECONDS + timeout)) svc ok st line
  declare -A last=()
  while :; do
    ok=1
    for svc in "$@"; do
      st="$(update_state "$svc")"
      case "$st" in
        paused | rollback_paused)
          log "$svc: update state $st: $(docker service inspect -f '{{.UpdateStatus.Message}}' "$svc")"
          return 4 ;;
      esac
      if line="$(service_converged "$svc")"; then :; else ok=0; fi
      if [[ "${last[$svc]:-}" != "$line" ]]; then log "$line"; last[$svc]="$line"; fi
    done
    if [[ $ok -eq 1 ]]; then
      for svc in "$@"; do
        if [[ "$(update_state "$svc")" == rollback_completed && "${WAIT_ROLLBACK_OK:-0}" != 1 ]]; then
          log "$svc ROLLED BACK: $(docker service inspect -f '{{.UpdateStatus.Message}}' "$svc")"
          return 3
        fi
      done
      return 0
    fi
    if ((SECONDS >= deadline)); then
      log "not converged after ${timeout}s"
      return 1
    fi
    sleep 1
  done
}

# job_iteration SVC: the current iteration index of a job service (empty when not a job).
job_iteration() { docker service inspect -f '{{if .JobStatus}}{{.JobStatus.JobIteration.Index}}{{end}}' "$1" 2>/dev/null; }

# wait_job SVC TIMEOUT_S: waits for a task of the job's current iteration to complete. Returns 0
# when one did, 1 when the attempts are exhausted or on timeout (the tasks' errors are printed).
wait_job() {
  local svc="$1" timeout="$2" deadline iter t line complete failed active failed_since=""
  deadline=$((SECONDS + timeout))
  while :; do
    iter="$(job_iteration "$svc")"
    complete=0 failed=0 active=0
    for t in $(docker service ps -q --no-trunc "$svc" 2>/dev/null); do
      line="$(docker inspect -f '{{if .JobIteration}}{{.JobIteration.Index}}{{end}} {{.Status.State}} {{.DesiredState}}' "$t" 2>/dev/null)" || continue
      read -r ti ts td <<<"$line"
      [[ "$ti" == "$iter" ]] || continue
      case "$ts" in
        complete) complete=$((complete + 1)) ;;
        failed | rejected | orphaned | shutdown) failed=$((failed + 1)) ;;
        *) [[ "$td" == shutdown || "$td" == remove ]] || active=$((active + 1)) ;;
      esac
    done
    if [[ $complete -gt 0 ]]; then
      log "$svc: iteration $iter complete ($failed failed attempt(s) before)"
      return 0
    fi
    # a failed attempt and nothing active: failed only when that holds for 15 s (longer than the
    # job's restart delay: between a failed attempt and its retry no task is active for a moment)
    if [[ $failed -gt 0 && $active -eq 0 ]] && [[ -z "$(docker service ps -q --filter desired-state=running "$svc" 2>/dev/null)" ]]; then
      [[ -n "$failed_since" ]] || failed_since=$SECONDS
    else
      failed_since=""
    fi
    if [[ -n "$failed_since" ]] && ((SECONDS - failed_since >= 15)); then
      log "$svc: iteration $iter FAILED after $failed attempt(s):"
      docker service ps --no-trunc --format '  {{.Name}} {{.CurrentState}} {{.Error}}' "$svc" | head -5 >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$svc: iteration $iter not complete after ${timeout}s"
      docker service ps --no-trunc --format '  {{.Name}} {{.CurrentState}} {{.Error}}' "$svc" | head -5 >&2
      return 1
    fi
    sleep 1
  done
}

# stack_state_dir STACK: where deployments of STACK are recorded.
stack_state_dir() { printf '%s/stack/%s' "${REGCASE_STATE_DIR:-/var/lib/regcase}" "$1"; }

# set_env_line FILE KEY VALUE: replace (or append) KEY=VALUE in an env file, atomically.
set_env_line() {
  local file="$1" key="$2" val="$3" tmp
  tmp="$(mktemp "$file.XXXXXX")"
  if grep -q "^$key=" "$file"; then
    awk -v k="$key" -v v="$val" 'BEGIN{FS=OFS="="} $1==k {print k "=" v; next} {print}' "$file" >"$tmp"
  else
    cat "$file" >"$tmp"; printf '%s=%s\n' "$key" "$val" >>"$tmp"
  fi
  chmod --reference="$file" "$tmp" 2>/dev/null || true
  mv -f "$tmp" "$file"
}
