#!/usr/bin/env bash
# promote-image.sh — move a pushed image up the promotion tiers BY DIGEST, without rebuilding:
#   :sha-<commit>  (scripts/push-image.sh: every build)  ->  :X.Y.Z-rc.N  (release candidate)
#   ->  :X.Y.Z  (the release; only a digest that was an rc of the same X.Y.Z)
#
# Usage: scripts/promote-image.sh --ref REPO@sha256:DIGEST --tag X.Y.Z-rc.N|X.Y.Z [--insecure]
#
#   --ref       the digest reference to promote (dist/push.env IMAGE_DIGEST_REF)
#   --tag       the tier tag to add in the same repository
#   --insecure  plain-HTTP registry (the local drill registry; 127.0.0.1 and localhost are
#               plain HTTP for crane anyway)
# Rules (each refusal is one line and exit 65): the digest must exist in the registry and carry
# a sha-<commit> tag (it came from CI, not a laptop); X.Y.Z-rc.N may point at any such digest but
# never moves once set; X.Y.Z only at a digest that is already tagged X.Y.Z-rc.<n>, and never
# moves either. The manifest is copied registry-side with crane (go-containerregistry, pinned in
# lib/common.sh), so the bytes deployed are the bytes tested. Prints the promoted REPO:TAG and
# its digest; appends "<time> <tag> <digest>" to dist/promotions.log.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ref="" tag="" insecure=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --ref) ref="${2:?}"; shift ;;
    --tag) tag="${2:?}"; shift ;;
    --insecure) insecure=(--insecure) ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
[[ "$ref" =~ ^([^@]+)@(sha256:[0-9a-f]{64})$ ]] || die "--ref must be REPO@sha256:<64 hex> (got '${ref}')" 64
repo="${BASH_REMATCH[1]}" digest="${BASH_REMATCH[2]}"
if [[ "$tag" =~ ^([0-9]+\.[0-9]+\.[0-9]+)-rc\.[0-9]+$ ]]; then
  tier=rc base="${BASH_REMATCH[1]}"
elif [[ "$tag" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  tier=release base="$tag"
else
  die "--tag must be X.Y.Z-rc.N or X.Y.Z (got '${tag}')" 64
fi
"$REPO_ROOT/scripts/install-platform-tools.sh" crane
cr() { "$CRANE" "${insecure[@]}" "$@"; }

tags="$(cr ls "$repo" 2>&1)" || die "cannot list $repo: $tags" 69
got="$(cr digest "$repo@$digest" 2>/dev/null)" || die "$repo@$digest does not exist in the registry" 65
digest_of() { cr digest "$repo:$1" 2>/dev/null || true; }
has_sha=0
for t in $(grep '^sha-' <<<"$tags" || true); do [[ "$(digest_of "$t")" == "$digest" ]] && { has_sha=1; break; }; done
[[ $has_sha -eq 1 ]] || die "$digest carries no sha-<commit> tag in $repo: only pushed builds are promoted" 65
if grep -qx -- "$tag" <<<"$tags"; then
  cur="$(digest_of "$tag")"
  [[ "$cur" == "$digest" ]] || die "$repo:$tag already points at $cur: tier tags never move" 65
  log "$repo:$tag already points at $digest (nothing to do)"
else
  if [[ $tier == release ]]; then
    ok=0
    for t in $(grep -E "^${base//./\\.}-rc\.[0-9]+$" <<<"$tags" || true); do [[ "$(digest_of "$t")" == "$digest" ]] && { ok=1; break; }; done
    [[ $ok -eq 1 ]] || die "$digest was never a release candidate of $base (no $base-rc.N tag on it): promote to an rc first" 65
  fi
  out="$(cr tag "$repo@$digest" "$tag" 2>&1)" || die "crane tag failed: $out" 1
  [[ "$(digest_of "$tag")" == "$digest" ]] || die "after tagging, $repo:$tag does not resolve to $digest" 1
fi
mkdir -p "$REPO_ROOT/dist"
printf '%s %s:%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$repo" "$tag" "$digest" >>"$REPO_ROOT/dist/promotions.log"
echo "$repo:$tag $digest"
