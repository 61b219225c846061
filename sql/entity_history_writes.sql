-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_entity_history_writes;
CREATE DATABASE regress_entity_history_writes;
\c regress_entity_history_writes
\set ECHO all
-- The timeline engine writes history rows directly (no SQL statement per
-- row), yet as SQL would: row triggers fire, a missing lookup index only
-- costs speed, and a history table altered under it gives a clear error.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text","seats":"integer"}');

-- row triggers on the history table see every insert and every closing update
CREATE TABLE trail (op text, room text, valid_from timestamptz, valid_to timestamptz, closed boolean);
CREATE FUNCTION trail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.trail VALUES (TG_OP, NEW.room, NEW.valid_from, NEW.valid_to, NEW.recorded_to <> 'infinity');
  RETURN NEW;
END $$;
CREATE TRIGGER trail AFTER INSERT OR UPDATE ON phoenix_entity.desk_history
  FOR EACH ROW EXECUTE FUNCTION trail();
SELECT phoenix.put('desk', 'D1', '{"room":"A","seats":4}', '2026-01-01');
SELECT phoenix.put('desk', 'D1', '{"room":"B"}', '2026-02-01', '2026-03-01');
SELECT op, room, valid_from, valid_to, closed FROM trail ORDER BY op DESC, valid_from;
DROP TRIGGER trail ON phoenix_entity.desk_history;

-- get() reads the btree backwards; it agrees with the SQL as-of functions
-- for every day and every moment of knowledge (each put is its own transaction)
SELECT now() AS k1 \gset
SELECT phoenix.put('desk', 'D1', '{"seats":8}', '2026-01-20', '2026-02-20');
SELECT now() AS k2 \gset
SELECT phoenix.retract('desk', 'D1', '2026-02-10', '2026-02-12');
SELECT now() AS k3 \gset
SELECT phoenix.put('desk', 'D1', '{"room":"Z","seats":1}', '2026-01-25');
CREATE TABLE recorded_times AS SELECT :'k1'::timestamptz AS k1, :'k2'::timestamptz AS k2, :'k3'::timestamptz AS k3;
CREATE FUNCTION get_disagreements() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM (
    SELECT phoenix.get('desk', 'D1', d, k) AS got,
           (SELECT jsonb_strip_nulls(jsonb_build_object('room', h.room, 'seats', h.seats))
              FROM phoenix_entity.desk_history h
             WHERE h.desk_id = 'D1' AND h.valid_from <= d AND h.valid_to > d
               AND CASE WHEN k IS NULL THEN h.recorded_to = 'infinity'
                        ELSE h.recorded_from <= k AND h.recorded_to > k END) AS want
      FROM generate_series('2025-12-30'::timestamptz, '2026-04-05', '12 hours') d,
           (SELECT unnest(array[NULL, '2020-01-01', k1, k2, k3, now()]) AS k FROM recorded_times) ks) s
   WHERE got IS DISTINCT FROM want
$$;
SELECT get_disagreements() AS disagreements;
SELECT count(*) FILTER (WHERE x IS NULL) AS absent, count(DISTINCT x) AS distinct_values
  FROM generate_series('2025-12-30'::timestamptz, '2026-03-05', '12 hours') d,
       LATERAL (SELECT phoenix.get('desk', 'D1', d, :'k2') AS x) y;

-- without the (key, valid_from) btree the engine scans the table: same result
DROP INDEX phoenix_entity.desk_history_desk_id_valid_from_idx;
SELECT phoenix.put('desk', 'D1', '{"seats":6}', '2026-01-15', '2026-02-15');
SELECT phoenix.put('desk', 'D1', '{"room":"C"}', '2026-04-01');
SELECT valid_from, valid_to, attributes FROM phoenix.history('desk', 'D1') ORDER BY valid_from;
-- and get() falls back to SQL
SELECT get_disagreements() AS disagreements;

-- a history table altered under the engine: a clear error, nothing written
ALTER TABLE phoenix_entity.desk_history RENAME COLUMN seats TO seats_renamed;
SELECT phoenix.put('desk', 'D1', '{"room":"E"}', '2026-05-01');
SELECT count(*) AS versions FROM phoenix_entity.desk_history;
