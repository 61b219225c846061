-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_chain_parents;
CREATE DATABASE regress_projection_chain_parents;
\c regress_projection_chain_parents
\set ECHO all
-- A chained step (a site keyed by floor_site_id, a region keyed by
-- site_region_id) has no index on its key column: its cascade reaches the
-- rows through the parents' history (the floors that held the site, the
-- sites that held the region, ...) and the root step's (key, effective_at)
-- index.  Every change below is checked against a rebuild of each
-- projection, which selects no rows that way: chains three deep, parents
-- read as of the event time and as of now, and a chain through a by-match.
SET client_min_messages = warning;
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('region', 'region_id', '{"name":"text"}');
SELECT phoenix.create_entity('site', 'site_id', '{"name":"text","region_id":"text"}');
SELECT phoenix.create_entity('floor', 'floor_id', '{"site_id":"text"}');
SELECT phoenix.create_entity('employee', 'employee_id', '{"email":"text","name":"text"}');
SELECT phoenix.create_entity('badge', 'employee_id', '{"color":"text"}');
SELECT phoenix.create_event_type('presence.detected',
  schema => '{"type":"object","properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
              "hostEmail":{"type":"string"},"at":{"type":"string","format":"date-time"}}}', time_field => 'at');

SELECT count(*) FROM (
  SELECT phoenix.put('region', 'R' || r, jsonb_build_object('name', 'Region ' || r), '2025-01-01') FROM generate_series(1, 3) r
  UNION ALL
  SELECT phoenix.put('site', 'S' || s, jsonb_build_object('name', 'Site ' || s, 'region_id', 'R' || (1 + s % 3)), '2025-01-01')
    FROM generate_series(1, 6) s
  UNION ALL
  SELECT phoenix.put('floor', 'F' || f, jsonb_build_object('site_id', 'S' || (1 + f % 6)), '2025-01-01') FROM generate_series(1, 12) f
  UNION ALL
  SELECT phoenix.put('employee', 'E' || e, jsonb_build_object('email', 'e' || e || '@x', 'name', 'Name ' || e), '2025-01-01')
    FROM generate_series(1, 5) e
  UNION ALL
  SELECT phoenix.put('badge', 'E' || e, jsonb_build_object('color', 'blue'), '2025-01-01') FROM generate_series(1, 5) e) x;

-- three deep, every parent read as of the event time
SELECT phoenix.create_projection('by_time', source => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId"}',
  enrich => '[{"entity":"floor","key":"floor_id","attributes":{"site_id":"event_time"}},
              {"entity":"site","key":"floor_site_id","attributes":{"region_id":"event_time","name":"event_time"}},
              {"entity":"region","key":"site_region_id","attributes":{"name":"event_time"}}]') IS NOT NULL AS created;
-- the floor's site as of now, the site's region as of the event time
SELECT phoenix.create_projection('by_now', source => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId"}',
  enrich => '[{"entity":"floor","key":"floor_id","attributes":{"site_id":"current"}},
              {"entity":"site","key":"floor_site_id","attributes":{"region_id":"event_time"}},
              {"entity":"region","key":"site_region_id","attributes":{"name":"current"}}]') IS NOT NULL AS created;
-- through a by-match: the host found by e-mail, then the host's badge
SELECT phoenix.create_projection('by_mail', source => 'presence.detected',
  columns => '{"host_email":"hostEmail"}',
  enrich => '[{"entity":"employee","key":"host_email","by":"email","as":"host","attributes":{"name":"event_time"}},
              {"entity":"badge","key":"host_employee_id","attributes":{"color":"event_time"}}]') IS NOT NULL AS created;

-- the chained columns have no index; the parents' histories do
SELECT indrelid::regclass, pg_get_indexdef(indexrelid) ~ 'site_id|region_id' AS chained
  FROM pg_index WHERE indrelid::regclass::text ~ '^reporting\.' ORDER BY 1, 2;
SELECT pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indexrelid::regclass::text IN ('phoenix_entity.floor_site_id_asof', 'phoenix_entity.site_region_id_asof') ORDER BY 1;

SELECT sum((phoenix.emit_batch(b)).accepted) FROM (
  SELECT jsonb_agg(jsonb_build_object('type', 'presence.detected', 'payload', jsonb_build_object(
           'employeeId', 'E' || (1 + i % 5), 'floorId', 'F' || (1 + i % 12), 'hostEmail', 'e' || (1 + i % 6) || '@x',
           'at', to_char(timestamptz '2025-01-01' + i * interval '7 hours', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))) b
    FROM generate_series(1, 600) i) x;

-- Each projection's rows beside its rebuild (rebuilding keeps the table's
-- name): the number of rows that differ, which must be 0.
CREATE TABLE snap (projection text, row_text text);
CREATE FUNCTION differs() RETURNS TABLE (projection text, differing bigint) LANGUAGE plpgsql AS $$
DECLARE p text;
BEGIN
  FOREACH p IN ARRAY ARRAY['by_time', 'by_now', 'by_mail'] LOOP
    DELETE FROM snap;
    EXECUTE format('INSERT INTO snap SELECT %L, (to_jsonb(t) - ''updated_at'' - ''change_seq'')::text FROM reporting.%I t', p, p);
    PERFORM phoenix.rebuild_projection(p);
    projection := p;
    EXECUTE format('SELECT count(*) FROM ((SELECT row_text FROM snap EXCEPT SELECT (to_jsonb(t) - ''updated_at'' - ''change_seq'')::text FROM reporting.%1$I t)
                    UNION ALL (SELECT (to_jsonb(t) - ''updated_at'' - ''change_seq'')::text FROM reporting.%1$I t EXCEPT SELECT row_text FROM snap)) d', p)
      INTO differing;
    RETURN NEXT;
  END LOOP;
END $$;
SELECT * FROM differs();

-- a region renamed for the spring (three deep, through sites and floors)
SELECT phoenix.put('region', 'R2', '{"name":"Region Two"}', '2025-03-01', '2025-06-01');
SELECT * FROM differs();
-- a site moves to another region from April on
SELECT phoenix.put('site', 'S2', '{"name":"Site 2","region_id":"R1"}', '2025-04-01');
SELECT phoenix.put('region', 'R1', '{"name":"Region One"}', '2025-02-01');
SELECT * FROM differs();
-- a floor moves to another site, then the new site is renamed (the floor
-- held it only from May: by_now's rows of that floor show it all year)
SELECT phoenix.put('floor', 'F3', '{"site_id":"S5"}', '2025-05-01');
SELECT phoenix.put('site', 'S5', '{"name":"Site Five","region_id":"R1"}', '2025-01-01', '2025-03-01');
SELECT phoenix.put('region', 'R3', '{"name":"Region Three"}', '2025-01-01');
SELECT * FROM differs();
-- an address moves to another person, whose badge then changes colour
SELECT phoenix.put('employee', 'E5', '{"email":"e1@x","name":"Name 5"}', '2025-02-01', '2025-04-01');
SELECT phoenix.put('badge', 'E5', '{"color":"red"}', '2025-01-15', '2025-03-15');
SELECT * FROM differs();
-- a retraction: the region's spring name is taken back
SELECT phoenix.retract('region', 'R2', '2025-03-01', '2025-06-01');
SELECT * FROM differs();
-- How the cascade reached a chained step's rows: through the parents'
-- history and the root key's index, never by reading the whole reporting
-- table (with sequential scans priced out, the rechecked chained column,
-- which has no index, could only be found by one).  A missing chain filter
-- would still give the right rows, only slower, so the scans are counted.
CREATE FUNCTION cascade_scans(p text, change text, OUT seq_scans bigint, OUT index_scans bigint)
LANGUAGE plpgsql AS $$
DECLARE seq0 bigint; idx0 bigint;
BEGIN
  -- the backend's counts not yet reported, so taken before and after
  SELECT s.seq_scan, s.idx_scan INTO seq0, idx0
    FROM pg_stat_xact_user_tables s WHERE s.relid = format('reporting.%I', p)::regclass;
  SET LOCAL enable_seqscan = off;
  EXECUTE change;
  SELECT s.seq_scan - seq0, s.idx_scan - idx0 INTO seq_scans, index_scans
    FROM pg_stat_xact_user_tables s WHERE s.relid = format('reporting.%I', p)::regclass;
END $$;
SELECT * FROM cascade_scans('by_time', $$SELECT phoenix.put('site', 'S4', '{"name":"Site Four","region_id":"R2"}', '2025-02-01', '2025-07-01')$$);
SELECT * FROM cascade_scans('by_time', $$SELECT phoenix.put('region', 'R1', '{"name":"Region 1"}', '2025-08-01')$$);
SELECT * FROM differs();
-- the rows a chain reached are right, not only equal to a rebuild
SELECT floor_id, floor_site_id, site_region_id, region_name, count(*)
  FROM reporting.by_time WHERE floor_id IN ('F2', 'F3') GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
