#!/usr/bin/env bash
# registry-local.sh — a real OCI registry on this machine for drills and rehearsals: the CNCF
# registry (distribution/distribution v3, pinned $REGISTRY_VERSION) built from the Go module proxy,
# packaged FROM scratch (docker/registry/) and run as a container on the host engine.
#
# Usage: scripts/registry-local.sh up [--listen ADDR]... | down [--purge] | stop | start | status
#
#   up       build the binary (scripts/install-platform-tools.sh registry) and the image
#            regcase-local/registry:<version> when missing, run the container regcase-registry
#            (read-only root, uid 65532, no capabilities, storage in the volume
#            regcase-registry-data) published on 127.0.0.1:5000 and on every --listen ADDR
#            (e.g. the cluster bridge 10.213.7.1, where the drill daemons pull from); waits
#            until GET /v2/ answers.
#   stop / start   stop or start the container (the registry-unavailable drill); data is kept
#   down     remove the container; --purge also the volume and the image
#   status   print "up <addresses>" or "down"
# Plain HTTP: Docker engines treat 127.0.0.0/8 as insecure by default, and the drill daemons list
# the bridge address in insecure-registries (their own daemon.json only). Never expose this on a
# shared network; production uses a TLS registry with authentication.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REG_NAME="${REGCASE_REGISTRY_CONTAINER:-regcase-registry}"
REG_IMAGE="regcase-local/registry:${REGISTRY_VERSION#v}"
REG_VOLUME="$REG_NAME-data"
REG_PORT="${REGCASE_REGISTRY_PORT:-5000}"

cmd="${1:-}"; [[ $# -gt 0 ]] && shift
listen=() purge=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --listen) listen+=("${2:?--listen needs an address}"); shift ;;
    --purge) purge=1 ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker curl

wait_v2() {
  local i
  for i in $(seq 1 60); do
    curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$REG_PORT/v2/" && return 0
    sleep 0.5
  done
  docker logs --tail 20 "$REG_NAME" >&2 || true
  die "the registry did not answer on 127.0.0.1:$REG_PORT/v2/ within 30 s"
}

case "$cmd" in
  -h|--help|"") print_help "$0"; [[ -n "$cmd" ]]; exit ;;
  up)
    if ! docker image inspect "$REG_IMAGE" >/dev/null 2>&1; then
      "$REPO_ROOT/scripts/install-platform-tools.sh" registry
      ctx="$(mktemp -d)"; trap 'in_main_shell && rm -rf "$ctx"' EXIT
      cp "$REGISTRY_BIN" "$ctx/registry"
      cp "$REPO_ROOT/docker/registry/Dockerfile" "$REPO_ROOT/docker/registry/config.yml" "$ctx/"
      printf 'registry:x:65532:65532::/nonexistent:/sbin/nologin\n' >"$ctx/passwd"
      mkdir "$ctx/storage"
      DOCKER_BUILDKIT=0 docker build -q \
        --label "org.opencontainers.image.source=https://github.com/distribution/distribution" \
        --label "org.opencontainers.image.version=$REGISTRY_VERSION" \
        -t "$REG_IMAGE" "$ctx" >/dev/null
      log "built $REG_IMAGE ($(docker image inspect -f '{{.Size}}' "$REG_IMAGE") bytes)"
    fi
    if [[ "$(docker inspect -f '{{.State.Running}}' "$REG_NAME" 2>/dev/null)" == true ]]; then
      wait_v2; echo "up"; exit 0
    fi
    docker rm -f "$REG_NAME" >/dev/null 2>&1 || true
    pub=(-p "127.0.0.1:$REG_PORT:5000")
    for a in "${listen[@]}"; do pub+=(-p "$a:$REG_PORT:5000"); done
    docker run -d --name "$REG_NAME" --read-only --cap-drop ALL --security-opt no-new-privileges \
      --memory 256m --pids-limit 128 --restart no -v "$REG_VOLUME:/var/lib/registry" \
      --label org.regcase.role=drill-registry "${pub[@]}" "$REG_IMAGE" >/dev/null
    wait_v2
    log "registry $REGISTRY_VERSION up on 127.0.0.1:$REG_PORT${listen[*]:+ and ${listen[*]/%/:$REG_PORT}}"
    ;;
  stop) docker stop -t 5 "$REG_NAME" >/dev/null; log "registry stopped (data kept in $REG_VOLUME)" ;;
  start) docker start "$REG_NAME" >/dev/null; wait_v2; log "registry started again" ;;
  down)
    docker rm -f "$REG_NAME" >/dev/null 2>&1 || true
    if [[ $purge -eq 1 ]]; then
      docker volume rm "$REG_VOLUME" >/dev/null 2>&1 || true
      docker rmi "$REG_IMAGE" >/dev/null 2>&1 || true
    fi
    log "registry removed${purge:+ }$([[ $purge -eq 1 ]] && echo '(volume and image too)')"
    ;;
  status)
    if [[ "$(docker inspect -f '{{.State.Running}}' "$REG_NAME" 2>/dev/null)" == true ]]; then
      echo "up $(docker port "$REG_NAME" 5000/tcp | tr '\n' ' ')"
    else
      echo down
    fi
    ;;
  *) die "unknown command: $cmd (up, down, stop, start, status)" 64 ;;
esac
