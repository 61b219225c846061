-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_entity_indexes;
CREATE DATABASE regress_entity_indexes;
\c regress_entity_indexes
\set ECHO all
-- The history table's indexes: the exclusion constraint is exact (keys whose
-- hashes collide never conflict), and readers of a key use the btree, never
-- the constraint's GiST index (which leads with a hash of the key).
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}');

-- two different keys with equal hashtext(): found among 200,000 candidates
CREATE TEMP TABLE collision AS
SELECT min(k) AS a, max(k) AS b
  FROM (SELECT 'K' || i AS k FROM generate_series(1, 200000) i) s
 GROUP BY hashtext(k) HAVING count(*) > 1
 ORDER BY 1 LIMIT 1;
SELECT hashtext(a) = hashtext(b) AS same_hash, a <> b AS different_keys FROM collision;

-- same period on both: no conflict
SELECT phoenix.put('desk', a, '{"room":"A"}', '2026-01-01', '2026-02-01') FROM collision;
SELECT phoenix.put('desk', b, '{"room":"B"}', '2026-01-01', '2026-02-01') FROM collision;
INSERT INTO phoenix_entity.desk_history (desk_id, room, valid_from, valid_to, recorded_from)
SELECT k, 'C', '2026-03-01'::timestamptz, '2026-04-01'::timestamptz, now()
  FROM collision, LATERAL (VALUES (a), (b)) v(k);
SELECT h.room, h.valid_from, h.valid_to, h.desk_id = c.a AS is_a
  FROM phoenix_entity.desk_history h, collision c
 WHERE h.desk_id IN (c.a, c.b) ORDER BY 4, 2;

-- one key, overlapping current periods: refused, whatever writes them
INSERT INTO phoenix_entity.desk_history (desk_id, room, valid_from, valid_to, recorded_from)
SELECT a, 'D', '2026-01-15', '2026-01-20', now() FROM collision;
-- adjacent periods are not overlapping (half-open)
INSERT INTO phoenix_entity.desk_history (desk_id, room, valid_from, valid_to, recorded_from)
SELECT a, 'E', '2026-02-01', '2026-02-10', now() FROM collision;
-- closed versions may overlap current ones
INSERT INTO phoenix_entity.desk_history (desk_id, room, valid_from, valid_to, recorded_from, recorded_to)
SELECT a, 'F', '2026-01-10', '2026-01-12', '2026-01-01', '2026-01-02' FROM collision;

-- readers of one key use the btree on (key, valid_from)
SELECT count(phoenix.put('desk', 'K' || i, '{"room":"R"}', '2026-01-01')) FROM generate_series(1, 2000) i;
ANALYZE phoenix_entity.desk_history;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM phoenix_entity.desk_at('K7', '2026-06-01');
EXPLAIN (COSTS OFF) SELECT * FROM phoenix_entity.desk_asof('K7', '2026-06-01', now());
EXPLAIN (COSTS OFF) SELECT * FROM phoenix_entity.desk_history WHERE desk_id = 'K7' AND recorded_to = 'infinity';
