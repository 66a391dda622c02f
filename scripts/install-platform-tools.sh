#!/usr/bin/env bash
# install-platform-tools.sh — install the tools the platform checks need, offline-friendly.
#
# Usage: scripts/install-platform-tools.sh [compose] [promtool] [debootstrap] [cyclonedx]
#                                           [registry] [crane] [cluster]
#        (no argument = compose + promtool)
#
#   compose      Docker Compose v2 (pinned: $COMPOSE_VERSION, default v2.40.3), built from the
#                Go module proxy source (`go install` of that module fails because of its
#                `exclude` directives) and installed as ~/.docker/cli-plugins/docker-compose.
#                The built binary is cached in $REGCASE_TOOLS_CACHE (default
#                ~/.cache/regcase-tools); delete that directory to force a rebuild.
#                Skipped when `docker compose version` already reports the pinned version.
#   promtool     Debian's `prometheus` package (promtool 2.42) when promtool is missing.
#   debootstrap  Debian's `debootstrap` package (used to build the stand-in images).
#   cyclonedx    cyclonedx-gomod (pinned: v1.10.0) via `go install` into $GOPATH/bin.
#   registry     the CNCF registry, distribution/distribution v3 `cmd/registry` (pinned:
#                $REGISTRY_VERSION, v3.1.2), a static build from the Go module proxy, cached as
#                $REGCASE_TOOLS_CACHE/registry/<version>/registry (scripts/registry-local.sh).
#   crane        go-containerregistry's crane (pinned: $CRANE_VERSION, v0.22.1), same way, cached
#                as $REGCASE_TOOLS_CACHE/crane/<version>/crane: retags by digest (promotion).
#   cluster      what the multi-node harness (scripts/lib/cluster.sh) needs on the host:
#                iproute2 (ip netns, veth, bridge), util-linux (nsenter), iptables, dockerd.
#
# Needs: go (for compose/cyclonedx), apt-get as root (for promtool/debootstrap).
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { print_help "$0"; exit 0; }

apt_updated=0
apt_install() {
  [[ $(id -u) -eq 0 ]] || die "installing $* needs root (apt-get)"
  if [[ $apt_updated -eq 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_compose() {
  if have_compose_v2; then
    log "docker compose $COMPOSE_VERSION already installed"
    return 0
  fi
  need go docker
  local cached="$TOOLS_CACHE/compose/$COMPOSE_VERSION/docker-compose"
  if [[ ! -x "$cached" ]]; then
    log "building Docker Compose $COMPOSE_VERSION from the Go module proxy (~150 s once)"
    local json dir work
    mkdir -p "$TOOLS_CACHE"
    # Run outside any module so the project's go.mod is never touched.
    json="$(cd "$TOOLS_CACHE" && GOFLAGS= go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION")"
    dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [[ -d "$dir" ]] || die "go mod download did not return a source directory for compose $COMPOSE_VERSION"
    work="$(mktemp -d)"
    # The module cache is read-only; build in a writable copy.
    cp -r "$dir/." "$work/"
    chmod -R u+w "$work"
    mkdir -p "$(dirname "$cached")"
    (
      cd "$work"
      CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
        -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
        -o "$cached.tmp" ./cmd
    )
    mv "$cached.tmp" "$cached"
    rm -rf "$work"
  else
    log "using cached Compose build $cached"
  fi
  mkdir -p "$CLI_PLUGINS_DIR"
  install -m 0755 "$cached" "$CLI_PLUGINS_DIR/docker-compose"
  have_compose_v2 || die "installed compose plugin does not report $COMPOSE_VERSION: $(docker compose version 2>&1 | head -1)"
  log "installed $(docker compose version)"
}

install_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    log "promtool present: $(promtool --version 2>&1 | head -1)"
    return 0
  fi
  apt_install prometheus
  # The Debian package starts a prometheus server through the init system; this
  # host only needs promtool. Stop the service if it was started.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
  fi
  command -v promtool >/dev/null || die "promtool still missing after installing prometheus"
}

install_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 && return 0
  apt_install debootstrap
}

install_cyclonedx() {
  local bin
  bin="$(go env GOPATH)/bin/cyclonedx-gomod"
  if [[ -x "$bin" ]] && "$bin" version 2>/dev/null | grep -q "${CYCLONEDX_GOMOD_VERSION#v}"; then
    return 0
  fi
  log "go install cyclonedx-gomod@$CYCLONEDX_GOMOD_VERSION"
  GOFLAGS=-mod=mod go install "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$CYCLONEDX_GOMOD_VERSION"
}

# go_tool NAME MODULE/PATH VERSION: a static build of MODULE/PATH@VERSION into the tools cache,
# built outside any module (the project's go.mod is never touched). Prints the binary's path.
go_tool() {
  local name="$1" pkg="$2" ver="$3" dir
  dir="$TOOLS_CACHE/$name/$ver"
  if [[ ! -x "$dir/$name" ]]; then
    need go
    log "go install $pkg@$ver (static, into $dir)"
    mkdir -p "$dir"
    (cd "$TOOLS_CACHE" && CGO_ENABLED=0 GOBIN="$dir" GOFLAGS=-mod=mod go install -trimpath -ldflags '-s -w' "$pkg@$ver") >&2
  fi
  echo "$dir/$name"
}
install_registry() { go_tool registry github.com/distribution/distribution/v3/cmd/registry "$REGISTRY_VERSION" >/dev/null; }
install_crane() { go_tool crane github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION" >/dev/null; }
install_cluster() {
  local missing=()
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  [[ ${#missing[@]} -eq 0 ]] || apt_install "${missing[@]}"
  command -v dockerd >/dev/null 2>&1 || die "dockerd missing: the harness runs extra Docker daemons (install docker.io)"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(compose promtool)
for t in "${targets[@]}"; do
  case "$t" in
    compose) install_compose ;;
    promtool) install_promtool ;;
    debootstrap) install_debootstrap ;;
    cyclonedx) install_cyclonedx ;;
    registry) install_registry ;;
    crane) install_crane ;;
    cluster) install_cluster ;;
    *) die "unknown tool: $t (see --help)" 64 ;;
  esac
done
