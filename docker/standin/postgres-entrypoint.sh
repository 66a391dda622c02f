#!/usr/bin/env bash
# Entrypoint of the regcase stand-in postgres image (Debian postgresql-15).
# Reproduces the subset of the upstream postgres image's docker-entrypoint.sh contract that
# regcase uses: POSTGRES_USER, POSTGRES_PASSWORD / POSTGRES_PASSWORD_FILE, POSTGRES_DB,
# POSTGRES_INITDB_ARGS, PGDATA, scram-sha-256 host auth, /docker-entrypoint-initdb.d/*.sh|*.sql
# run once on an empty data directory against a socket-only temporary server, then
# `exec postgres "$@"` listening on all addresses. Must run as a non-root uid (999).
set -Eeuo pipefail

file_env() { # VAR [default]: VAR or the content of VAR_FILE
  local var="$1" fvar="${1}_FILE" def="${2:-}"
  if [[ -n "${!var:-}" && -n "${!fvar:-}" ]]; then
    echo "error: both $var and $fvar are set (but are exclusive)" >&2; exit 1
  fi
  local val="$def"
  if [[ -n "${!var:-}" ]]; then val="${!var}"; elif [[ -n "${!fvar:-}" ]]; then val="$(<"${!fvar}")"; fi
  export "$var"="$val"
  unset "$fvar"
}

if [[ "${1:-}" == -* ]]; then set -- postgres "$@"; fi
if [[ "${1:-}" != postgres ]]; then exec "$@"; fi

if [[ $(id -u) -eq 0 ]]; then
  echo "error: the regcase stand-in postgres image runs as uid 999, not root" >&2; exit 1
fi

: "${PGDATA:=/var/lib/postgresql/data}"
mkdir -p "$PGDATA"
chmod 0700 "$PGDATA" 2>/dev/null || true
mkdir -p /var/run/postgresql 2>/dev/null || true

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  if [[ -z "$POSTGRES_PASSWORD" ]]; then
    echo "error: database is uninitialized and POSTGRES_PASSWORD(_FILE) is not set" >&2; exit 1
  fi
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 $POSTGRES_INITDB_ARGS -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  {
    echo "listen_addresses = '*'"
    echo "unix_socket_directories = '/var/run/postgresql'"
  } >>"$PGDATA/postgresql.conf"
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"

  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p 5432" start >/dev/null
  export PGUSER="$POSTGRES_USER" PGHOST=/var/run/postgresql PGPORT=5432
  psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password)
  if [[ "$POSTGRES_DB" != postgres ]]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
  fi
  psql+=(--dbname "$POSTGRES_DB")
  for f in /docker-entrypoint-initdb.d/*; do
    [[ -e "$f" ]] || continue
    case "$f" in
      *.sh)
        if [[ -x "$f" ]]; then echo "running $f"; "$f"; else echo "sourcing $f"; . "$f"; fi ;;
      *.sql) echo "running $f"; "${psql[@]}" -f "$f" ;;
      *) echo "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  unset PGUSER PGHOST PGPORT
  echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
