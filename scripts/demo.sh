#!/usr/bin/env bash
# scripts/demo.sh — `make demo`: packages, build, install, a throwaway cluster,
# the tour (scripts/demo.sql: the four stories of docs/design.md) and its reports.
#   PHOENIX_KEEP=1   leave the cluster running, print how to connect and
#                    write it to .demo-cluster (where `make api` looks)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages
ensure_api_packages
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
  cat >.demo-cluster <<EOF
# written by PHOENIX_KEEP=1 make demo: the cluster it left running
PGHOST=127.0.0.1
PGPORT=$PGPORT
PGDATABASE=phoenix
PGBIN=$PGBIN
PHOENIX_PGDATA=$PHOENIX_PGDATA
EOF
  log "cluster left running: psql 'host=$PGHOST port=$PGPORT user=postgres dbname=phoenix'"
  log "stop it with: runuser -u postgres -- $PGBIN/pg_ctl -D $PHOENIX_PGDATA stop"
fi
