#!/usr/bin/env bash
# Emitting while the event log's tables are analyzed over and over (as
# autovacuum does): every ANALYZE invalidates their relcache and catalog
# entries, so eventlog.c's cached OIDs are reset at catalog accesses and
# lock acquisitions inside emit.  A cached OID read after such a reset was
# once 0 ("could not open relation with OID 0", seen in bench/emit.sh).
# Every emit must succeed and every event be logged.
set -euo pipefail
psql() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -qAt "$@"; }
psql -c "CREATE EXTENSION phoenix CASCADE" >/dev/null
psql -c "SELECT phoenix.create_event_type('tick', '{\"type\":\"object\"}')" >/dev/null
psql -c "SELECT phoenix.emit('tick', '{}')" >/dev/null     # the partitions exist
part=$(psql -c "SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'phoenix.event_log'::regclass ORDER BY 1 LIMIT 1")
stop=$(mktemp); trap 'rm -f "$stop"' EXIT
( while [ -e "$stop" ]; do
    psql -c "ANALYZE phoenix.event_ids" -c "ANALYZE $part" -c "ANALYZE phoenix.event_log" >/dev/null 2>&1 || true
  done ) &
analyzer=$!
n=300
for i in $(seq 1 $n); do
  echo "SELECT phoenix.emit('tick', '{\"i\": $i}');"
  echo "SELECT accepted FROM phoenix.emit_batch('[{\"type\":\"tick\",\"payload\":{\"b\":$i}},{\"type\":\"tick\",\"payload\":{\"c\":$i}}]');"
done > "$stop.sql"
ok=0
psql -f "$stop.sql" >/dev/null && ok=1
rm -f "$stop"; wait $analyzer; rm -f "$stop.sql"
[ "$ok" = 1 ] || { echo "an emit failed while the log was analyzed"; exit 1; }
logged=$(psql -c "SELECT count(*) FROM phoenix.event_log")
[ "$logged" = $((3 * n + 1)) ] || { echo "expected $((3 * n + 1)) events, got $logged"; exit 1; }
echo ok
