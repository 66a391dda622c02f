# shellcheck shell=bash
# Shared helpers for regcase platform scripts. Sourced, never executed.
# Every script that sources this runs with `set -Eeuo pipefail`.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

# Pinned tool versions (one place).
COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
CYCLONEDX_GOMOD_VERSION="${CYCLONEDX_GOMOD_VERSION:-v1.10.0}"
REGISTRY_VERSION="${REGISTRY_VERSION:-v3.1.2}"
CRANE_VERSION="${CRANE_VERSION:-v0.22.1}"
TOOLS_CACHE="${REGCASE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regcase-tools}"
CRANE="$TOOLS_CACHE/crane/$CRANE_VERSION/crane"
REGISTRY_BIN="$TOOLS_CACHE/registry/$REGISTRY_VERSION/registry"
CLI_PLUGINS_DIR="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"

# Default image names.
APP_IMAGE_REPO="${APP_IMAGE_REPO:-regcase}"
STANDIN_PG_IMAGE="${STANDIN_PG_IMAGE:-regcase-standin/postgres:15-bookworm}"
STANDIN_REDIS_IMAGE="${STANDIN_REDIS_IMAGE:-regcase-standin/redis:7-bookworm}"
STANDIN_NGINX_IMAGE="${STANDIN_NGINX_IMAGE:-regcase-standin/nginx:1.22-bookworm}"
STANDIN_PROMETHEUS_IMAGE="${STANDIN_PROMETHEUS_IMAGE:-regcase-standin/prometheus:2-bookworm}"

# File sets (the supported combinations).
COMPOSE_BASE=(-f compose.yml)
COMPOSE_DEV=(-f compose.yml -f compose.dev.yml)
COMPOSE_TEST=(-f compose.yml -f compose.test.yml)
COMPOSE_PROD=(-f compose.yml -f compose.prod.yml)
COMPOSE_PROD_OBS=(-f compose.yml -f compose.prod.yml -f compose.observability.yml)
COMPOSE_DEV_OBS=(-f compose.yml -f compose.dev.yml -f compose.observability.yml)

if [[ -t 2 && -z "${NO_COLOR:-}" ]]; then
  _c_red=$'\e[31m'; _c_grn=$'\e[32m'; _c_yel=$'\e[33m'; _c_dim=$'\e[2m'; _c_off=$'\e[0m'
else
  _c_red=; _c_grn=; _c_yel=; _c_dim=; _c_off=
fi

# in_main_shell: true in the script's own shell, false in a subshell. Every EXIT trap and cleanup
# function starts with it: a bash fork killed by a signal before it has exec'd or set a trap of its
# own runs the script's EXIT trap (bash 5.2), and would remove work folders under the running
# script. The guard is the second line: such a fork's state is half torn down and the guard is not
# always evaluated right, so the scripts also never signal a fork that may not have exec'd yet
# (stop_execd in lib/checks.sh).
in_main_shell() { [[ "$BASHPID" == "$$" ]]; }

log()  { printf '%s[%s]%s %s\n' "$_c_dim" "$(date -u +%H:%M:%S)" "$_c_off" "$*" >&2; }
warn() { printf '%sWARN%s %s\n' "$_c_yel" "$_c_off" "$*" >&2; }
# die MESSAGE [CODE]: one line on stderr, then exit CODE (default 1).
die()  { printf '%sERROR%s %s\n' "$_c_red" "$_c_off" "$1" >&2; exit "${2:-1}"; }

need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "required command not found: $c"
  done
}

# print_help FILE: prints the leading comment block of a script (lines starting
# with '#', after the shebang) as its --help text.
print_help() {
  sed -n '2,/^[^#]/{/^#/!d;s/^# \{0,1\}//;p}' "$1"
}

# git_sha / git_version: identify the checkout (work without git too).
git_sha() {
  git -C "$REPO_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown
}
git_sha_full() {
  git -C "$REPO_ROOT" rev-parse HEAD 2>/dev/null || echo unknown
}
git_version() {
  local v
  v="$(git -C "$REPO_ROOT" describe --tags --always --dirty 2>/dev/null || true)"
  [[ -n "$v" ]] || v="0.0.0-$(git_sha)"
  # A plain sha from --always gets a 0.0.0- prefix so tags stay sortable.
  if [[ "$v" =~ ^[0-9a-f]{7,}(-dirty)?$ ]]; then v="0.0.0-$v"; fi
  echo "$v"
}

compose() {
  docker compose "$@"
}

# have_compose_v2: true when `docker compose` is Compose v2 at the pinned version.
have_compose_v2() {
  local v
  v="$(docker compose version --short 2>/dev/null || true)"
  [[ "v${v#v}" == "$COMPOSE_VERSION" ]]
}

engine_available() {
  docker info >/dev/null 2>&1
}

# pick_backing_images: prints POSTGRES_IMAGE/REDIS_IMAGE/PROXY_IMAGE lines: the requested (or
# default upstream) images when present or pullable, else the local stand-ins (built if needed).
pick_backing_images() {
  local pg="${POSTGRES_IMAGE:-postgres:16-bookworm}" rd="${REDIS_IMAGE:-redis:7-bookworm}" px="${PROXY_IMAGE:-nginx:1.28-bookworm}"
  local i ok=1
  for i in "$pg" "$rd" "$px"; do
    docker image inspect "$i" >/dev/null 2>&1 || timeout 300 docker pull -q "$i" >/dev/null 2>&1 || { ok=0; break; }
  done
  if [[ $ok -eq 0 ]]; then
    warn "upstream images cannot be pulled: using the local stand-ins (NOT upstream images)"
    "$REPO_ROOT/scripts/build-standin-images.sh" >&2 || return 1
    pg="$STANDIN_PG_IMAGE" rd="$STANDIN_REDIS_IMAGE" px="$STANDIN_NGINX_IMAGE"
  fi
  printf 'POSTGRES_IMAGE=%s\nREDIS_IMAGE=%s\nPROXY_IMAGE=%s\n' "$pg" "$rd" "$px"
}

# State of deployments on a production host (deploy.sh, rollback.sh).
STATE_DIR="${REGCASE_STATE_DIR:-/var/lib/regcase}"

# select_stack NAME: sets STACK_FILES for prod|dev|test (the Compose files of that environment).
select_stack() {
  case "$1" in
    prod) STACK_FILES=("${COMPOSE_PROD[@]}") ;;
    dev) STACK_FILES=("${COMPOSE_DEV[@]}") ;;
    test) STACK_FILES=("${COMPOSE_TEST[@]}") ;;
    *) die "unknown stack $1 (prod, dev or test)" 64 ;;
  esac
}

# use_stack NAME ENV_FILE: selects the stack (as select_stack), requires an
# env file for prod, moves to the repository root and defines dc, the
# docker compose command of that stack (with the env file when given).
use_stack() {
  select_stack "$1"
  [[ $1 != prod || -n "$2" ]] || die "--env-file is required for the prod stack" 64
  cd "$REPO_ROOT"
  dc_args=(); [[ -n "$2" ]] && dc_args+=(--env-file "$2")
  dc() { compose "${dc_args[@]}" "${STACK_FILES[@]}" "$@"; }
}

# json_str S: S as a JSON string literal.
json_str() {
  local s="$1"
  s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; s="${s//$'\n'/\\n}"; s="${s//$'\t'/\\t}"; s="${s//$'\r'/}"
  printf '"%s"' "$s"
}

# SQL printing "table=rows" for every table of the public schema, exact counts.
COUNT_ROWS_SQL="SELECT format('%s=%s', c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' ORDER BY c.relname;"
