#!/usr/bin/env bash
# scripts/api.sh — `make api`: the Universal API (api/server.js, PostGraphile)
# on PHOENIX_API_PORT (default 5480) against DATABASE_URL, by default the
# cluster `PHOENIX_KEEP=1 make demo` left running (.demo-cluster), as the
# phoenix_api login.  Needs PHOENIX_JWT_SECRET (tokens: node api/token.js).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_api_packages
if [ -z "${DATABASE_URL:-}" ]; then
  [ -f .demo-cluster ] || die "set DATABASE_URL, or start a demo cluster first: PHOENIX_KEEP=1 make demo"
  # shellcheck disable=SC1091
  . ./.demo-cluster
  "$PGBIN/pg_isready" -q -h "$PGHOST" -p "$PGPORT" ||
    die "the demo cluster of .demo-cluster (port $PGPORT) is not running: PHOENIX_KEEP=1 make demo"
  export DATABASE_URL="postgres://phoenix_api@$PGHOST:$PGPORT/$PGDATABASE"
fi
[ -n "${PHOENIX_JWT_SECRET:-}" ] ||
  die "set PHOENIX_JWT_SECRET (the HS256 secret your tokens are signed with; node api/token.js ROLE prints one)"
export PHOENIX_API_PORT=${PHOENIX_API_PORT:-5480}
log "Universal API on http://${PHOENIX_API_HOST:-127.0.0.1}:$PHOENIX_API_PORT/graphql (GraphiQL: /graphiql) against ${DATABASE_URL%%\?*}"
exec node api/server.js
