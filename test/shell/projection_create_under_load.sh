#!/usr/bin/env bash
# create_projection while writers run (issue 4).  pgbench clients each emit
# a presence event and change an employee in one transaction (half of them
# in the other order) while a projection over those is created and dropped
# in a loop.  Each creation waits for the writers in progress and keeps new
# ones back until it commits, so it must never hold one of its locks while
# waiting for another that a writer holds while waiting for the first: before
# the writers lock (timeline.h, timeline_pause_writers) a client or the
# creation died with "deadlock detected".  Afterwards no client saw an
# error, and the last projection, created under load, has a row for every
# event and equals its own rebuild: nothing written while it was created
# was lost.
#   PHOENIX_CREATE_LOAD_SECONDS (default 15), PHOENIX_CREATE_LOAD_CLIENTS (4)
set -euo pipefail
. "$PHOENIX_ROOT/test/cluster_lib.sh"
SECS=${PHOENIX_CREATE_LOAD_SECONDS:-15}
CLIENTS=${PHOENIX_CREATE_LOAD_CLIENTS:-4}
WORK=$(mktemp -d /tmp/phoenix-create-load.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
q() { psql_q -At "$@"; }

q >/dev/null <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('employee', 'employee_id', '{"department":"text"}');
SELECT phoenix.put('employee', 'E' || i, '{"department":"D0"}', valid_from => '2026-01-01')
  FROM generate_series(0, 49) i;
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","properties":{"employeeId":{"type":"string"},
                   "detectedAt":{"type":"string","format":"date-time"}}}',
       time_field => 'detectedAt');
SQL

# Writer transactions.  emit_put: an event, then a late change of an
# employee; the event names no employee, so the transaction holds no lock of
# an employee before it changes one (an event naming the employee it then
# changes could deadlock with another transaction doing the same: both hold
# the employee's share lock, both want it exclusively).  put_emit: a change,
# then an event of the same employee.
vars='\set e random(0, 49)
\set h random(0, 2000)
\set d random(1, 9)'
at="to_char(timestamptz '2026-11-01 00:00+00' + :h * interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
put="SELECT 1 FROM phoenix.put('employee', 'E' || :e, json_build_object('department', 'D' || :d)::jsonb,
                          valid_from => timestamptz '2026-11-01 00:00+00' + :h * interval '1 hour');"
printf '%s\nBEGIN;\n%s\n%s\nEND;\n' "$vars" \
  "SELECT 1 FROM phoenix.emit('presence.detected', json_build_object('detectedAt', $at)::jsonb);" \
  "$put" > "$WORK/emit_put.sql"
printf '%s\nBEGIN;\n%s\n%s\nEND;\n' "$vars" "$put" \
  "SELECT 1 FROM phoenix.emit('presence.detected', json_build_object('employeeId', 'E' || :e, 'detectedAt', $at)::jsonb);" \
  > "$WORK/put_emit.sql"

create="SELECT phoenix.create_projection('presence_live', source => 'presence.detected',
  columns => '{\"employee_id\":\"employeeId\"}',
  enrich => '[{\"entity\":\"employee\",\"key\":\"employee_id\",\"attributes\":{\"department\":\"event_time\"}}]')"

"$PGBIN/pgbench" -n -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" -f "$WORK/emit_put.sql" -f "$WORK/put_emit.sql" \
  > "$WORK/pgbench.out" 2>&1 &
bench=$!
sleep 1
rounds=0
while kill -0 "$bench" 2>/dev/null; do
  q -c "SELECT phoenix.drop_projection('presence_live') FROM phoenix.projections WHERE name = 'presence_live'" >/dev/null
  q -c "$create" >/dev/null
  rounds=$((rounds + 1))
  sleep 0.3
done
wait "$bench" || { cat "$WORK/pgbench.out"; echo "a pgbench client failed"; exit 1; }
grep -E 'number of transactions actually processed' "$WORK/pgbench.out" || true
if grep -q 'aborted\|deadlock' "$WORK/pgbench.out"; then cat "$WORK/pgbench.out"; echo "a client saw an error"; exit 1; fi
[ "$rounds" -ge 2 ] || { echo "only $rounds creation(s) overlapped the writers"; exit 1; }
echo "projections created under load: $rounds"

logged=$(q -c "SELECT count(*) FROM phoenix.event_log WHERE event_type = 'presence.detected'")
rows=$(q -c "SELECT count(*) FROM reporting.presence_live")
echo "events logged: $logged, rows of the last projection: $rows"
[ "$logged" -gt 0 ] && [ "$logged" = "$rows" ] || { echo "events missing from the projection"; exit 1; }

q >/dev/null <<'SQL'
CREATE TABLE seen AS SELECT event_id, employee_department FROM reporting.presence_live;
SELECT phoenix.rebuild_projection('presence_live');
SQL
differ=$(q -c "SELECT count(*) FROM ((SELECT event_id, employee_department FROM seen
                                      EXCEPT SELECT event_id, employee_department FROM reporting.presence_live)
                                     UNION ALL
                                     (SELECT event_id, employee_department FROM reporting.presence_live
                                      EXCEPT SELECT event_id, employee_department FROM seen)) d")
[ "$differ" = 0 ] || { echo "$differ rows differ from the rebuild"; exit 1; }
echo "ok"
