#!/usr/bin/env bash
# push-image.sh — push the built image to a registry and print its immutable digest reference.
#
# Usage: scripts/push-image.sh --registry REGISTRY/PATH [--image REF]
#
#   --registry R   e.g. registry.example.org/regcase/regcase (or $REGCASE_REGISTRY)
#   --image REF    local image to push (default: IMAGE_REF from dist/image.env)
# Tags the image R:<version> and R:sha-<sha> (the tags build-image.sh made), pushes both, then
# prints and records the digest reference R@sha256:… in dist/push.env. Deploy THAT reference
# (REGCASE_IMAGE=R@sha256:… in the production env file): tags can be moved, digests cannot.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

registry="${REGCASE_REGISTRY:-}" image=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --registry) registry="${2:?}"; shift ;;
    --image) image="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker
cd "$REPO_ROOT"
[[ -n "$registry" ]] || die "--registry is required (e.g. registry.example.org/regcase/regcase)" 64
[[ -n "$image" ]] || image="$(sed -n 's/^IMAGE_REF=//p' dist/image.env 2>/dev/null)"
[[ -n "$image" ]] || die "no image: run scripts/build-image.sh first or pass --image"
docker image inspect "$image" >/dev/null || die "image $image not found locally"

image_id="$(docker image inspect -f '{{.Id}}' "$image")"
version="$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$image")"
revision="$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$image")"
tags=("$registry:$(printf '%s' "$version" | tr -c 'A-Za-z0-9_.-' '-')" "$registry:sha-${revision:0:12}")
for t in "${tags[@]}"; do
  docker tag "$image_id" "$t"
  log "docker push $t"
  docker push -q "$t" >/dev/null
done
digest_ref="$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$image_id" | grep -F "$registry@" | head -1)"
[[ "$digest_ref" == *@sha256:* ]] || die "the registry returned no digest for $registry"
mkdir -p dist
{
  printf 'IMAGE_ID=%s\n' "$image_id"
  printf 'IMAGE_DIGEST_REF=%s\n' "$digest_ref"
  printf 'IMAGE_PUSHED_TAGS="%s"\n' "${tags[*]}"
  printf 'PUSHED_AT=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > dist/push.env
echo "$digest_ref"
