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

-- without the (key, valid_from) btree the engine scans the table: same result
DROP INDEX phoenix_entity.desk_history_desk_id_valid_from_idx;
SELECT phoenix.put('desk', 'D1', '{"seats":6}', '2026-01-15', '2026-02-15');
SELECT phoenix.put('desk', 'D1', '{"room":"C"}', '2026-04-01');
SELECT valid_from, valid_to, attributes FROM phoenix.history('desk', 'D1') ORDER BY valid_from;

-- a history table altered under the engine: a clear error, nothing written
ALTER TABLE phoenix_entity.desk_history RENAME COLUMN seats TO seats_renamed;
SELECT phoenix.put('desk', 'D1', '{"room":"E"}', '2026-05-01');
SELECT count(*) AS versions FROM phoenix_entity.desk_history;
