#!/usr/bin/env bash
# Rows of arriving events computed in C after late corrections left dead
# versions in the history tables.  A btree scan that passes dead index
# entries remembers them (to mark them dead) in memory it allocates as it
# goes and frees when it ends; the C row computation once ran its lookups in
# a per-row memory context, so that memory was freed under the scan and the
# backend crashed some thousands of events later (bench/projection.sh (c)).
# 100,000 events after the corrections must all get their rows, enriched
# with the corrected versions.
set -euo pipefail
psql() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -qAt "$@"; }

psql >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","department":"text"}');
SELECT phoenix.create_entity('site', 'site_id', '{"name":"text","timezone":"text"}');
SELECT phoenix.create_entity('floor', 'floor_id', '{"site_id":"text"}', refs => '{"site_id":"site"}');
SELECT phoenix.create_event_type('employee.changed',
  schema => '{"type":"object","properties":{"employeeId":{"type":"string"},"department":{"type":"string"},
              "name":{"type":"string"},"at":{"type":"string","format":"date-time"}}}',
  entity => 'employee', key_field => 'employeeId', sets => '{"department":"department","name":"name"}', time_field => 'at');
SELECT phoenix.create_event_type('presence.detected',
  schema => '{"type":"object","properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
              "detectedAt":{"type":"string","format":"date-time"}}}', time_field => 'detectedAt');
SELECT count(phoenix.put('site', 'S' || s, jsonb_build_object('name', 'Site ' || s, 'timezone', 'UTC'), '2025-01-01'))
  FROM generate_series(0, 19) s;
SELECT count(phoenix.put('floor', 'F' || f, jsonb_build_object('site_id', 'S' || f % 20), '2025-01-01'))
  FROM generate_series(0, 199) f;
SELECT sum((phoenix.emit_batch(b)).accepted) FROM (
  SELECT jsonb_agg(jsonb_build_object('type', 'employee.changed', 'payload', jsonb_build_object(
           'employeeId', 'E' || e, 'department', 'D' || ((e + v) % 40), 'name', 'Name ' || e,
           'at', to_char((timestamptz '2025-01-01' + v * interval '60 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))) b
    FROM generate_series(0, 9999) e, generate_series(0, 4) v GROUP BY e / 100) x;
SELECT phoenix.create_projection('presence_report', source => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId"}',
  enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time","name":"current"}},
              {"entity":"floor","key":"floor_id","attributes":{"site_id":"event_time"}},
              {"entity":"site","key":"floor_site_id","attributes":{"name":"event_time","timezone":"event_time"}}]',
  derive => '{"local_date":"(effective_at AT TIME ZONE site_timezone)::date"}');
-- late corrections: each closes versions, which leaves dead ones behind
SELECT phoenix.put('employee', 'E1', jsonb_build_object('department', 'Warm'), '2025-01-01');
SELECT phoenix.put('employee', 'E0', jsonb_build_object('department', 'Late'), '2025-01-01', '2026-01-01');
SELECT phoenix.put('employee', 'E5', jsonb_build_object('department', 'Late'), '2025-01-01', '2026-01-01');
SELECT phoenix.put('site', 'S0', jsonb_build_object('timezone', 'Asia/Tokyo'), '2025-01-01');
SQL

psql -c "SELECT sum((phoenix.emit_batch(b)).accepted) FROM (
  SELECT jsonb_agg(jsonb_build_object('type', 'presence.detected', 'payload', jsonb_build_object('employeeId', 'E' || i % 10000,
           'floorId', 'F' || i % 200, 'detectedAt', to_char((timestamptz '2025-06-01' + i * interval '1 second') AT TIME ZONE 'UTC',
           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')))) b
    FROM generate_series(1, 100000) i GROUP BY i / 5000) x" >/dev/null

fail=0
check() { # label query expected
  local got; got=$(psql -c "$2")
  if [ "$got" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$got', expected '$3'"; fail=1; fi
}
check "every event has its row" "SELECT count(*) FROM reporting.presence_report" 100000
check "E0 and E5 rows carry the corrected department" \
  "SELECT count(*) FILTER (WHERE employee_department = 'Late') || '/' || count(*) FROM reporting.presence_report WHERE employee_id IN ('E0', 'E5')" 20/20
# E1's open correction covers only up to its next version (2025-03-02);
# in June, E1 is in the version of 2025-05-01 (D3)
check "E1 rows (June) keep the version after the correction" \
  "SELECT count(*) FILTER (WHERE employee_department = 'D3') || '/' || count(*) FROM reporting.presence_report WHERE employee_id = 'E1'" 10/10
check "site S0 rows carry the corrected time zone" \
  "SELECT count(*) FILTER (WHERE site_timezone = 'Asia/Tokyo') || '/' || count(*) FROM reporting.presence_report WHERE floor_site_id = 'S0'" 5000/5000
exit $fail
