-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_eventlog_owner_rules;
CREATE DATABASE regress_eventlog_owner_rules;
\c regress_eventlog_owner_rules
\set ECHO all
-- Events go into the log and their ids into phoenix.event_ids as COPY
-- writes rows (ingest/eventlog.c), yet every rule the owner adds to those
-- tables holds as it would for an INSERT: NOT NULL and CHECK constraints
-- refuse the event that breaks them (SQLSTATE 23502, 23514) and only it;
-- a column the owner adds gets its default and its generated value; a
-- trigger fires.  Once the rules are gone, rows go the fast way again.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_event_type('t.x', schema => '{"type":"object"}');
-- n events {"n": i} with ids <prefix>1 .. <prefix>n
CREATE FUNCTION events(prefix text, n int) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_agg(jsonb_build_object('type', 't.x', 'payload', jsonb_build_object('n', i),
                                      'event_id', prefix || i) ORDER BY i)
    FROM generate_series(1, n) i $$;
CREATE FUNCTION refused(src text) RETURNS TABLE (source_position text, sqlstate text, reason text)
  LANGUAGE sql AS $$
  SELECT source_position, sqlstate,
         left(regexp_replace(reason, 'event_log_p[0-9]{6}', 'event_log_p<month>'), 90)
    FROM phoenix.dead_letters WHERE source = src ORDER BY dead_letter_id $$;
-- a single emit: its position, or the SQLSTATE and constraint that refused it
CREATE FUNCTION try_emit(payload jsonb, id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; con text; col text;
BEGIN
  RETURN 'position ' || phoenix.emit('t.x', payload, event_id => id);
EXCEPTION WHEN integrity_constraint_violation THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, con = CONSTRAINT_NAME, col = COLUMN_NAME;
  RETURN format('refused: %s (%s)', state, coalesce(nullif(con, ''), col));
END $$;

-- a CHECK constraint on the log: the events it refuses are dead-lettered,
-- their neighbours logged (one batch of 40 events: the fast path sorts and
-- writes them together)
ALTER TABLE phoenix.event_log ADD CONSTRAINT not_c7_c23 CHECK (event_id NOT IN ('c7', 'c23'));
SELECT * FROM phoenix.emit_batch(events('c', 40), source => 'checked');
SELECT * FROM refused('checked');
SELECT count(*), min(event_id), max(event_id) FROM phoenix.event_log WHERE source = 'checked';
-- nothing of a refused event stays behind, not even its id
SELECT count(*) AS ids_of_refused FROM phoenix.event_ids WHERE event_id IN ('c7', 'c23');
SELECT try_emit('{"n": 1}', 'c7');
ALTER TABLE phoenix.event_log DROP CONSTRAINT not_c7_c23;

-- NOT NULL on a column Phoenix may leave empty (a single emit has no
-- source position; a batch's elements have theirs)
ALTER TABLE phoenix.event_log ALTER COLUMN source_position SET NOT NULL;
SELECT try_emit('{"n": 1}', 'n1');
SELECT * FROM phoenix.emit_batch(events('n', 20), source => 'positioned');
SELECT count(*) FROM phoenix.event_log WHERE source = 'positioned' AND source_position IS NOT NULL;
ALTER TABLE phoenix.event_log ALTER COLUMN source_position DROP NOT NULL;

-- a CHECK constraint on phoenix.event_ids
ALTER TABLE phoenix.event_ids ADD CONSTRAINT not_x CHECK (event_id NOT LIKE 'x%');
SELECT * FROM phoenix.emit_batch(events('i', 20) || events('x', 2), source => 'ids');
SELECT * FROM refused('ids');
SELECT count(*) FROM phoenix.event_log WHERE source = 'ids';
ALTER TABLE phoenix.event_ids DROP CONSTRAINT not_x;

-- columns of the owner's: a NOT NULL one with a default, a generated one
ALTER TABLE phoenix.event_log ADD COLUMN tenant text NOT NULL DEFAULT 'acme',
  ADD COLUMN n int GENERATED ALWAYS AS ((payload->>'n')::int) STORED;
ALTER TABLE phoenix.event_ids ADD COLUMN claimed_at_day int DEFAULT 7;
SELECT * FROM phoenix.emit_batch(events('d', 30), source => 'defaults');
SELECT phoenix.emit('t.x', '{"n": 99}', event_id => 'd99', source => 'defaults');
SELECT tenant, count(*), sum(n), count(source_position) AS with_position FROM phoenix.event_log WHERE source = 'defaults' GROUP BY tenant;
SELECT claimed_at_day, count(*) FROM phoenix.event_ids WHERE event_id LIKE 'd%' GROUP BY 1;
-- a repeat is still a no-op, and another payload under a used id still refused
SELECT * FROM phoenix.emit_batch(events('d', 2) || '[{"type":"t.x","payload":{"n":5},"event_id":"d1"}]', source => 'repeat');
SELECT * FROM refused('repeat');
ALTER TABLE phoenix.event_log DROP COLUMN tenant, DROP COLUMN n;
ALTER TABLE phoenix.event_ids DROP COLUMN claimed_at_day;

-- a trigger on phoenix.event_ids fires for every id claimed
CREATE TABLE claimed (event_id text);
CREATE FUNCTION note_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.claimed VALUES (NEW.event_id); RETURN NEW; END $$;
CREATE TRIGGER note_claim AFTER INSERT ON phoenix.event_ids FOR EACH ROW EXECUTE FUNCTION note_claim();
-- (through SQL: repeats in the batch are no-ops, another payload under a
-- repeated id is refused)
SELECT * FROM phoenix.emit_batch(events('t', 25) || events('t', 3)
  || '[{"type":"t.x","payload":{"n":99},"event_id":"t2"}]', source => 'triggered');
SELECT * FROM refused('triggered');
SELECT count(*), count(DISTINCT event_id) FROM claimed;
DROP TRIGGER note_claim ON phoenix.event_ids;

-- the rules gone, the fast way again: everything lands, nothing refused
SELECT * FROM phoenix.emit_batch(events('f', 50), source => 'fast');
SELECT count(*) FROM phoenix.event_log WHERE source = 'fast';
SELECT count(*) AS every_event_has_its_id FROM phoenix.event_log l JOIN phoenix.event_ids i USING (event_id, position);
SELECT count(*) AS events FROM phoenix.event_log;

\c postgres
DROP DATABASE regress_eventlog_owner_rules;
