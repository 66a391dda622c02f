#!/usr/bin/env bash
# release-evidence.sh — write one release record per build: version, commit, image ID/digest,
# CycloneDX SBOM, test summary, platform figures, checksums.
#
# Usage: scripts/release-evidence.sh [--test-log FILE]... [--image REF] [--out DIR]
#
#   --test-log FILE  a test run's output (e.g. `scripts/test.sh 2>&1 | tee test.log`); its
#                    "N passed, N failed" lines are summarised and the log is hashed and copied
#   --image REF      the image (default: dist/image.env from scripts/build-image.sh)
#   --out DIR        default dist/releases
# Writes DIR/<version>-<sha12>/: release.json, sbom.cdx.json (cyclonedx-gomod v1.10.0 `app`
# mode for cmd/regcase: exactly the modules linked into the binary, built offline from the
# module graph; installed with `go install` when missing), image.env, push.env (when the image
# was pushed: the registry digest), tests/*.log, platform-measurements.env, SHA256SUMS.
# Deployments are recorded where they happen (scripts/deploy.sh: $REGCASE_STATE_DIR/history.log
# with the digest and deployed-at time), and point back here through version and digest.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

logs=() image="" out="$REPO_ROOT/dist/releases"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --test-log) logs+=("${2:?}"); shift ;;
    --image) image="${2:?}"; shift ;;
    --out) out="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need go git sha256sum
cd "$REPO_ROOT"

commit="$(git_sha_full)"
short="$(git_sha)"
dirty=false; [[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] || dirty=true
[[ -n "$image" ]] || image="$(sed -n 's/^IMAGE_REF=//p' dist/image.env 2>/dev/null || true)"
version=""
if [[ -n "$image" ]] && command -v docker >/dev/null && docker image inspect "$image" >/dev/null 2>&1; then
  version="$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$image")"
  image_id="$(docker image inspect -f '{{.Id}}' "$image")"
  image_size="$(docker image inspect -f '{{.Size}}' "$image")"
  image_revision="$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$image")"
  [[ "$image_revision" == "$commit" ]] || warn "image $image was built from $image_revision, not the checked-out $commit"
else
  warn "no image available: the record will have no image fields"
  image_id="" image_size="" image_revision=""
fi
[[ -n "$version" ]] || version="$(git_version)"
dir="$out/$(printf '%s' "$version" | tr -c 'A-Za-z0-9_.-' '-')-$short"
mkdir -p "$dir/tests"

# SBOM of the binary's module graph (offline: the module cache is the source).
"$REPO_ROOT/scripts/install-platform-tools.sh" cyclonedx >&2
cdx="$(go env GOPATH)/bin/cyclonedx-gomod"
GOOS=linux GOARCH="${GOARCH:-$(go env GOARCH)}" CGO_ENABLED=0 \
  "$cdx" app -json -main cmd/regcase -licenses -output "$dir/sbom.cdx.json" "$REPO_ROOT" 2>"$dir/sbom.log" \
  || { cat "$dir/sbom.log" >&2; die "cyclonedx-gomod failed"; }
rm -f "$dir/sbom.log"
components="$(grep -o '"bom-ref"' "$dir/sbom.cdx.json" | wc -l)"

[[ -f dist/image.env ]] && cp dist/image.env "$dir/image.env"
[[ -f dist/push.env ]] && cp dist/push.env "$dir/push.env"
digest_ref="$(sed -n 's/^IMAGE_DIGEST_REF=//p' dist/push.env 2>/dev/null || true)"
[[ -f dist/platform-measurements.env ]] && cp dist/platform-measurements.env "$dir/platform-measurements.env"

tests_json=""
for l in "${logs[@]}"; do
  [[ -r "$l" ]] || die "cannot read test log $l"
  cp "$l" "$dir/tests/$(basename "$l")"
  summary="$(grep -E '([a-z]+: )?[0-9]+ passed, [0-9]+ failed' "$l" | tail -1 || true)"
  gotest="$(grep -cE '^ok +[a-z]' "$l" || true)"
  gofail="$(grep -cE '^(FAIL|--- FAIL)' "$l" || true)"
  tests_json+="${tests_json:+,}{\"log\":$(json_str "tests/$(basename "$l")"),\"sha256\":\"$(sha256sum "$l" | cut -d' ' -f1)\",\"summary\":$(json_str "$summary"),\"go_packages_ok\":$gotest,\"go_failures\":$gofail}"
done

cat >"$dir/release.json" <<JSON
{
  "name": "regcase",
  "version": $(json_str "$version"),
  "commit": $(json_str "$commit"),
  "tree_dirty": $dirty,
  "built_by": $(json_str "${SUDO_USER:-$(id -un)}@$(hostname)"),
  "recorded_at": $(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),
  "go_version": $(json_str "$(go env GOVERSION)"),
  "image": {
    "reference": $(json_str "$image"),
    "id": $(json_str "$image_id"),
    "registry_digest_ref": $(json_str "$digest_ref"),
    "size_bytes": ${image_size:-null},
    "revision_label": $(json_str "$image_revision"),
    "base": "scratch",
    "dockerfile": "docker/Dockerfile"
  },
  "sbom": {"file": "sbom.cdx.json", "format": "CycloneDX JSON", "generator": "cyclonedx-gomod $CYCLONEDX_GOMOD_VERSION app -main cmd/regcase", "components": $components,
           "note": "Go modules linked into /regcase; the image adds only /etc/passwd, /etc/group and the CA bundle"},
  "tests": [${tests_json}],
  "deployments": "recorded per host by scripts/deploy.sh in \$REGCASE_STATE_DIR/history.log"
}
JSON
(cd "$dir" && find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 sha256sum >SHA256SUMS)
log "release record: $dir ($components SBOM components)"
echo "$dir"
