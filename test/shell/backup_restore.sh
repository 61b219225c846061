#!/usr/bin/env bash
# A Phoenix database with entities, event log partitions, projections, dead
# letters, tombstones and Kafka settings is dumped and restored twice:
# pg_dump -Fc | pg_restore --exit-on-error into a fresh database, and a
# plain dump through psql -1 with ON_ERROR_STOP.  Both restore without an
# error, and there the forget secret (same pseudonyms), the tombstones, the
# cascade, new emits and a new forget all work.
set -euo pipefail
. "$PHOENIX_ROOT/scripts/lib.sh"
src=$PGDATABASE
work=$(mktemp -d /tmp/phoenix-backup.XXXXXX)
cleanup() {
  for db in "${src}_fc" "${src}_plain"; do
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

q >/dev/null <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SET timezone = 'UTC';
SELECT phoenix.create_entity('employee', 'employee_id',
       '{"name":"text","email":"text","department":"text"}', pii => '{name,email}');
SELECT phoenix.create_entity('floor', 'floor_id', '{"site":"text"}');
SELECT phoenix.put('floor', 'F1', '{"site":"Zurich"}', valid_from => '2026-01-01');
SELECT phoenix.put('employee', 'E1', '{"name":"Ada Lovelace","email":"ada@x.com","department":"Finance"}', valid_from => '2026-01-01');
SELECT phoenix.put('employee', 'E2', '{"name":"Grace Hopper","email":"grace@x.com","department":"Finance"}', valid_from => '2026-01-01');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","floorId","at"],
                   "properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                                 "badgeName":{"type":"string","x-pii":true},
                                 "at":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       time_field => 'at', refs => '{"employeeId":"employee","floorId":"floor"}');
SELECT phoenix.create_projection('presence',
  source  => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId","badge_name":"badgeName"}',
  enrich  => '[{"entity":"employee","key":"employee_id","attributes":{"name":"event_time","department":"event_time"}},
               {"entity":"floor","key":"floor_id","attributes":{"site":"event_time"}}]');
SELECT * FROM phoenix.emit_batch('[
  {"type":"presence.detected","event_id":"p1","payload":{"employeeId":"E1","floorId":"F1","badgeName":"Ada Lovelace","at":"2026-02-01T08:00:00Z"}},
  {"type":"presence.detected","event_id":"p2","payload":{"employeeId":"E2","floorId":"F1","badgeName":"Grace Hopper","at":"2026-02-01T09:00:00Z"}},
  {"type":"presence.detected","event_id":"bad","payload":{"employeeId":"E2","floorId":"F1","at":"not a time"}}
]');
-- a partition of a month past, made the way emit makes them
SELECT phoenix.emit('presence.detected', '{"employeeId":"E2","floorId":"F1","at":"2026-02-02T09:00:00Z"}', event_id => 'p3') > 0;
-- an event sent without an id: its generated id names its position and
-- this database's node (not phoenix.event_ids), which the dump must keep
SELECT phoenix.put('employee', 'E9', '{"name":"Nine","department":"Ops"}', valid_from => '2026-01-01');
SELECT phoenix.emit('presence.detected', '{"employeeId":"E9","floorId":"F1","at":"2026-02-05T09:00:00Z"}') > 0;
SELECT phoenix.forget('employee', 'E1', reason => 'before the backup');
SELECT phoenix.create_subscription('badges', 'badges', 'presence.detected', brokers => '127.0.0.1:9', enabled => false);
SELECT phoenix.create_publication('presence', 'presence', '127.0.0.1:9') > 0;
SQL
[ "$(q -At -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'phoenix.event_log'::regclass")" -ge 1 ]
pseudonym=$(q -At -c "SELECT badge_name FROM reporting.presence WHERE event_id = 'p1'")
echo "pseudonym of E1's badge name: $pseudonym"

read -r gen_id gen_pos < <(q -At -F ' ' -c "SELECT event_id, position FROM phoenix.event_log WHERE payload->>'employeeId' = 'E9'")
[ "$(q -At -c "SELECT count(*) FROM phoenix.event_ids WHERE event_id = '$gen_id'")" = 0 ]
nodes=$(q -At -c "SELECT string_agg(node::text, ',' ORDER BY node) FROM phoenix.generated_id_nodes")
echo "generated id $gen_id at $gen_pos, nodes $nodes"

pg_dump -Fc -f "$work/db.dump" "$src"
pg_dump -f "$work/db.sql" "$src"

# each restored database: no error on the way, then everything works
check() {
  local db=$1
  echo "--- $db"
  [ "$(q -d "$db" -At -c "SELECT count(*) FROM phoenix.forget_secret")" = 1 ] ||
    { echo "FAIL: $db has no single forget secret" >&2; exit 1; }
  [ "$(q -d "$db" -At -c "SELECT badge_name FROM reporting.presence WHERE event_id = 'p1'")" = "$pseudonym" ]
  # the dumped nodes came along (beside the one this install drew): a
  # repeat of the id generated before the dump is the same event, and ids
  # generated here are recognised too
  [ "$(q -d "$db" -At -c "SELECT count(*) FROM phoenix.generated_id_nodes WHERE node = ANY ('{$nodes}')")" -ge 1 ]
  [ "$(q -d "$db" -At -c "SELECT phoenix.emit('presence.detected', '{\"employeeId\":\"E9\",\"floorId\":\"F1\",\"at\":\"2026-02-05T09:00:00Z\"}', event_id => '$gen_id')")" = "$gen_pos" ] ||
    { echo "FAIL: $db: the generated id $gen_id is not recognised after the restore" >&2; exit 1; }
  local new_pos new_id
  new_pos=$(q -d "$db" -At -c "SELECT phoenix.emit('presence.detected', '{\"employeeId\":\"E9\",\"floorId\":\"F1\",\"at\":\"2026-02-06T09:00:00Z\"}')")
  new_id=$(q -d "$db" -At -c "SELECT event_id FROM phoenix.event_log WHERE position = $new_pos")
  [ "$(q -d "$db" -At -c "SELECT phoenix.emit('presence.detected', '{\"employeeId\":\"E9\",\"floorId\":\"F1\",\"at\":\"2026-02-06T09:00:00Z\"}', event_id => '$new_id')")" = "$new_pos" ]
  [ "$(q -d "$db" -At -c "SELECT count(*) FROM phoenix.event_log WHERE payload->>'employeeId' = 'E9'")" = 2 ]
  q -d "$db" -At <<'SQL' >"$work/$db.out"
SET timezone = 'UTC';
-- a late event about the forgotten E1: scrubbed with the same pseudonym
SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","floorId":"F1","badgeName":"Ada Lovelace","at":"2026-02-03T08:00:00Z"}', event_id => 'p4') > 0;
SELECT 'late event pseudonym same: ' || ((SELECT badge_name FROM reporting.presence WHERE event_id = 'p4') =
                                         (SELECT badge_name FROM reporting.presence WHERE event_id = 'p1'));
-- the cascade: a change of E2's department reaches the reporting rows
SELECT phoenix.put('employee', 'E2', '{"department":"Audit"}', valid_from => '2026-01-15');
SELECT 'cascade: ' || string_agg(event_id || '=' || employee_department, ',' ORDER BY event_id)
  FROM reporting.presence WHERE employee_id = 'E2';
-- new emits (into a new partition too) and a new forget
SELECT phoenix.emit('presence.detected', '{"employeeId":"E2","floorId":"F1","badgeName":"Grace Hopper","at":"2026-03-01T08:00:00Z"}', event_id => 'p5') > 0;
SELECT 'forget E2: ' || (phoenix.forget('employee', 'E2') ? 'phoenix.event_log');
SELECT 'rows naming Grace: ' || count(*) FROM reporting.presence WHERE badge_name = 'Grace Hopper' OR employee_name = 'Grace Hopper';
SELECT 'dead letters: ' || count(*) FROM phoenix.dead_letters;
SELECT 'subscriptions: ' || count(*) FROM phoenix.kafka_subscriptions;
SELECT 'publications: ' || count(*) FROM phoenix.kafka_publications;
CREATE TEMP TABLE kept AS SELECT event_id, employee_name, employee_department, floor_site, badge_name FROM reporting.presence;
SELECT phoenix.rebuild_projection('presence') IS NOT NULL;
SELECT 'differences from a rebuild: ' || count(*) FROM (
  (SELECT event_id, employee_name, employee_department, floor_site, badge_name FROM reporting.presence EXCEPT SELECT * FROM kept)
  UNION ALL (SELECT * FROM kept EXCEPT SELECT event_id, employee_name, employee_department, floor_site, badge_name FROM reporting.presence)) d;
SQL
  grep -v '^t$' "$work/$db.out"
  grep -q 'late event pseudonym same: true' "$work/$db.out"
  grep -q 'cascade: p2=Audit,p3=Audit' "$work/$db.out"
  grep -q 'differences from a rebuild: 0' "$work/$db.out"
  grep -q 'forget E2: true' "$work/$db.out"
  grep -q 'rows naming Grace: 0' "$work/$db.out"
}

q -d postgres -c "CREATE DATABASE \"${src}_fc\"" >/dev/null
pg_restore --exit-on-error -d "${src}_fc" "$work/db.dump"
check "${src}_fc"

q -d postgres -c "CREATE DATABASE \"${src}_plain\"" >/dev/null
psql -X -q -1 -v ON_ERROR_STOP=1 -d "${src}_plain" -f "$work/db.sql" >/dev/null
check "${src}_plain"
echo ok
