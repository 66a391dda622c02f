#!/usr/bin/env bash
# First-start initialisation of the regcase database (run once by the postgres image's entrypoint,
# on an empty data directory, against a socket-only temporary server, as POSTGRES_USER).
#
# Roles (the binary's contract; grants in internal/postgres/README.md, "Roles"):
#   regcase_owner  LOGIN, owner of the database: `regcase migrate` connects as it.
#   regcase_app    NOLOGIN: holds the application's privileges (granted by the migrations; no
#                  UPDATE/DELETE on audit tables).
#   regcase_api    LOGIN, member of regcase_app: `regcase api` connects as it.
#   regcase_worker NOLOGIN, member of regcase_app: alone may insert audit checkpoints (migration 0004).
#   regcase_wrk    LOGIN, member of regcase_worker: `regcase worker` connects as it.
# Passwords come from secret files named by REGCASE_OWNER_PASSWORD_FILE / REGCASE_API_PASSWORD_FILE /
# REGCASE_WORKER_PASSWORD_FILE.
# Idempotent: re-running it (e.g. by hand after a password rotation) alters instead of creating.
set -Eeuo pipefail

owner_pw="$(<"${REGCASE_OWNER_PASSWORD_FILE:?REGCASE_OWNER_PASSWORD_FILE is not set}")"
api_pw="$(<"${REGCASE_API_PASSWORD_FILE:?REGCASE_API_PASSWORD_FILE is not set}")"
worker_pw="$(<"${REGCASE_WORKER_PASSWORD_FILE:?REGCASE_WORKER_PASSWORD_FILE is not set}")"
db="${POSTGRES_DB:-regcase}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "$db" \
  --set=db="$db" --set=owner_pw="$owner_pw" --set=api_pw="$api_pw" --set=worker_pw="$worker_pw" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regcase_owner') AS missing_owner \gset
\if :missing_owner
  CREATE ROLE regcase_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_pw';
\else
  ALTER ROLE regcase_owner LOGIN PASSWORD :'owner_pw';
\endif

SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regcase_app') AS missing_app \gset
\if :missing_app
  CREATE ROLE regcase_app NOLOGIN;
\endif

SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regcase_api') AS missing_api \gset
\if :missing_api
  CREATE ROLE regcase_api LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE IN ROLE regcase_app PASSWORD :'api_pw';
\else
  ALTER ROLE regcase_api LOGIN PASSWORD :'api_pw';
  GRANT regcase_app TO regcase_api;
\endif

SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regcase_worker') AS missing_worker_group \gset
\if :missing_worker_group
  CREATE ROLE regcase_worker NOLOGIN IN ROLE regcase_app;
\else
  GRANT regcase_app TO regcase_worker;
\endif

SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regcase_wrk') AS missing_worker \gset
\if :missing_worker
  CREATE ROLE regcase_wrk LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE IN ROLE regcase_worker PASSWORD :'worker_pw';
\else
  ALTER ROLE regcase_wrk LOGIN PASSWORD :'worker_pw';
  GRANT regcase_worker TO regcase_wrk;
\endif

ALTER DATABASE :"db" OWNER TO regcase_owner;
-- Nobody connects by default; the owner (by ownership) and the app role explicitly.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO regcase_app;
-- The public schema belongs to the owner; the app may use it but never create in it.
ALTER SCHEMA public OWNER TO regcase_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO regcase_app;
SQL
echo "regcase roles ready: regcase_owner (owner of $db), regcase_app (NOLOGIN), regcase_api (LOGIN, in regcase_app), regcase_worker (NOLOGIN, in regcase_app), regcase_wrk (LOGIN, in regcase_worker)"
