#!/usr/bin/env bash
# scripts/test.sh — `make test`: packages, build (-Werror), a throwaway cluster,
# then every suite: pg_regress (sql/), isolation (test/isolation/specs/),
# pgTAP (test/pgtap/, via pg_prove), shell tests (test/shell/*.sh) and the
# Universal API's Node tests (test/api/, against a running api/server.js).
# Prints "N passed, N failed" and exits non-zero on any failure.
#
#   PHOENIX_TESTS=regex   run only the tests whose name matches
#   PHOENIX_KEEP=1        keep the sandbox, cluster logs and outputs
#   PHOENIX_SANITIZE=1    build with UBSan; any undefined-behaviour report in
#                         the server log fails the run (server/sanitizer)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh

ensure_packages
ensure_api_packages
EXTRA_COPT="-Werror" build_extension
sandbox_create
trap sandbox_destroy EXIT
cluster_start postgres
FIXTURES=$(server_readable_copy "$ROOT/test/fixtures")
export PHOENIX_FIXTURES=$FIXTURES PHOENIX_ROOT=$ROOT
OUT="$PHOENIX_SANDBOX/out"; mkdir -p "$OUT"
# Every other server a test starts leaves its log here when it stops
# (server_log_keep in scripts/lib.sh); all are checked for crashes below.
PHOENIX_SERVER_LOGS="$PHOENIX_SANDBOX/server-logs"; mkdir -p "$PHOENIX_SERVER_LOGS"
PHOENIX_SHARED_LOG="$PHOENIX_SANDBOX/server.log"
export PHOENIX_SERVER_LOGS PHOENIX_SHARED_LOG

PGXS_DIR=$(dirname "$(pg_config --pgxs)")/..
PG_REGRESS=$PGXS_DIR/test/regress/pg_regress
PG_ISOLATION=$PGXS_DIR/test/isolation/pg_isolation_regress
filter=${PHOENIX_TESTS:-.}
passed=0; failed=0; failures=()

record() { # record <suite/name> <status>
  if [ "$2" = 0 ]; then passed=$((passed + 1)); printf '  ok      %s\n' "$1"
  else failed=$((failed + 1)); failures+=("$1"); printf '  FAILED  %s\n' "$1"; fi
}
selected() { [[ "$1" =~ $filter ]]; }

# The folders of src/ are layers: none includes a higher one (no cycles).
if selected layers; then
  bash scripts/check_layers.sh >"$OUT/layers.log" 2>&1
  rc=$?; record "source/layers" $rc
  [ $rc = 0 ] || cat "$OUT/layers.log" >&2
fi

# pg_regress: one fresh database per file, so files never see each other's objects.
log "pg_regress"
rm -rf results regression.diffs regression.out
for f in sql/*.sql; do
  [ -e "$f" ] || continue
  t=$(basename "$f" .sql); selected "$t" || continue
  "$PG_REGRESS" --bindir="$PGBIN" --inputdir=. --outputdir=. --host="$PGHOST" --port="$PGPORT" \
    --user=postgres --dbname=contrib_regression "$t" >"$OUT/regress_$t.log" 2>&1
  rc=$?; record "regress/$t" $rc
  [ $rc = 0 ] || cat regression.diffs 2>/dev/null | head -60 >&2
  mv regression.diffs "$OUT/regress_$t.diffs" 2>/dev/null || true
done

log "isolation"
for f in test/isolation/specs/*.spec; do
  [ -e "$f" ] || continue
  t=$(basename "$f" .spec); selected "$t" || continue
  "$PG_ISOLATION" --bindir="$PGBIN" --inputdir=test/isolation --outputdir=test/isolation/output_iso \
    --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname="iso_$t" "$t" >"$OUT/iso_$t.log" 2>&1
  rc=$?; record "isolation/$t" $rc
  [ $rc = 0 ] || head -60 test/isolation/output_iso/regression.diffs >&2 2>/dev/null
done

log "pgTAP"
for f in test/pgtap/*.sql; do
  [ -e "$f" ] || continue
  t=$(basename "$f" .sql); selected "$t" || continue
  PGOPTIONS="-c client_min_messages=warning" psql_q -d postgres -c "DROP DATABASE IF EXISTS \"tap_$t\"" -c "CREATE DATABASE \"tap_$t\""
  pg_prove -h "$PGHOST" -p "$PGPORT" -U postgres -d "tap_$t" "$f" >"$OUT/tap_$t.log" 2>&1
  rc=$?; record "pgtap/$t" $rc
  [ $rc = 0 ] || tail -40 "$OUT/tap_$t.log" >&2
done

log "shell"
for f in test/shell/*.sh; do
  [ -e "$f" ] || continue
  t=$(basename "$f" .sh); selected "$t" || continue
  PGOPTIONS="-c client_min_messages=warning" psql_q -d postgres -c "DROP DATABASE IF EXISTS \"sh_$t\"" -c "CREATE DATABASE \"sh_$t\""
  PGDATABASE="sh_$t" PHOENIX_TEST_NAME="$t" bash "$f" >"$OUT/sh_$t.log" 2>&1
  rc=$?; record "shell/$t" $rc
  [ $rc = 0 ] || tail -40 "$OUT/sh_$t.log" >&2
done

# The Universal API: a server on a free port against a database holding
# test/api/setup.sql, and `node --test` talking HTTP and WebSocket to it.
api_suite() {
  local db=api_test port secret pid rc=1 url
  PGOPTIONS="-c client_min_messages=warning" psql_q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  psql_q -d "$db" -f test/api/setup.sql >"$OUT/api_setup.log" 2>&1 || { cat "$OUT/api_setup.log" >&2; return 1; }
  port=$(free_port)
  secret=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
  DATABASE_URL="postgres://phoenix_api@127.0.0.1:$PGPORT/$db" PHOENIX_JWT_SECRET=$secret \
    PHOENIX_API_PORT=$port PHOENIX_API_ALLOW_EXPLAIN=1 node api/server.js >"$OUT/api_server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q 'listening on' "$OUT/api_server.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  url="http://127.0.0.1:$port/graphql"
  if grep -q 'listening on' "$OUT/api_server.log"; then
    PHOENIX_API_URL=$url PHOENIX_JWT_SECRET=$secret \
      PHOENIX_TEST_DB_URL="postgres://postgres@127.0.0.1:$PGPORT/$db" \
      node --test --test-force-exit test/api/ >"$OUT/api.log" 2>&1
    rc=$?
  else
    echo "the API server did not start:" >&2; cat "$OUT/api_server.log" >&2
  fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  [ $rc = 0 ] || { grep -E -A30 '^not ok' "$OUT/api.log" | head -80 >&2; tail -20 "$OUT/api_server.log" >&2; }
  return $rc
}

log "api"
if selected "api"; then
  api_suite; record "api/graphql" $?
fi

# Crashes: any backend ended by a signal on the shared server; on the servers
# tests start themselves, any but SIGKILL (which crash tests send on purpose).
# An assertion failure (TRAP) or a PANIC anywhere.
crashes() { # crashes <log> <regex of signals that are not crashes>
  grep -E 'TRAP:|PANIC:|terminated by signal|was terminated by exception' "$1" | grep -vE "$2" | head -5
}
found=$(crashes "$PHOENIX_SANDBOX/server.log" '^$')
for f in "$PHOENIX_SERVER_LOGS"/*; do
  [ -e "$f" ] || continue
  c=$(crashes "$f" 'terminated by signal 9:')
  [ -n "$c" ] && found+=$'\n'"$(basename "$f" | sed 's/\.[^.]*$//'): $c"
done
checked=$(( $(ls "$PHOENIX_SERVER_LOGS" | wc -l) + 1 ))
if [ -n "$found" ]; then
  printf '%s\n' "$found" >&2
  record "server/no-crash ($checked server logs)" 1
else
  record "server/no-crash ($checked server logs)" 0
fi

if [ -n "${PHOENIX_SANITIZE:-}" ]; then
  if grep -qE 'runtime error:' "$PHOENIX_SANDBOX/server.log" "$PHOENIX_SERVER_LOGS"/* 2>/dev/null; then
    grep -E -A30 'runtime error:' "$PHOENIX_SANDBOX/server.log" "$PHOENIX_SERVER_LOGS"/* 2>/dev/null | head -80 >&2
    record "server/sanitizer" 1
  else
    record "server/sanitizer" 0
  fi
fi

[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[*]}" && echo "logs: $OUT (set PHOENIX_KEEP=1 to keep them)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
