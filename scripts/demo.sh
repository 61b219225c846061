#!/usr/bin/env bash
# scripts/demo.sh — `make demo`: packages, build, install, a throwaway cluster,
# the tour (scripts/demo.sql: the four stories of docs/design.md) and its reports.
#   PHOENIX_KEEP=1   leave the cluster running and print how to connect
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages
build_extension
log "installing phoenix into the server"
make -s install >/dev/null
sandbox_create
trap sandbox_destroy EXIT
cluster_start phoenix
FIXTURES=$(server_readable_copy "$PWD/test/fixtures")
log "running the tour (scripts/demo.sql)"
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -v fixtures="$FIXTURES" -P pager=off -f scripts/demo.sql
if [ -n "${PHOENIX_KEEP:-}" ]; then
  trap - EXIT
  log "cluster left running: psql 'host=$PGHOST port=$PGPORT user=postgres dbname=phoenix'"
  log "stop it with: runuser -u postgres -- $PGBIN/pg_ctl -D $PHOENIX_PGDATA stop"
fi
