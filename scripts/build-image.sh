#!/usr/bin/env bash
# build-image.sh — build the regcase container image from docker/Dockerfile.
#
# Usage: scripts/build-image.sh [--prebuilt | --from-source] [--repo REPO] [--version V]
#                               [--tag EXTRA_TAG]... [--quiet]
#
# Tags the image REPO:VERSION and REPO:sha-<12-char git sha> (REPO defaults to $APP_IMAGE_REPO
# or "regcase"; VERSION to `git describe --tags --always --dirty`, made tag-safe), prints the
# image ID (the content digest of the image config, sha256:...) and the tags, and writes
# dist/image.env (IMAGE_ID, IMAGE_REF, IMAGE_TAGS, VERSION, REVISION, CREATED) for the release
# evidence. The registry digest (repo@sha256:...) exists only after scripts/push-image.sh.
#
# Two paths through the same Dockerfile:
#   --from-source  default target `runtime`: compiles inside golang:1.26-bookworm (GO_IMAGE
#                  build arg). Needs that image locally or a registry to pull it from.
#   --prebuilt     target `runtime-prebuilt`: compiles on this host with the same flags
#                  (CGO_ENABLED=0, -trimpath, -ldflags -X buildinfo...) and copies the binary
#                  into scratch. Needs only Go on the host; pulls nothing.
#   (neither)      --from-source when the golang image is present or can be pulled, else
#                  --prebuilt.
# Uses BuildKit when the buildx plugin is installed, otherwise the classic builder.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

mode=auto repo="$APP_IMAGE_REPO" version="" quiet=0 extra_tags=()
GO_IMAGE="${GO_IMAGE:-golang:1.26-bookworm}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --prebuilt) mode=prebuilt ;;
    --from-source) mode=source ;;
    --repo) repo="${2:?--repo needs a value}"; shift ;;
    --version) version="${2:?--version needs a value}"; shift ;;
    --tag) extra_tags+=("${2:?--tag needs a value}"); shift ;;
    --quiet) quiet=1 ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker git

cd "$REPO_ROOT"
[[ -d cmd/regcase ]] || die "cmd/regcase does not exist yet: nothing to package"

revision="$(git_sha_full)"
short="$(git_sha)"
[[ -n "$version" ]] || version="$(git_version)"
tag_version="$(printf '%s' "$version" | tr -c 'A-Za-z0-9_.-' '-' | cut -c1-120)"
# Reproducible: the creation time is the commit time, not the wall clock.
created="$(git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || true)"
[[ -n "$created" ]] || created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  created="$(date -u +%Y-%m-%dT%H:%M:%SZ)" # a dirty tree is not the commit
fi
source_url="${IMAGE_SOURCE_URL:-https://github.com/regcase/regcase}"

tags=("$repo:$tag_version" "$repo:sha-$short")
for t in "${extra_tags[@]}"; do tags+=("$t"); done
tag_args=()
for t in "${tags[@]}"; do tag_args+=(-t "$t"); done

if [[ $mode == auto ]]; then
  if docker image inspect "$GO_IMAGE" >/dev/null 2>&1 || timeout 120 docker pull -q "$GO_IMAGE" >/dev/null 2>&1; then
    mode=source
  else
    log "cannot use $GO_IMAGE (not present, cannot pull): building the binary on the host (--prebuilt)"
    mode=prebuilt
  fi
fi

builder_env=(DOCKER_BUILDKIT=0)
if docker buildx version >/dev/null 2>&1; then builder_env=(DOCKER_BUILDKIT=1); fi

build_args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision"
            --build-arg "CREATED=$created" --build-arg "SOURCE=$source_url")
iidfile="$(mktemp)"
trap 'in_main_shell || exit; rm -f "$iidfile"; [[ -n "${ctx:-}" ]] && rm -rf "$ctx"' EXIT

filter_noise() { grep -v -i 'legacy builder is deprecated\|buildx component\|install the buildx\|^ *$\|docs.docker.com/go/buildx' >&2 || true; }

if [[ $mode == source ]]; then
  log "building $repo ($version) from source in $GO_IMAGE"
  env "${builder_env[@]}" docker build -f docker/Dockerfile --target runtime \
    --build-arg "GO_IMAGE=$GO_IMAGE" "${build_args[@]}" "${tag_args[@]}" \
    --iidfile "$iidfile" . 2> >(filter_noise) >&2
else
  need go
  ctx="$(mktemp -d)"
  arch="$(docker version -f '{{.Server.Arch}}' 2>/dev/null || go env GOARCH)"
  log "compiling regcase $version for linux/$arch on the host"
  CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -buildvcs=false \
    -ldflags "-s -w \
      -X github.com/regcase/regcase/internal/buildinfo.Version=$version \
      -X github.com/regcase/regcase/internal/buildinfo.Commit=$revision \
      -X github.com/regcase/regcase/internal/buildinfo.Date=$created" \
    -o "$ctx/prebuilt/regcase" ./cmd/regcase
  chmod 0555 "$ctx/prebuilt/regcase"
  mkdir -p "$ctx/docker" "$ctx/prebuilt/etc/ssl/certs"
  cp -r docker/rootfs docker/data "$ctx/docker/"
  ca=/etc/ssl/certs/ca-certificates.crt
  [[ -r $ca ]] || die "no CA bundle at $ca (install Debian's ca-certificates)"
  cp "$ca" "$ctx/prebuilt/etc/ssl/certs/ca-certificates.crt"
  chmod 0444 "$ctx/prebuilt/etc/ssl/certs/ca-certificates.crt" "$ctx"/docker/rootfs/etc/*
  log "packaging into scratch (target runtime-prebuilt, ${builder_env[*]})"
  env "${builder_env[@]}" docker build -f docker/Dockerfile --target runtime-prebuilt \
    "${build_args[@]}" "${tag_args[@]}" --iidfile "$iidfile" "$ctx" 2> >(filter_noise) >&2
fi

image_id="$(cat "$iidfile")"
[[ -n "$image_id" ]] || die "docker build wrote no image ID"
size="$(docker image inspect -f '{{.Size}}' "$image_id")"
mkdir -p dist
{
  printf 'IMAGE_ID=%s\n' "$image_id"
  printf 'IMAGE_REF=%s\n' "${tags[0]}"
  printf 'IMAGE_TAGS="%s"\n' "${tags[*]}"
  printf 'IMAGE_SIZE_BYTES=%s\n' "$size"
  printf 'IMAGE_BUILD_PATH=%s\n' "$mode"
  printf 'VERSION=%s\n' "$version"
  printf 'REVISION=%s\n' "$revision"
  printf 'CREATED=%s\n' "$created"
} > dist/image.env
if [[ $quiet -eq 1 ]]; then
  echo "$image_id"
else
  echo "image id:  $image_id"
  for t in "${tags[@]}"; do echo "tag:       $t"; done
  echo "size:      $size bytes ($(( (size + 524288) / 1048576 )) MiB)"
  echo "record:    dist/image.env"
fi
