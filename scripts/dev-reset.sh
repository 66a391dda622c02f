#!/usr/bin/env bash
# dev-reset.sh — stop the development stack and delete its volumes (database, Redis, metrics).
#
# Usage: scripts/dev-reset.sh [--yes] [--secrets]
#
#   --yes      do not ask for confirmation
#   --secrets  also delete the development secrets in ./secrets (a new database is created on
#              the next dev-up anyway, with the new passwords)
# Runs `docker compose -f compose.yml -f compose.dev.yml -f compose.observability.yml
# --profile '*' down -v --remove-orphans`. Never touches a production project: it refuses when
# REGCASE_ENV=production or when the project has containers labelled with compose.prod.yml.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

yes=0 secrets=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --yes) yes=1 ;;
    --secrets) secrets=1 ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
need docker
cd "$REPO_ROOT"
[[ "${REGCASE_ENV:-}" != production ]] || die "REGCASE_ENV=production: dev-reset.sh never runs against production"
if docker ps -a --filter label=com.docker.compose.project=regcase --format '{{.Label "com.docker.compose.project.config_files"}}' | grep -q 'compose.prod.yml'; then
  die "project 'regcase' on this engine was started with compose.prod.yml: refusing"
fi
if [[ $yes -eq 0 ]]; then
  read -r -p "Delete the development stack and ALL its data (volumes)? [y/N] " a
  [[ "$a" == [yY]* ]] || { echo "aborted"; exit 1; }
fi
export REGCASE_SECRETS_DIR="${REGCASE_SECRETS_DIR:-$REPO_ROOT/secrets}"
compose "${COMPOSE_DEV_OBS[@]}" --profile '*' down -v --remove-orphans --timeout 30
if [[ $secrets -eq 1 ]]; then
  find "$REGCASE_SECRETS_DIR" -maxdepth 1 -type f ! -name README.md ! -name .gitignore -delete
  log "development secrets deleted from $REGCASE_SECRETS_DIR"
fi
log "development stack removed"
