#!/usr/bin/env bash
# gen-secrets.sh — create the secret files the Compose stacks mount (see secrets/README.md).
#
# Usage: scripts/gen-secrets.sh [--dir DIR] [--force] [--rotate NAME]... [--tls-host NAME]...
#
#   --dir DIR       where to write (default: $REGCASE_SECRETS_DIR or ./secrets)
#   --force         regenerate every file (a NEW database cluster is needed: the passwords are
#                   baked into it on first start; use --rotate for a running system)
#   --rotate NAME   regenerate one logical secret and everything derived from it:
#                   pg_owner | pg_api | pg_worker | pg_superuser | redis | data_key | audit_signing_key | tls |
#                   grafana
#                   (see ops/runbook-single-host.md "Secret rotation" for the rollout steps)
#   --tls-host H    extra DNS name for the self-signed certificate (default: localhost, proxy)
#
# Existing files are never overwritten without --force/--rotate, so the script is safe to re-run.
# Files: pg_superuser_password pg_owner_password pg_api_password database_url_owner
#        database_url_api pg_worker_password database_url_worker redis_password redis_acl redis_url data_key grafana_admin_password
#        audit_signing_key
#        audit_public_key (not secret) tls_cert.pem tls_key.pem (self-signed: replace with the
#        real certificate in production).
# Permissions: the directory is 0700 (only root on the host can reach the files); the files are
# 0444 because Compose bind-mounts them unchanged into containers that run as non-root uids
# (65532, 999, 101) which must be able to read them.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

dir="${REGCASE_SECRETS_DIR:-$REPO_ROOT/secrets}" force=0 rotate=() tls_hosts=(localhost proxy)
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --dir) dir="${2:?}"; shift ;;
    --force) force=1 ;;
    --rotate) rotate+=("${2:?}"); shift ;;
    --tls-host) tls_hosts+=("${2:?}"); shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need openssl base64 sha256sum
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

PG_HOST="${REGCASE_PG_HOST:-postgres}" PG_DB="${REGCASE_PG_DB:-regcase}"
REDIS_HOST="${REGCASE_REDIS_HOST:-redis}"

rotating() { local r; for r in "${rotate[@]}"; do [[ $r == "$1" ]] && return 0; done; return 1; }
# fresh NAME [LOGICAL]: true when NAME must be (re)written.
fresh() { [[ $force -eq 1 || ! -s "$dir/$1" ]] || { [[ -n "${2:-}" ]] && rotating "$2"; }; }
put() { # NAME CONTENT
  local tmp="$dir/.$1.tmp"
  printf '%s' "$2" >"$tmp"
  chmod 0444 "$tmp"
  mv -f "$tmp" "$dir/$1"
  changed+=("$1")
}
pw() { openssl rand -hex 24; }
changed=()

fresh pg_superuser_password pg_superuser && put pg_superuser_password "$(pw)"
fresh pg_owner_password pg_owner && put pg_owner_password "$(pw)"
fresh pg_api_password pg_api && put pg_api_password "$(pw)"
if fresh database_url_owner pg_owner || [[ " ${changed[*]} " == *" pg_owner_password "* ]]; then
  put database_url_owner "postgres://regcase_owner:$(<"$dir/pg_owner_password")@$PG_HOST:5432/$PG_DB?sslmode=disable"
fi
if fresh database_url_api pg_api || [[ " ${changed[*]} " == *" pg_api_password "* ]]; then
  put database_url_api "postgres://regcase_api:$(<"$dir/pg_api_password")@$PG_HOST:5432/$PG_DB?sslmode=disable"
fi
# The worker's own login (regcase_wrk, member of regcase_worker: the only role that may insert
# audit checkpoints).
fresh pg_worker_password pg_worker && put pg_worker_password "$(pw)"
if fresh database_url_worker pg_worker || [[ " ${changed[*]} " == *" pg_worker_password "* ]]; then
  put database_url_worker "postgres://regcase_wrk:$(<"$dir/pg_worker_password")@$PG_HOST:5432/$PG_DB?sslmode=disable"
fi

fresh redis_password redis && put redis_password "$(pw)"
if fresh redis_acl redis || fresh redis_url redis || [[ " ${changed[*]} " == *" redis_password "* ]]; then
  rpw="$(<"$dir/redis_password")"
  hash="$(printf '%s' "$rpw" | sha256sum | cut -d' ' -f1)"
  # default: healthcheck PING only. regcase: its own keys (regcase:*: the event streams and the
  # intake rate-limit buckets), no pub/sub, nothing administrative or dangerous (KEYS, FLUSH*,
  # DEBUG, CONFIG, CLIENT LIST…). Checked with ACL DRYRUN against every command the streams and
  # the rate limiter use (Redis 7.0).
  put redis_acl "user default on nopass resetchannels -@all +ping +hello +auth
user regcase on #$hash ~regcase:* resetchannels +@all -@admin -@dangerous
"
  put redis_url "redis://regcase:$rpw@$REDIS_HOST:6379/0"
fi

fresh data_key data_key && put data_key "$(openssl rand -base64 32)"
fresh grafana_admin_password grafana && put grafana_admin_password "$(pw)"

if fresh audit_signing_key audit_signing_key || fresh audit_public_key audit_signing_key; then
  der="$(mktemp)"
  openssl genpkey -algorithm ed25519 -outform DER -out "$der" 2>/dev/null
  # PKCS#8 DER of an Ed25519 key ends with the 32-byte seed; the SPKI DER ends with the public key.
  put audit_signing_key "$(tail -c 32 "$der" | base64 -w0)"
  put audit_public_key "$(openssl pkey -inform DER -in "$der" -pubout -outform DER | tail -c 32 | base64 -w0)"
  rm -f "$der"
fi

if fresh tls_cert.pem tls || fresh tls_key.pem tls; then
  san="IP:127.0.0.1"
  for h in "${tls_hosts[@]}"; do san+=",DNS:$h"; done
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -subj "/CN=${tls_hosts[0]}/O=regcase self-signed (development only)" \
    -addext "subjectAltName=$san" -addext "extendedKeyUsage=serverAuth" \
    -keyout "$dir/.tls_key.tmp" -out "$dir/.tls_cert.tmp" >/dev/null 2>&1
  chmod 0444 "$dir/.tls_key.tmp" "$dir/.tls_cert.tmp"
  mv -f "$dir/.tls_key.tmp" "$dir/tls_key.pem"
  mv -f "$dir/.tls_cert.tmp" "$dir/tls_cert.pem"
  changed+=(tls_cert.pem tls_key.pem)
  warn "tls_cert.pem is SELF-SIGNED ($san): replace it with a real certificate in production"
fi

if [[ ${#changed[@]} -gt 0 ]]; then
  log "wrote in $dir: ${changed[*]}"
else
  log "all secret files present in $dir (nothing changed)"
fi
echo "REGCASE_AUDIT_PUBLIC_KEY=$(<"$dir/audit_public_key")"
