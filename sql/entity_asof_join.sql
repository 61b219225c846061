-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_entity_asof_join;
CREATE DATABASE regress_entity_asof_join;
\c regress_entity_asof_join
\set ECHO all
-- Typed as-of functions inline into joins (an index scan per outer row, no
-- function call), and the current-state view.
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('site', 'site_id', '{"name":"text","timezone":"text"}');
SELECT phoenix.create_entity('floor', 'floor_id', '{"site_id":"text","floor_online":"boolean","capacity":"integer"}',
                             refs => '{"site_id":"site"}');
SELECT phoenix.put('site', 'S1', '{"name":"Berlin","timezone":"Europe/Berlin"}', '2026-01-01');
SELECT phoenix.put('site', 'S2', '{"name":"Denver","timezone":"America/Denver"}', '2026-01-01');
SELECT phoenix.put('floor', 'F1', '{"site_id":"S1","floor_online":true,"capacity":40}', '2026-01-01');
SELECT phoenix.put('floor', 'F1', '{"site_id":"S2"}', '2026-11-25');
SELECT phoenix.put('floor', 'F1', '{"floor_online":false}', '2026-11-26', '2026-11-27');

CREATE TABLE presence (id int, floor_id text, at timestamptz);
INSERT INTO presence VALUES (1, 'F1', '2026-11-24 09:00'), (2, 'F1', '2026-11-25 09:00'),
  (3, 'F1', '2026-11-26 09:00'), (4, 'F9', '2026-11-26 09:00'), (5, 'F1', '2025-12-31');

-- chained as-of join: presence → floor → site, each as of the event's time
SELECT p.id, f.site_id, f.floor_online, f.capacity, s.name AS site_name, s.timezone
  FROM presence p
  LEFT JOIN LATERAL phoenix_entity.floor_at(p.floor_id, p.at) f ON true
  LEFT JOIN LATERAL phoenix_entity.site_at(f.site_id, p.at) s ON true
 ORDER BY p.id;

-- the planner inlines the function: an index scan, no Function Scan
CREATE FUNCTION plan_has(q text, pattern text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    IF l LIKE pattern THEN RETURN true; END IF;
  END LOOP;
  RETURN false;
END $$;
SELECT plan_has($q$SELECT p.id, f.site_id FROM presence p
  LEFT JOIN LATERAL phoenix_entity.floor_at(p.floor_id, p.at) f ON true$q$, '%Function Scan%') AS function_scan,
       plan_has($q$SELECT p.id, f.site_id FROM presence p
  LEFT JOIN LATERAL phoenix_entity.floor_at(p.floor_id, p.at) f ON true$q$, '%Index%Scan%floor_history%') AS index_scan;

-- typed columns
SELECT pg_typeof(capacity), pg_typeof(floor_online) FROM phoenix_entity.floor_history LIMIT 1;

-- the current view shows what is valid now as known now (F2's versions are
-- placed around now(), so that the answer does not depend on today's date)
SELECT site_id, name FROM phoenix_entity.site ORDER BY 1;
SELECT phoenix.put('floor', 'F2', '{"site_id":"S1","floor_online":true,"capacity":40}', now() - interval '30 days');
SELECT phoenix.put('floor', 'F2', '{"site_id":"S2"}', now() - interval '1 day');
SELECT phoenix.put('floor', 'F2', '{"floor_online":false}', now() - interval '20 days', now() - interval '10 days');
SELECT phoenix.put('floor', 'F2', '{"capacity":99}', now() + interval '1 day');
SELECT floor_id, site_id, floor_online, capacity FROM phoenix_entity.floor WHERE floor_id = 'F2';

-- catalog
SELECT entity, key, history_table, attribute, type, pii, ref_entity
  FROM phoenix.entity_catalog ORDER BY entity, attribute;

-- the hash as-of join gives the same rows as the inlined LATERAL join
SELECT t.id, t.at, t.site_id, t.floor_online, t.capacity
  FROM phoenix.asof_join('floor', 'SELECT floor_id, at, id FROM presence')
       AS t(floor_id text, at timestamptz, id int, site_id text, capacity integer, floor_online boolean)
 ORDER BY t.id;
SELECT count(*) AS differences FROM (
  (SELECT p.id, f.site_id, f.floor_online, f.capacity FROM presence p
     LEFT JOIN LATERAL phoenix_entity.floor_at(p.floor_id, p.at) f ON true
   EXCEPT ALL
   SELECT id, site_id, floor_online, capacity FROM phoenix.asof_join('floor', 'SELECT floor_id, at, id FROM presence')
       AS t(floor_id text, at timestamptz, id int, site_id text, capacity integer, floor_online boolean))
  UNION ALL
  (SELECT id, site_id, floor_online, capacity FROM phoenix.asof_join('floor', 'SELECT floor_id, at, id FROM presence')
       AS t(floor_id text, at timestamptz, id int, site_id text, capacity integer, floor_online boolean)
   EXCEPT ALL
   SELECT p.id, f.site_id, f.floor_online, f.capacity FROM presence p
     LEFT JOIN LATERAL phoenix_entity.floor_at(p.floor_id, p.at) f ON true)) d;
-- as known at an earlier moment (before the site move was recorded: nothing of F1's later facts)
SELECT t.id, t.site_id FROM phoenix.asof_join('floor', 'SELECT floor_id, at, id FROM presence', '2000-01-01')
       AS t(floor_id text, at timestamptz, id int, site_id text, capacity integer, floor_online boolean)
 ORDER BY t.id;
-- shape errors are explained
SELECT * FROM phoenix.asof_join('floor', 'SELECT 1') AS t(a int);
SELECT * FROM phoenix.asof_join('floor', 'SELECT floor_id, at FROM presence') AS t(a text, b timestamptz, c int);
SELECT * FROM phoenix.asof_join('nosuch', 'SELECT floor_id, at FROM presence') AS t(a text, b timestamptz);

-- The as-of join against a larger history, checked against the inlined
-- LATERAL join row for row: 3000 keys (the key table grows), versions with
-- gaps stored out of valid_from order and interleaved across keys, attribute
-- values that repeat (shared copies) or are NULL, and events with NULL keys,
-- NULL times, duplicates, keys without versions, times before the first
-- version, in gaps and after the last one.
SELECT phoenix.create_entity('emp', 'emp_id', '{"department":"text","level":"integer","note":"text"}');
-- superseded knowledge (recorded 2020): contiguous 10-day versions
INSERT INTO phoenix_entity.emp_history (emp_id, department, level, note, valid_from, valid_to, recorded_from, recorded_to)
SELECT 'E' || k, 'old' || (i % 3), i, NULL, '2026-01-01'::timestamptz + i * interval '10 days',
       '2026-01-01'::timestamptz + (i + 1) * interval '10 days', '2020-01-01', '2021-01-01'
  FROM generate_series(1, 3000) k, generate_series(0, 5) i
 ORDER BY md5(k || '/' || i);
-- current knowledge (recorded 2021): 5-day versions with 5-day gaps, the
-- last one open; key E7 has none; note is NULL or long and unique
INSERT INTO phoenix_entity.emp_history (emp_id, department, level, note, valid_from, valid_to, recorded_from)
SELECT 'E' || k, 'dept' || ((k + i) % 7), CASE WHEN i % 4 = 0 THEN NULL ELSE k * 10 + i END,
       CASE WHEN i % 2 = 0 THEN NULL ELSE repeat(md5(k || 'n' || i), 4) END,
       '2026-01-01'::timestamptz + i * interval '10 days',
       CASE WHEN i = 5 THEN 'infinity' ELSE '2026-01-01'::timestamptz + i * interval '10 days' + interval '5 days' END,
       '2021-01-01'
  FROM generate_series(1, 3000) k, generate_series(0, 5) i
 WHERE k <> 7
 ORDER BY md5(i || '/' || k);
CREATE TABLE events (id int, emp_id text, at timestamptz);
INSERT INTO events
SELECT n, CASE WHEN n % 97 = 0 THEN NULL WHEN n % 89 = 0 THEN 'nobody' || n ELSE 'E' || (1 + n * 7919 % 3001) END,
       CASE WHEN n % 101 = 0 THEN NULL ELSE '2025-12-25'::timestamptz + (n * 104729 % 8000) * interval '15 minutes' END
  FROM generate_series(1, 20000) n;
INSERT INTO events SELECT id + 100000, emp_id, at FROM events WHERE id % 5 = 0;   -- duplicates
INSERT INTO events VALUES (200001, 'E7', '2026-01-05'), (200002, 'E8', '2025-01-01'),
  (200003, 'E8', '2026-01-07'), (200004, 'E8', '2026-01-06'), (200005, 'E8', '2026-01-05 23:59:59.999999');
CREATE FUNCTION asof_differences(known_at timestamptz) RETURNS bigint LANGUAGE sql AS $$
  WITH j AS (SELECT id, emp_id, at, department, level, note
               FROM phoenix.asof_join('emp', 'SELECT emp_id, at, id FROM events', known_at)
                    AS t(emp_id text, at timestamptz, id int, note text, level int, department text)),
       l AS (SELECT p.id, p.emp_id, p.at, e.department, e.level, e.note
               FROM events p
               LEFT JOIN LATERAL (SELECT * FROM phoenix_entity.emp_asof(p.emp_id, p.at, coalesce(known_at, 'infinity'))
                                  WHERE known_at IS NOT NULL
                                  UNION ALL
                                  SELECT * FROM phoenix_entity.emp_at(p.emp_id, p.at) WHERE known_at IS NULL) e ON true)
  SELECT (SELECT count(*) FROM (SELECT * FROM j EXCEPT ALL SELECT * FROM l) a)
       + (SELECT count(*) FROM (SELECT * FROM l EXCEPT ALL SELECT * FROM j) b) $$;
SELECT asof_differences(NULL) AS differences_now, asof_differences('2020-06-01') AS differences_2020,
       asof_differences('2019-01-01') AS differences_2019;
-- what the comparison covers
SELECT count(*) AS events, count(department) AS matched, count(*) FILTER (WHERE emp_id IS NULL OR at IS NULL) AS null_key_or_time,
       count(level) AS with_level, count(note) AS with_note, count(DISTINCT department) AS departments
  FROM phoenix.asof_join('emp', 'SELECT emp_id, at FROM events')
       AS t(emp_id text, at timestamptz, note text, level int, department text);
SELECT id, department, level, note IS NOT NULL AS has_note
  FROM phoenix.asof_join('emp', 'SELECT emp_id, at, id FROM events WHERE id > 200000')
       AS t(emp_id text, at timestamptz, id int, note text, level int, department text)
 ORDER BY id;
SELECT id, department, level
  FROM phoenix.asof_join('emp', 'SELECT emp_id, at, id FROM events WHERE id > 200000', '2020-06-01')
       AS t(emp_id text, at timestamptz, id int, note text, level int, department text)
 ORDER BY id;
-- no rows in, no rows out; an entity without versions; a key of 0 bytes
SELECT count(*) FROM phoenix.asof_join('emp', 'SELECT emp_id, at FROM events WHERE false')
       AS t(emp_id text, at timestamptz, note text, level int, department text);
SELECT phoenix.create_entity('badge', 'badge_id', '{"color":"text"}');
SELECT count(*), count(color) FROM phoenix.asof_join('badge', 'SELECT emp_id, at FROM events')
       AS t(emp_id text, at timestamptz, color text);
INSERT INTO phoenix_entity.badge_history (badge_id, color, valid_from, valid_to, recorded_from)
VALUES ('', 'blank', '2026-01-01', 'infinity', now());
SELECT k, color FROM phoenix.asof_join('badge', $$SELECT k, '2026-02-01'::timestamptz FROM (VALUES (''), ('x'), (NULL)) v(k)$$)
       AS t(k text, at timestamptz, color text)
 ORDER BY k NULLS LAST;
-- long and compressed keys, and query values too large to be batched in place
-- (payload || '' is computed, so not compressed)
INSERT INTO phoenix_entity.badge_history (badge_id, color, valid_from, valid_to, recorded_from)
VALUES (repeat('long', 20000), 'long-key', '2026-01-01', 'infinity', now());
CREATE TABLE long_events AS
SELECT repeat('long', 20000) AS badge_id, '2026-03-01'::timestamptz + n * interval '1 day' AS at,
       repeat(md5(n::text), 3000) AS payload
  FROM generate_series(1, 40) n;
SELECT count(*), count(color), min(length(badge_id)), min(length(payload)), count(DISTINCT payload)
  FROM phoenix.asof_join('badge', $$SELECT badge_id, at, payload || '' FROM long_events$$)
       AS t(badge_id text, at timestamptz, payload text, color text);
