-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_room;
CREATE DATABASE regress_projection_room;
\c regress_projection_room
\set ECHO all
-- Room by arrival pattern: where one key's events arrive together, its rows
-- fill their pages only about half, so that a late change of that key
-- rewrites all of them in place (HOT); rows of keys that arrive spread
-- among others keep the table's fillfactor (85).  Arriving rows are
-- appended: after VACUUM has recorded the room in the free space map,
-- single emits still do not take it.  A key with fewer values than a page
-- holds rows (one floor, one site) is no arrival pattern: any order puts
-- many of its rows on a page.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('employee', 'employee_id', '{"department":"text"}');
SELECT phoenix.create_entity('site', 'site_id', '{"name":"text"}');
SELECT phoenix.create_entity('floor', 'floor_id', '{"site_id":"text"}');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                   "at":{"type":"string","format":"date-time"}}}', time_field => 'at');
SELECT count(phoenix.put('employee', 'E' || e, '{"department":"Finance"}', '2025-01-01')) FROM generate_series(1, 300) e;
SELECT phoenix.put('site', 'S1', '{"name":"Boston"}', '2025-01-01');
SELECT phoenix.put('floor', 'F1', '{"site_id":"S1"}', '2025-01-01');
SELECT phoenix.create_projection('presence', source => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId"}',
  enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time"}},
              {"entity":"floor","key":"floor_id","attributes":{"site_id":"event_time"}},
              {"entity":"site","key":"floor_site_id","attributes":{"name":"event_time"}}]');
SELECT reloptions FROM pg_class WHERE oid = 'reporting.presence'::regclass;
-- how many values each key takes is read from the histories' statistics
ANALYZE phoenix_entity.employee_history, phoenix_entity.floor_history, phoenix_entity.site_history;

-- one batch: 600 events spread over 300 employees, E7's 500 together, 600 spread
SELECT accepted, rejected FROM phoenix.emit_batch((SELECT jsonb_agg(jsonb_build_object('type', 'presence.detected',
         'event_id', 'r' || i,
         'payload', jsonb_build_object('employeeId', CASE WHEN i BETWEEN 601 AND 1100 THEN 'E7' ELSE 'E' || (1 + i % 300) END,
                                       'floorId', 'F1',
                                       'at', to_char(timestamptz '2025-04-01' + i * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))))
    FROM generate_series(1, 1700) i));

-- rows per page: E7's pages hold about half what the others' do
CREATE TEMP TABLE pages AS
SELECT (ctid::text::point)[0]::int AS page, count(*) AS n_rows,
       count(*) FILTER (WHERE employee_id = 'E7' AND substr(event_id, 2)::int BETWEEN 601 AND 1100) AS n_e7
  FROM reporting.presence GROUP BY 1;
-- (half a page free holds 50/85 of what 15% free does, less a row's rounding)
SELECT count(*) FILTER (WHERE n_e7 = n_rows) >= 8 AS e7_has_pages_of_its_own,
       max(n_rows) FILTER (WHERE n_e7 = n_rows)::float / max(n_rows) FILTER (WHERE n_e7 = 0)
         BETWEEN 0.5 AND 0.7 AS e7_pages_about_half_as_full
  FROM pages;

-- E7's late change: its rows rewritten in place, all but those on the
-- pages where its run begins and ends
BEGIN;
SELECT phoenix.put('employee', 'E7', '{"department":"Legal"}', '2025-01-01');
SELECT n_tup_upd, n_tup_upd - n_tup_hot_upd <= 60 AS nearly_all_hot
  FROM pg_stat_xact_user_tables WHERE relid = 'reporting.presence'::regclass;
COMMIT;

-- VACUUM records the room in the free space map; single emits still append
VACUUM reporting.presence;
SELECT max((ctid::text::point)[0])::int AS last_page FROM reporting.presence \gset
SELECT count(phoenix.emit('presence.detected', jsonb_build_object('employeeId', 'E' || (1 + i % 300), 'floorId', 'F1',
         'at', to_char(timestamptz '2025-05-01' + i * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')), event_id => 's' || i))
  FROM generate_series(1, 200) i;
SELECT count(*) FILTER (WHERE (ctid::text::point)[0] < :last_page) AS single_rows_in_earlier_pages
  FROM reporting.presence WHERE event_id LIKE 's%';
-- and the room is still there: E7 changed again, in place
BEGIN;
SELECT phoenix.put('employee', 'E7', '{"department":"Sales"}', '2025-01-01');
SELECT n_tup_upd, n_tup_upd - n_tup_hot_upd <= 60 AS nearly_all_hot
  FROM pg_stat_xact_user_tables WHERE relid = 'reporting.presence'::regclass;
COMMIT;

-- every row right
SELECT count(*) AS differences FROM (
  (SELECT event_id, employee_department, floor_site_id, site_name FROM reporting.presence
   EXCEPT ALL
   SELECT p.event_id, e.department, f.site_id, s.name FROM reporting.presence p
     LEFT JOIN LATERAL phoenix_entity.employee_at(p.employee_id, p.effective_at) e ON true
     LEFT JOIN LATERAL phoenix_entity.floor_at(p.floor_id, p.effective_at) f ON true
     LEFT JOIN LATERAL phoenix_entity.site_at(f.site_id, p.effective_at) s ON true)) d;
SELECT count(*) AS rows, count(DISTINCT event_id) AS ids FROM reporting.presence;
