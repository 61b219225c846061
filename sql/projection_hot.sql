-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_hot;
CREATE DATABASE regress_projection_hot;
\c regress_projection_hot
\set ECHO all
-- A cascade that changes only enriched columns rewrites rows in place (HOT
-- updates: no new entry in any index of the reporting table), because the
-- table has no index on change_seq and keeps room on its pages; a floor move
-- changes floor_site_id, which (a chained key) has no index either.  Either way the
-- rows end right, change_seq moves, and the cascade's indexes still find them.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('employee', 'employee_id', '{"department":"text"}');
SELECT phoenix.create_entity('site', 'site_id', '{"name":"text"}');
SELECT phoenix.create_entity('floor', 'floor_id', '{"site_id":"text"}');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                   "at":{"type":"string","format":"date-time"}}}', time_field => 'at');
SELECT count(phoenix.put('employee', 'E' || e, '{"department":"Finance"}', '2025-01-01')) FROM generate_series(1, 3) e;
SELECT count(phoenix.put('site', s, jsonb_build_object('name', s), '2025-01-01')) FROM unnest(ARRAY['S1','S2']) s;
SELECT phoenix.put('floor', 'F1', '{"site_id":"S1"}', '2025-01-01');
SELECT * FROM phoenix.emit_batch((SELECT jsonb_agg(jsonb_build_object('type', 'presence.detected', 'event_id', 'p' || i,
         'payload', jsonb_build_object('employeeId', 'E' || (1 + i % 3), 'floorId', 'F1',
                                       'at', to_char(timestamptz '2025-03-01' + i * interval '1 day', 'YYYY-MM-DD"T00:00:00Z"'))))
    FROM generate_series(1, 30) i));
SELECT phoenix.create_projection('presence', source => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId"}',
  enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time"}},
              {"entity":"floor","key":"floor_id","attributes":{"site_id":"event_time"}},
              {"entity":"site","key":"floor_site_id","attributes":{"name":"event_time"}}]');
SELECT reloptions FROM pg_class WHERE oid = 'reporting.presence'::regclass;
SELECT count(*) AS change_seq_indexes FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
 WHERE i.indrelid = 'reporting.presence'::regclass AND a.attname = 'change_seq' AND a.attnum = ANY (i.indkey);
SELECT max(change_seq) AS s0 FROM reporting.presence \gset

BEGIN;
-- E2's department from March 10: its rows from then on (HOT)
SELECT phoenix.put('employee', 'E2', '{"department":"Legal"}', '2025-03-10');
SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relid = 'reporting.presence'::regclass;
-- site S1 renamed from March 20: rows through the chained key (HOT)
SELECT phoenix.put('site', 'S1', '{"name":"Boston"}', '2025-03-20');
SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relid = 'reporting.presence'::regclass;
-- F1 moves to S2 from March 25: HOT too (floor_site_id, a chained key, has no index:
-- a site's cascade reaches rows through the floors' history)
SELECT phoenix.put('floor', 'F1', '{"site_id":"S2"}', '2025-03-25');
SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relid = 'reporting.presence'::regclass;
COMMIT;

SELECT employee_id, employee_department, floor_site_id, site_name, count(*), min(effective_at)::date, max(effective_at)::date,
       bool_and(change_seq > :s0) AS all_moved
  FROM reporting.presence WHERE change_seq > :s0 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
-- the cascade's own indexes still find every row (index scans forced)
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM reporting.presence WHERE employee_id = 'E2' COLLATE "C" AND effective_at >= '2025-03-10';
SELECT count(*) FROM reporting.presence WHERE floor_site_id = 'S2' COLLATE "C";
SELECT count(*) FROM reporting.presence WHERE floor_site_id = 'S1' COLLATE "C" AND effective_at >= '2025-03-20';
RESET enable_seqscan;
RESET enable_bitmapscan;
-- and equal a from-scratch recomputation
SELECT count(*) AS differences FROM (
  (SELECT event_id, employee_department, floor_site_id, site_name FROM reporting.presence
   EXCEPT ALL
   SELECT p.event_id, e.department, f.site_id, s.name FROM reporting.presence p
     LEFT JOIN LATERAL phoenix_entity.employee_at(p.employee_id, p.effective_at) e ON true
     LEFT JOIN LATERAL phoenix_entity.floor_at(p.floor_id, p.effective_at) f ON true
     LEFT JOIN LATERAL phoenix_entity.site_at(f.site_id, p.effective_at) s ON true)) d;

-- The table-wide fillfactor alone.  Four employees are fewer than a page
-- holds rows, so no room is judged by arrival pattern here
-- (sql/projection_room.sql has that): E9's rows, arriving together, fill
-- whole pages at the default fillfactor (85), and a late change of all of
-- them finds room on their pages for few of the new versions (the rest are
-- new entries in every index); at fillfactor 50 for every one.
SELECT phoenix.put('employee', 'E9', '{"department":"Finance"}', '2025-01-01');
SELECT phoenix.create_projection('together85', source => 'presence.detected',
  columns => '{"employee_id":"employeeId"}',
  enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time"}}]') IS NOT NULL AS created;
SELECT phoenix.create_projection('together50', source => 'presence.detected',
  columns => '{"employee_id":"employeeId"}',
  enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time"}}]',
  fillfactor => 50) IS NOT NULL AS created;
SELECT relname, reloptions FROM pg_class WHERE relname IN ('together85', 'together50') ORDER BY 1;
SELECT accepted FROM phoenix.emit_batch((SELECT jsonb_agg(jsonb_build_object('type', 'presence.detected',
         'payload', jsonb_build_object('employeeId', 'E9', 'floorId', 'F1',
                                       'at', to_char(timestamptz '2025-04-01' + i * interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))))
    FROM generate_series(1, 400) i));
BEGIN;
SELECT phoenix.put('employee', 'E9', '{"department":"Late"}', '2025-01-01');
SELECT relname, n_tup_upd, n_tup_hot_upd = n_tup_upd AS all_hot, n_tup_hot_upd < n_tup_upd / 2 AS mostly_not_hot
  FROM pg_stat_xact_user_tables WHERE relname IN ('together85', 'together50') ORDER BY 1;
COMMIT;
SELECT phoenix.create_projection('bad_fill', source => 'presence.detected', columns => '{"employee_id":"employeeId"}',
  fillfactor => 5);
