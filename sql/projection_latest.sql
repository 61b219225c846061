-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_latest;
CREATE DATABASE regress_projection_latest;
\c regress_projection_latest
\set ECHO all
-- Latest-state projections (the real-time floor plan): one row per key, the
-- event with the greatest effective time.  A burst of hours-old sensor data
-- (a site back from a network outage) never replaces newer rows, and the
-- _fresh view hides what is too old to show.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('floor', 'floor_id', '{"name":"text","floor_online":"boolean"}');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","floorId","detectedAt"],
                   "properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"}}}',
       time_field => 'detectedAt');
SELECT phoenix.put('floor', 'F1', '{"name":"Floor 1","floor_online":true}', '2025-01-01');
SELECT phoenix.put('floor', 'F2', '{"name":"Floor 2","floor_online":true}', '2025-01-01');

SELECT phoenix.create_projection('floor_plan', source => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId"}',
  enrich  => '[{"entity":"floor","key":"floor_id","attributes":{"name":"event_time"}}]',
  kind => 'latest', latest_key => 'employee_id', fresh_for => '2 hours');
SELECT pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid = 'reporting.floor_plan'::regclass AND indisprimary;

-- real time: E1 and E2 seen ten minutes ago
SELECT phoenix.emit('presence.detected', jsonb_build_object('employeeId','E1','floorId','F2',
         'detectedAt', now() - interval '10 minutes'), event_id => 'rt-e1') > 0 AS ok;
SELECT phoenix.emit('presence.detected', jsonb_build_object('employeeId','E2','floorId','F1',
         'detectedAt', now() - interval '10 minutes'), event_id => 'rt-e2') > 0 AS ok;
CREATE TEMP TABLE plan_before AS SELECT * FROM reporting.floor_plan;

-- the burst: 300 events from 3 to 6 hours ago, for E1, E2 and E3
SELECT * FROM phoenix.emit_batch((
  SELECT jsonb_agg(jsonb_build_object('type','presence.detected','event_id','old-'||i,
           'payload', jsonb_build_object('employeeId','E'||(1 + i % 3),'floorId','F1',
                                         'detectedAt', now() - interval '3 hours' - i * interval '36 seconds')))
    FROM generate_series(1, 300) i));
-- E1 and E2 keep their real-time rows, unchanged (same event, same change_seq)
SELECT count(*) AS changed FROM (
  SELECT * FROM plan_before EXCEPT ALL
  SELECT p.* FROM reporting.floor_plan p JOIN plan_before b USING (employee_id)) d;
SELECT employee_id, event_id, floor_name FROM reporting.floor_plan ORDER BY employee_id;
-- E3 has only old rows: kept in the table, hidden by the fresh view
SELECT employee_id, event_id, floor_name FROM reporting.floor_plan_fresh ORDER BY employee_id;
-- E3's latest of the burst is the most recent of its old events
SELECT event_id = (SELECT 'old-' || min(i) FROM generate_series(1, 300) i WHERE (1 + i % 3) = 3) AS newest_of_burst
  FROM reporting.floor_plan WHERE employee_id = 'E3';

-- a newer event moves E1
SELECT phoenix.emit('presence.detected', jsonb_build_object('employeeId','E1','floorId','F1',
         'detectedAt', now() - interval '1 minute'), event_id => 'rt-e1b') > 0 AS ok;
SELECT employee_id, event_id, floor_name FROM reporting.floor_plan_fresh ORDER BY employee_id;

-- the cascade reaches latest rows too: floor F1 renamed
SELECT phoenix.put('floor', 'F1', '{"name":"Floor One"}', '2025-01-01');
SELECT employee_id, floor_name FROM reporting.floor_plan ORDER BY employee_id;

-- what the table must hold, in plain SQL over the log and the floor history
-- (the latest event of each employee, ties to the later position), written
-- independently of the generated SQL that both live arrivals and rebuilds run
CREATE TEMP VIEW plan_expected AS
SELECT x.employee_id, x.event_id, h.name AS floor_name
  FROM (SELECT DISTINCT ON (payload->>'employeeId') payload->>'employeeId' AS employee_id, event_id,
               payload->>'floorId' AS floor_id, effective_at
          FROM phoenix.event_log WHERE event_type = 'presence.detected'
         ORDER BY payload->>'employeeId', effective_at DESC, position DESC) x
  LEFT JOIN phoenix_entity.floor_history h
         ON h.floor_id = x.floor_id AND h.recorded_to = 'infinity' AND h.valid_from <= x.effective_at AND h.valid_to > x.effective_at;
SELECT count(*) AS live_differences FROM (
  (SELECT employee_id, event_id, floor_name FROM reporting.floor_plan EXCEPT ALL SELECT * FROM plan_expected)
  UNION ALL
  (SELECT * FROM plan_expected EXCEPT ALL SELECT employee_id, event_id, floor_name FROM reporting.floor_plan)) d;

-- rebuild from the log picks the same latest events
CREATE TEMP TABLE plan_now AS SELECT employee_id, event_id, floor_name FROM reporting.floor_plan;
SELECT phoenix.rebuild_projection('floor_plan', batch_size => 100) AS rows;
SELECT count(*) AS differences FROM (
  (SELECT employee_id, event_id, floor_name FROM reporting.floor_plan EXCEPT ALL SELECT * FROM plan_now)
  UNION ALL
  (SELECT * FROM plan_now EXCEPT ALL SELECT employee_id, event_id, floor_name FROM reporting.floor_plan)) d;
SELECT count(*) AS rebuilt_differences FROM (
  (SELECT employee_id, event_id, floor_name FROM reporting.floor_plan EXCEPT ALL SELECT * FROM plan_expected)
  UNION ALL
  (SELECT * FROM plan_expected EXCEPT ALL SELECT employee_id, event_id, floor_name FROM reporting.floor_plan)) d;
