#!/usr/bin/env bash
# install-jaeger.sh — build the Jaeger v2 binary (cmd/jaeger) from the Go module proxy and
# cache it, for the tracing end-to-end test (internal/e2e TestTraceFromRequestToWebhook).
#
# Usage: scripts/install-jaeger.sh [--print] [--help]
#
#   --print   print the cached binary's path (after building it when missing)
#
# `go install github.com/jaegertracing/jaeger/cmd/jaeger@VERSION` fails (the module has replace
# directives), so the module's source is downloaded with `go mod download`, copied somewhere
# writable and built there with -mod=mod. The binary is cached as
# $REGCASE_TOOLS_CACHE/jaeger/$JAEGER_VERSION/jaeger (default ~/.cache/regcase-tools); delete it
# to force a rebuild. Build parallelism: $JAEGER_BUILD_P (go build -p, default: go's default).
# Measured once: 1070 s wall (5m54s user + 1m17s system CPU) on a 2-core machine shared with six
# engineers' builds and an empty module cache — most of it downloading ~300 modules and
# waiting for the CPU; afterwards the cached binary makes this a no-op.
#
# Environment: JAEGER_VERSION (default v1.75.0), REGCASE_TOOLS_CACHE, JAEGER_BUILD_P.
set -euo pipefail

JAEGER_VERSION="${JAEGER_VERSION:-v1.75.0}"
TOOLS_CACHE="${REGCASE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regcase-tools}"
bin="$TOOLS_CACHE/jaeger/$JAEGER_VERSION/jaeger"
print=0

case "${1:-}" in
-h | --help)
	sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
--print) print=1 ;;
"") ;;
*)
	echo "install-jaeger: unknown argument: $1" >&2
	exit 64
	;;
esac

log() { echo "install-jaeger: $*" >&2; }

if [[ -x "$bin" ]]; then
	log "using cached $bin"
else
	command -v go >/dev/null 2>&1 || { log "go not found"; exit 1; }
	log "building Jaeger $JAEGER_VERSION (cmd/jaeger) from the Go module proxy; this takes minutes once"
	start=$(date +%s)
	mkdir -p "$TOOLS_CACHE"
	# Outside any module, so no project go.mod is touched.
	json="$(cd "$TOOLS_CACHE" && GOFLAGS= go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION")"
	dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[[ -d "$dir" ]] || { log "go mod download returned no source directory"; exit 1; }
	work="$(mktemp -d)"
	trap '[[ $BASHPID == "$$" ]] && rm -rf "$work"' EXIT
	# The module cache is read-only: build in a writable copy.
	cp -r "$dir/." "$work/"
	chmod -R u+w "$work"
	mkdir -p "$(dirname "$bin")"
	pflag=()
	[[ -n "${JAEGER_BUILD_P:-}" ]] && pflag=(-p "$JAEGER_BUILD_P")
	(
		cd "$work"
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build "${pflag[@]}" -trimpath -ldflags '-s -w' -o "$bin.tmp" ./cmd/jaeger
	)
	mv "$bin.tmp" "$bin"
	log "built $bin in $(($(date +%s) - start)) s"
fi
[[ "$print" == 1 ]] && echo "$bin"
exit 0
