#!/usr/bin/env bash
# Installs what the test suite needs and is missing: the PostgreSQL server
# (tests start throwaway clusters with internal/pgtest; pgbench comes with
# postgresql-contrib), redis-server and chromium (the web console's
# end-to-end test drives it headless with chromedp). Idempotent;
# Debian/Ubuntu (apt-get).
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/install-test-deps.sh [--help]

Installs, with apt-get, the packages the tests need that are not installed yet:
  postgresql postgresql-contrib   PostgreSQL server (15+), initdb, pg_ctl, pgbench
  redis-server                    Redis for the event stream tests
  chromium                        headless browser for the web console's end-to-end test
Runs `apt-get update` once, only when something is missing. Needs root (or
sudo). Safe to run again: it then changes nothing.

The tests do not use the cluster the postgresql package may start; they run
their own on a free loopback port (internal/pgtest, scripts/pg-test-server.sh).

Also installs Mailpit (the SMTP server the e-mail notification tests start on
loopback, internal/mailpittest) with `go install` from the Go module proxy
when it is not on PATH or in $(go env GOPATH)/bin (about 90 s to build).
EOF
}

case "${1:-}" in
-h | --help)
	usage
	exit 0
	;;
"") ;;
*)
	echo "install-test-deps: unknown argument: $1" >&2
	usage >&2
	exit 64
	;;
esac

# Mailpit, from the Go module proxy (not a Debian package).
MAILPIT_VERSION=v1.33.1
if command -v go >/dev/null 2>&1; then
	gobin="$(go env GOPATH)/bin"
	if command -v mailpit >/dev/null 2>&1 || [ -x "$gobin/mailpit" ]; then
		echo "install-test-deps: mailpit already installed"
	else
		echo "install-test-deps: installing mailpit $MAILPIT_VERSION (go install)"
		go install "github.com/axllent/mailpit@$MAILPIT_VERSION"
	fi
else
	echo "install-test-deps: go not found; cannot install mailpit" >&2
fi

packages=(postgresql postgresql-contrib redis-server chromium)

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-test-deps: apt-get not found; install PostgreSQL 15+ (initdb, pg_ctl, pgbench), redis-server and chromium with your package manager" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	if installed "$p"; then
		echo "install-test-deps: $p already installed"
	else
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-test-deps: nothing to do"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "install-test-deps: not root and no sudo; run as root to install: ${missing[*]}" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-test-deps: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${missing[@]}"

for p in "${missing[@]}"; do
	if ! installed "$p"; then
		echo "install-test-deps: $p is still not installed" >&2
		exit 1
	fi
done
bindir=$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
[ -d "$bindir" ] || bindir=""
echo "install-test-deps: installed ${missing[*]}${bindir:+ (PostgreSQL binaries in $bindir)}"
