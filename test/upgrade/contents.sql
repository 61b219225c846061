-- test/upgrade/contents.sql — every row of every table Phoenix keeps (its
-- catalogs, the event log and its partitions, entity history tables,
-- reporting tables) and every sequence's position, as text, sorted: what an
-- updated database and a fresh one given the same steps must agree on.
-- Timestamps made from the clock (received_at, recorded_from, due_at, in
-- JSON too) read "now" (any time from an hour ago on): the data's own times
-- are fixed and older.  The database's name reads "DB"; the node each
-- install draws for its generated ids reads "drawn".  Run by test/shell/upgrade.sh after the update
-- and again after the stories.
CREATE FUNCTION pg_temp.unclock(line text, since timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  m text;
BEGIN
  FOR m IN SELECT DISTINCT x[1] FROM regexp_matches(line,
             '(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?)?)', 'g') x LOOP
    IF m::timestamptz >= since THEN line := replace(line, m, 'now'); END IF;
  END LOOP;
  RETURN replace(line, current_database(), 'DB');   -- in a subscription's group id
END $$;
CREATE TEMP TABLE upgrade_contents (line text);
DO $$
DECLARE
  rel regclass;
BEGIN
  FOR rel IN
    SELECT c.oid FROM pg_class c
     WHERE c.relnamespace::regnamespace::text IN ('phoenix', 'phoenix_entity', 'reporting', 'api')
       AND c.relkind IN ('r', 'S')
     ORDER BY c.oid::regclass::text
  LOOP
    IF (SELECT relkind FROM pg_class WHERE oid = rel) = 'S' THEN
      EXECUTE format('INSERT INTO upgrade_contents SELECT %L || '' '' || last_value || '' '' || is_called FROM %s',
                     'sequence ' || rel::text, rel);
    ELSIF rel = 'phoenix.generated_id_nodes'::regclass THEN
      -- drawn at random by each install
      EXECUTE format('INSERT INTO upgrade_contents SELECT %L || '' drawn'' FROM %s t', 'row ' || rel::text, rel);
    ELSE
      EXECUTE format('INSERT INTO upgrade_contents SELECT %L || '' '' || to_jsonb(t)::text FROM %s t',
                     'row ' || rel::text, rel);  -- jsonb: keys sorted, whatever the column order
    END IF;
  END LOOP;
END $$;
SELECT pg_temp.unclock(line, now() - interval '1 hour') AS line FROM upgrade_contents ORDER BY line COLLATE "C";
DROP TABLE upgrade_contents;
