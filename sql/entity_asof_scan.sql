-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_entity_asof_scan;
CREATE DATABASE regress_entity_asof_scan;
\c regress_entity_asof_scan
\set ECHO all
-- phoenix.asof_join in FROM is planned as a custom scan that returns rows as
-- it joins them (no tuplestore); calls it cannot take (LATERAL arguments,
-- whole-row references, ORDINALITY) stay function scans.  Both give the
-- same rows, in the query's order, through rescans, early ends and errors.
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('room', 'room_id', '{"name":"text","seats":"integer"}');
INSERT INTO phoenix_entity.room_history (room_id, name, seats, valid_from, valid_to, recorded_from)
SELECT 'R' || k, 'room' || k || '/' || v, k * 10 + v, '2026-01-01'::timestamptz + v * interval '10 days',
       CASE WHEN v = 4 THEN 'infinity' ELSE '2026-01-01'::timestamptz + (v + 1) * interval '10 days' END, now()
  FROM generate_series(1, 300) k, generate_series(0, 4) v;
CREATE TABLE visits (id int, room_id text, at timestamptz);
INSERT INTO visits
SELECT n, 'R' || (1 + n * 7 % 311), '2025-12-30'::timestamptz + (n * 13 % 70) * interval '1 day'
  FROM generate_series(1, 2000) n;

CREATE TABLE entity_names (n text);
INSERT INTO entity_names VALUES ('room');
CREATE FUNCTION plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    IF l ~ 'Scan|Loop|Materialize|Join|Filter' THEN RETURN NEXT regexp_replace(trim(l), '^-> *', ''); END IF;
  END LOOP;
END $$;

-- a lone call: the custom scan, quals applied above it
SELECT plan_of($q$SELECT id, name FROM phoenix.asof_join('room', 'SELECT room_id, at, id FROM visits')
                 AS t(room_id text, at timestamptz, id int, name text, seats int) WHERE seats > 100$q$);
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, name FROM phoenix.asof_join('room', 'SELECT room_id, at, id FROM visits')
                 AS t(room_id text, at timestamptz, id int, name text, seats int) WHERE seats > 100;
SELECT count(*), sum(id) FROM phoenix.asof_join('room', 'SELECT room_id, at, id FROM visits')
       AS t(room_id text, at timestamptz, id int, name text, seats int) WHERE seats > 1000;
SELECT count(*), sum(t.id) FROM entity_names e, LATERAL phoenix.asof_join(e.n, 'SELECT room_id, at, id FROM visits')
       AS t(room_id text, at timestamptz, id int, name text, seats int) WHERE seats > 1000;
-- LATERAL arguments, a whole-row reference, ORDINALITY: function scans
SELECT plan_of($q$SELECT t.id FROM entity_names e,
                 LATERAL phoenix.asof_join(e.n, 'SELECT room_id, at, id FROM visits')
                 AS t(room_id text, at timestamptz, id int, name text, seats int)$q$);
SELECT plan_of($q$SELECT t FROM phoenix.asof_join('room', 'SELECT room_id, at, id FROM visits')
                 AS t(room_id text, at timestamptz, id int, name text, seats int)$q$);
SELECT plan_of($q$SELECT * FROM ROWS FROM (phoenix.asof_join('room', 'SELECT room_id, at, id FROM visits')
                 AS (room_id text, at timestamptz, id int, name text, seats int)) WITH ORDINALITY AS t$q$);

-- the custom scan and the function scan (LATERAL) agree row for row and in order
CREATE TABLE by_scan AS
SELECT row_number() OVER () AS pos, * FROM phoenix.asof_join('room', 'SELECT room_id, at, id FROM visits ORDER BY id DESC')
       AS t(room_id text, at timestamptz, id int, name text, seats int);
CREATE TABLE by_function AS
SELECT row_number() OVER () AS pos, t.* FROM entity_names e,
       LATERAL phoenix.asof_join(e.n, 'SELECT room_id, at, id FROM visits ORDER BY id DESC')
       AS t(room_id text, at timestamptz, id int, name text, seats int);
SELECT count(*) AS rows, count(name) AS matched, bool_and(id = 2001 - pos) AS query_order FROM by_scan;
SELECT (SELECT count(*) FROM (TABLE by_scan EXCEPT ALL TABLE by_function) a)
     + (SELECT count(*) FROM (TABLE by_function EXCEPT ALL TABLE by_scan) b) AS differences;
-- and agree with the inlined LATERAL join
SELECT count(*) AS differences FROM (
  SELECT id, name, seats FROM by_scan
  EXCEPT ALL
  SELECT v.id, r.name, r.seats FROM visits v LEFT JOIN LATERAL phoenix_entity.room_at(v.room_id, v.at) r ON true) d;

-- rescans: the scan on the inner side of a nested loop runs again each time
SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;
SELECT plan_of($q$SELECT x, count(t.name) FROM (VALUES (1), (2), (3)) v(x)
                 JOIN phoenix.asof_join('room', 'SELECT room_id, at, id FROM visits WHERE id <= 50')
                 AS t(room_id text, at timestamptz, id int, name text, seats int) ON t.id % 3 = v.x - 1
                 GROUP BY x ORDER BY x$q$);
SELECT x, count(*), count(t.name) FROM (VALUES (1), (2), (3)) v(x)
  JOIN phoenix.asof_join('room', 'SELECT room_id, at, id FROM visits WHERE id <= 50')
       AS t(room_id text, at timestamptz, id int, name text, seats int) ON t.id % 3 = v.x - 1
 GROUP BY x ORDER BY x;
-- a correlated subquery: the arguments change between rescans
SELECT v.x, (SELECT count(*) FROM phoenix.asof_join('room', 'SELECT room_id, at FROM visits WHERE id <= ' || v.x)
                   AS t(room_id text, at timestamptz, name text, seats int)) AS n
  FROM (VALUES (1), (10), (100)) v(x) ORDER BY v.x;
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material;

-- an early end (LIMIT) closes the query's portal; nothing stays open
SELECT id, name FROM phoenix.asof_join('room', 'SELECT room_id, at, id FROM visits ORDER BY id')
       AS t(room_id text, at timestamptz, id int, name text, seats int) LIMIT 3;
SELECT count(*) AS open_cursors FROM pg_cursors;
-- inside a cursor, fetched a few rows at a time
BEGIN;
DECLARE c CURSOR FOR SELECT id, seats FROM phoenix.asof_join('room', 'SELECT room_id, at, id FROM visits ORDER BY id')
       AS t(room_id text, at timestamptz, id int, name text, seats int);
FETCH 2 FROM c;
FETCH 2 FROM c;
CLOSE c;
COMMIT;

-- errors: raised by the query midway, and by the arguments
\set VERBOSITY terse
SELECT count(*) FROM phoenix.asof_join('room', 'SELECT room_id, at, 1 / (id - 1500) FROM visits ORDER BY id')
       AS t(room_id text, at timestamptz, x int, name text, seats int);
SELECT count(*) FROM phoenix.asof_join('room', NULL) AS t(room_id text, at timestamptz, name text, seats int);
SELECT count(*) FROM phoenix.asof_join('room', 'DELETE FROM visits') AS t(room_id text, at timestamptz, name text, seats int);
SELECT count(*) FROM phoenix.asof_join('room', 'SELECT room_id, at FROM visits') AS t(room_id text, at timestamptz, name text, seats text);
SELECT count(*) FROM visits;
SELECT count(*) AS open_cursors FROM pg_cursors;
