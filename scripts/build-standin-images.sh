#!/usr/bin/env bash
# build-standin-images.sh — build LOCAL stand-in images for PostgreSQL, Redis and nginx.
#
# Usage: scripts/build-standin-images.sh [--force] [--list] [--golang] [--prometheus]
#
# For machines that run a Docker engine but cannot pull from any registry (this project's CI).
# The stand-ins are NOT the upstream images: they are Debian bookworm packages
# (postgresql-15, redis-server 7.0, nginx 1.22) in a rootfs made with debootstrap from the
# machine's own Debian mirror (read from /etc/apt/sources.list*), imported with `docker import`
# and finished by docker/standin/*.Dockerfile, which reproduce the parts of the upstream images'
# contracts that this project's Compose files use (PGDATA, POSTGRES_*_FILE, initdb.d scripts,
# uid 999 for postgres/redis, uid 101 for nginx, /data for redis).
#
# Images (skipped when they already exist, unless --force):
#   regcase-standin/debian-base:bookworm   the imported rootfs
#   regcase-standin/postgres:15-bookworm   use with POSTGRES_IMAGE=...
#   regcase-standin/redis:7-bookworm       use with REDIS_IMAGE=...
#   regcase-standin/nginx:1.22-bookworm    use with PROXY_IMAGE=...
#
# Each stand-in is also tagged with the Debian package's exact version (e.g.
# regcase-standin/postgres:15.18-bookworm), an immutable-looking tag that the production policy
# accepts, for production-like rehearsals (deploy/rollback) on machines without a registry.
#
#   --golang also build regcase-standin/golang:1.26-bookworm (this host's Go toolchain on the
#            same rootfs) so that docker/Dockerfile's default, compile-in-container target can be
#            built offline: GO_IMAGE=regcase-standin/golang:1.26-bookworm scripts/build-image.sh --from-source
#   --prometheus also build regcase-standin/prometheus:2-bookworm: Debian's `prometheus` package
#            (2.42; the .deb fetched with `apt-get download` from this machine's mirror and
#            unpacked) on the same rootfs, for the observability profile
#            (PROMETHEUS_IMAGE=regcase-standin/prometheus:2-bookworm); see
#            docker/standin/prometheus.Dockerfile
#   --list   print `KEY=image` lines for the env file / compose interpolation and exit
#            (KEY_PINNED=… lines give the version-tagged names).
#
# Needs: root, docker engine, debootstrap (installed through apt if missing). ~1-2 min once.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

force=0 golang=0 list=0 prometheus=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --force) force=1 ;;
    --golang) golang=1 ;;
    --prometheus) prometheus=1 ;;
    --list) list=1 ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
if [[ $list -eq 1 ]]; then
  printf 'POSTGRES_IMAGE=%s\nREDIS_IMAGE=%s\nPROXY_IMAGE=%s\n' \
    "$STANDIN_PG_IMAGE" "$STANDIN_REDIS_IMAGE" "$STANDIN_NGINX_IMAGE"
  for kv in POSTGRES:"$STANDIN_PG_IMAGE" REDIS:"$STANDIN_REDIS_IMAGE" PROXY:"$STANDIN_NGINX_IMAGE"; do
    id="$(docker image inspect -f '{{.Id}}' "${kv#*:}" 2>/dev/null)" || continue
    repo="${kv#*:}"; repo="${repo%:*}"
    pinned="$(docker image ls --format '{{.Repository}}:{{.Tag}} {{.ID}}' "$repo" | awk -v id="${id:7:12}" -v img="${kv#*:}" '$2 == id && $1 != img && $1 ~ /:[0-9]+\.[0-9]+/ {print $1; exit}')"
    [[ -n "$pinned" ]] && printf '%s_IMAGE_PINNED=%s\n' "${kv%%:*}" "$pinned"
  done
  exit 0
fi

BASE_IMAGE="regcase-standin/debian-base:bookworm"
SUITE=bookworm

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# debian_mirror: first http(s) URI serving the main bookworm suite in this machine's apt sources.
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [[ -r "$f" ]] || continue
    case "$f" in
      *.sources)
        # deb822: a stanza with "Suites: bookworm ..." and "URIs: ..." not ending in -security.
        uri="$(awk -v s="$SUITE" '
          /^[[:space:]]*$/ { if (u != "" && ok) { print u; exit } u=""; ok=0; next }
          /^URIs:/ { u=$2 }
          /^Suites:/ { for (i=2;i<=NF;i++) if ($i==s) ok=1 }
          END { if (u != "" && ok) print u }' "$f" | grep -v -- '-security' | head -1)" ;;
      *)
        uri="$(awk -v s="$SUITE" '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^https?:/ && $(i+1)==s) { print $i; exit } }' "$f")" ;;
    esac
    if [[ -n "$uri" ]]; then echo "$uri"; return 0; fi
  done
  echo "http://deb.debian.org/debian"
}

build_base() {
  if [[ $force -eq 0 ]] && image_exists "$BASE_IMAGE"; then
    log "$BASE_IMAGE exists"
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
  command -v debootstrap >/dev/null || "$REPO_ROOT/scripts/install-platform-tools.sh" debootstrap
  local mirror rootfs
  mirror="$(debian_mirror)"
  rootfs="$(mktemp -d /tmp/regcase-standin-rootfs.XXXXXX)"
  # shellcheck disable=SC2064
  trap "rm -rf '$rootfs'" RETURN
  log "debootstrap $SUITE from $mirror (postgresql-15, redis-server, nginx) — ~1 min"
  debootstrap --variant=minbase \
    --include=postgresql-15,postgresql-client-15,redis-server,redis-tools,nginx,curl,ca-certificates \
    "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -30 "$rootfs.log" >&2; die "debootstrap failed"; }
  rm -f "$rootfs.log"
  # Trim what no stand-in needs at run time.
  rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
         "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/*.log \
         "$rootfs"/var/lib/postgresql/15/main "$rootfs"/etc/postgresql/15/main
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'C.UTF-8' -exec rm -rf {} + 2>/dev/null || true
  # The upstream images' numeric ids, done here once (RUN steps in the per-image recipes are
  # slow on some storage drivers): postgres and redis are both uid/gid 999 upstream, each in its
  # own image; here they share the rootfs, so the ids are non-unique (-o) on purpose.
  chroot "$rootfs" sh -e -c '
    groupmod -o -g 999 postgres; usermod -o -u 999 -g 999 postgres
    groupmod -o -g 999 redis;    usermod -o -u 999 -g 999 redis
    mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d /data
    chown -R 999:999 /var/lib/postgresql /var/run/postgresql /var/log/postgresql /etc/postgresql /data
    chmod 1777 /var/lib/postgresql/data; chmod 3777 /var/run/postgresql
    ln -sf /dev/stdout /var/log/nginx/access.log; ln -sf /dev/stderr /var/log/nginx/error.log'
  log "docker import -> $BASE_IMAGE"
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL org.opencontainers.image.title="regcase stand-in Debian base (NOT an upstream image)"' \
    --message "regcase stand-in rootfs: debootstrap $SUITE minbase from $mirror" \
    - "$BASE_IMAGE" >/dev/null
}

# pin_version IMAGE VERSION_CMD...: tag IMAGE with the exact upstream version it contains.
pin_version() {
  local image="$1"; shift
  local v
  v="$(docker run --rm --entrypoint "$1" "$image" "${@:2}" 2>&1 | grep -o -E '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -1)"
  [[ -n "$v" ]] || { warn "cannot read the version of $image"; return 0; }
  docker tag "$image" "${image%:*}:$v-bookworm"
}

build_one() { # name image
  local name="$1" image="$2"
  if [[ $force -eq 0 ]] && image_exists "$image"; then
    log "$image exists"
    return 0
  fi
  log "building $image from docker/standin/$name.Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q \
    --build-arg "BASE=$BASE_IMAGE" \
    -f "$REPO_ROOT/docker/standin/$name.Dockerfile" \
    -t "$image" "$REPO_ROOT/docker/standin" >/dev/null 2> >(grep -v -i 'deprecat\|legacy builder\|buildx\|BuildKit is currently disabled\|environment-variable\|^ *$' >&2 || true)
}

need docker
build_base
build_one postgres "$STANDIN_PG_IMAGE"
build_one redis "$STANDIN_REDIS_IMAGE"
build_one nginx "$STANDIN_NGINX_IMAGE"
if [[ $golang -eq 1 ]]; then
  gimg="regcase-standin/golang:1.26-bookworm"
  if [[ $force -eq 1 ]] || ! image_exists "$gimg"; then
    need go
    gctx="$(mktemp -d)"
    cp -a "$(go env GOROOT)" "$gctx/go"
    cp "$REPO_ROOT/docker/standin/golang.Dockerfile" "$gctx/Dockerfile"
    cp /etc/ssl/certs/ca-certificates.crt "$gctx/ca-certificates.crt"
    log "building $gimg from this host's Go $(go env GOVERSION)"
    DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$BASE_IMAGE" -t "$gimg" "$gctx" >/dev/null 2>&1 \
      || { rm -rf "$gctx"; die "building $gimg failed"; }
    rm -rf "$gctx"
  else
    log "$gimg exists"
  fi
fi
if [[ $prometheus -eq 1 ]]; then
  if [[ $force -eq 1 ]] || ! image_exists "$STANDIN_PROMETHEUS_IMAGE"; then
    pctx="$(mktemp -d)"
    (cd "$pctx" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null; }; }) \
      || { rm -rf "$pctx"; die "apt-get download prometheus failed"; }
    dpkg-deb -x "$pctx"/prometheus_*.deb "$pctx/deb"
    cp "$pctx/deb/usr/bin/prometheus" "$pctx/deb/usr/bin/promtool" "$pctx/"
    cp "$REPO_ROOT/docker/standin/prometheus.Dockerfile" "$pctx/Dockerfile"
    cp "$REPO_ROOT/docker/standin/prometheus-wget.sh" "$pctx/"
    mkdir "$pctx/empty"; rm -rf "$pctx/deb"
    log "building $STANDIN_PROMETHEUS_IMAGE from $(basename "$pctx"/prometheus_*.deb)"
    DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$BASE_IMAGE" -t "$STANDIN_PROMETHEUS_IMAGE" "$pctx" >/dev/null 2>&1 \
      || { rm -rf "$pctx"; die "building $STANDIN_PROMETHEUS_IMAGE failed"; }
    rm -rf "$pctx"
  else
    log "$STANDIN_PROMETHEUS_IMAGE exists"
  fi
  pin_version "$STANDIN_PROMETHEUS_IMAGE" /usr/bin/prometheus --version
fi
pin_version "$STANDIN_PG_IMAGE" postgres --version
pin_version "$STANDIN_REDIS_IMAGE" redis-server --version
pin_version "$STANDIN_NGINX_IMAGE" nginx -v
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep '^regcase-standin/' >&2
