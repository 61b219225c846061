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

-- the current view shows what is valid now as known now
SELECT site_id, name FROM phoenix_entity.site ORDER BY 1;
SELECT phoenix.put('floor', 'F1', '{"capacity":99}', '2099-01-01');
SELECT floor_id, site_id, capacity FROM phoenix_entity.floor ORDER BY 1;

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
