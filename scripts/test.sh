#!/usr/bin/env bash
# scripts/test.sh — the project's one test command (README "Test it"; CI runs it).
#
# Installs what the tests need when missing (PostgreSQL server binaries,
# Redis, staticcheck), then runs: gofmt check, go vet, staticcheck,
# go test -race over every package (the store suite runs on SQLite and on a
# throwaway PostgreSQL that the tests start on 127.0.0.1), and the platform
# checks (Compose, Prometheus rules, production policy, and the Docker-engine
# tests when an engine answers).
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: scripts/test.sh [--no-platform] [--help]

  --no-platform   skip scripts/test-platform.sh and scripts/test-orchestrators.sh
                  (Compose/Docker/Prometheus/Swarm/Helm checks and drills)

Environment:
  REGCASE_TEST_POSTGRES_URL  use this PostgreSQL superuser URL instead of starting one
  GO_TEST_FLAGS              extra flags for go test (default: -race -count=1)
USAGE
}

platform=1
for arg in "$@"; do
	case "$arg" in
	--no-platform) platform=0 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "scripts/test.sh: unknown argument: $arg" >&2; usage >&2; exit 64 ;;
	esac
done

cd "$(dirname "$0")/.."
STATICCHECK_VERSION=v0.8.2
gobin="$(go env GOPATH)/bin"
start=$(date +%s)

section() { printf '\n== %s (%ss)\n' "$1" "$(($(date +%s) - start))"; }

section "dependencies"
# Jaeger v2 for the tracing end-to-end test: built once from the Go module
# proxy and cached (~18 min on a busy 2-core machine with a cold module
# cache; instant afterwards). Its build starts first and runs beside the
# other installs (much of it is downloading modules); it must be done before
# the tests start.
jaeger_log="$(mktemp)"
scripts/install-jaeger.sh >"$jaeger_log" 2>&1 &
jaeger_pid=$!
scripts/install-test-deps.sh
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
	echo "installing staticcheck $STATICCHECK_VERSION"
	go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
if ! wait "$jaeger_pid"; then
	cat "$jaeger_log"; echo "scripts/install-jaeger.sh failed" >&2; exit 1
fi
cat "$jaeger_log"; rm -f "$jaeger_log"

section "gofmt"
unformatted=$(git ls-files -z -- '*.go' | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

section "go vet"
go vet ./...

section "staticcheck"
"$gobin/staticcheck" ./...

section "go test"
# The Redis- and PostgreSQL-backed tests fail (instead of skipping) when the
# server binaries are missing: install-test-deps above provides them.
export REGCASE_REQUIRE_REDIS=1
# The tracing test fails (instead of skipping) without Jaeger: install-jaeger above provides it.
export REGCASE_REQUIRE_JAEGER=1
# The e-mail notification tests fail (instead of skipping) without Mailpit.
export REGCASE_REQUIRE_MAILPIT=1
# shellcheck disable=SC2086
go test ${GO_TEST_FLAGS:--race -count=1} -timeout 25m ./...

section "audit log: verify 100,000 records on both engines (without -race, ~30 s)"
go test -count=1 -timeout 10m -run 'TestStore/Merkle/Verify100k' ./internal/sqlite/ ./internal/postgres/

if [ "$platform" = 1 ]; then
	section "platform: image, Compose, policy, single-host drills"
	scripts/test-platform.sh
	section "orchestrators: Swarm stack, Helm chart, offline checks and Swarm drills"
	scripts/test-orchestrators.sh
fi

section "done"
