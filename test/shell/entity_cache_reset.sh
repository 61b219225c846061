#!/usr/bin/env bash
# A backend's entity cache survives the extension being dropped and created
# again while that backend was too busy to read the invalidations (its queue
# overflowed and was reset): its next put must use the new tables.  The cache
# once kept the dropped catalog's OID after a reset, so it never noticed later
# drops and wrote to history tables that no longer existed.
set -euo pipefail
PSQL="$PGBIN/psql -X -q -t -A -v ON_ERROR_STOP=1"
$PSQL -c "CREATE EXTENSION phoenix CASCADE" \
      -c "SELECT phoenix.create_entity('desk', 'desk_id', '{\"room\":\"text\"}')"

# session A: caches the entity, then is busy while the others change everything
coproc A { $PSQL 2>&1; }
next_line() { # the next non-empty line from session A
  local l
  while read -r l <&"${A[0]}"; do [ -n "$l" ] && { echo "$l"; return; }; done
}
echo "SELECT phoenix.put('desk', 'D1', '{\"room\":\"A\"}', '2026-01-01'); SELECT 'cached';" >&"${A[1]}"
line=$(next_line); [ "$line" = cached ] || { echo "session A: $line"; exit 1; }
# A is kept busy by an advisory lock that a holder session has, not by a
# sleep: it stays busy for as long as the churn below takes, however slow
# the machine.  The holder lets go when its backend is terminated.
locks() { $PSQL -c "SELECT count(*) FILTER (WHERE granted) || '/' || count(*) FILTER (WHERE NOT granted)
                    FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"; }
PGAPPNAME=lock_holder $PSQL -c "SELECT pg_advisory_lock(4242)" -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 600); do [ "$(locks)" = 1/0 ] && break; sleep 0.05; done
echo "SELECT pg_advisory_lock(4242); SELECT 'awake';" >&"${A[1]}"
for _ in $(seq 1 600); do [ "$(locks)" = 1/1 ] && break; sleep 0.05; done
[ "$(locks)" = 1/1 ] || { echo "session A is not waiting for the lock: $(locks)"; exit 1; }

# meanwhile: a new extension (new catalog, new history table), then far more
# invalidation messages than a backend's queue holds, so A's queue is reset
for round in 1 2; do
  $PSQL -c "DROP EXTENSION phoenix CASCADE" -c "CREATE EXTENSION phoenix CASCADE" \
        -c "SELECT phoenix.create_entity('desk', 'desk_id', '{\"room\":\"text\"}')" >/dev/null
  $PSQL -c "DO \$\$ BEGIN FOR i IN 1..400 LOOP EXECUTE format('CREATE TABLE churn_%s (a int, b int, c int)', i); END LOOP; END \$\$" \
        -c "DO \$\$ BEGIN FOR i IN 1..400 LOOP EXECUTE format('DROP TABLE churn_%s', i); END LOOP; END \$\$" >/dev/null
done

$PSQL -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock_holder'" >/dev/null
wait "$holder" 2>/dev/null || true
line=$(next_line); [ "$line" = awake ] || { echo "session A: $line"; exit 1; }
# A writes again (into the new history table), and again after the entity is
# dropped and created once more, which it hears about the ordinary way
echo "SELECT phoenix.put('desk', 'D2', '{\"room\":\"B\"}', '2026-01-01'); SELECT 'put ok';" >&"${A[1]}"
line=$(next_line)
echo "session A after the reset: $line"
[ "$line" = "put ok" ] || exit 1
$PSQL -c "SELECT phoenix.drop_entity('desk')" \
      -c "SELECT phoenix.create_entity('desk', 'desk_id', '{\"room\":\"text\"}')" >/dev/null
echo "SELECT phoenix.put('desk', 'D3', '{\"room\":\"C\"}', '2026-01-01'); SELECT 'put ok';" >&"${A[1]}"
line=$(next_line)
echo "session A after the entity was created again: $line"
echo '\q' >&"${A[1]}"; wait "$A_PID" 2>/dev/null || true
[ "$line" = "put ok" ] || exit 1
n=$($PSQL -c "SELECT count(*) FROM phoenix_entity.desk_history WHERE desk_id = 'D3'")
echo "versions of D3 in the new history table: $n"
[ "$n" = 1 ]
