-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_batch_writes;
CREATE DATABASE regress_projection_batch_writes;
\c regress_projection_batch_writes
\set ECHO all
-- Arriving rows computed in C are written a batch at a time, as COPY writes
-- (common/rowwriter.c: rows collected, one heap_multi_insert per 1,000, then
-- their index entries).  What must still hold: every row lands once and is
-- readable in the same transaction; a CHECK constraint the owner adds to a
-- reporting table refuses exactly the rows that break it; an index entry
-- that cannot be written fails its own event only (per-element isolation,
-- though the failure happens when the batch is written); a table with a row
-- trigger is written row by row, so the trigger fires for every row.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('employee', key => 'employee_id', attributes => '{"department":"text"}');
SELECT count(phoenix.put('employee', 'E' || i, jsonb_build_object('department', 'D' || i % 7), '2025-01-01'))
  FROM generate_series(1, 50) i;
SELECT phoenix.create_event_type('swipe',
  schema => '{"type":"object","required":["employeeId","n"],
              "properties":{"employeeId":{"type":"string"},"n":{"type":"integer"},"run":{"type":"string"},
                            "at":{"type":"string","format":"date-time"}}}',
  time_field => 'at');
SELECT phoenix.create_projection('swipes', source => 'swipe',
  columns => '{"employee_id":"employeeId","n":"n","run":"run"}',
  enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time"}}]');
-- swipes of run `r`, n = 1..`count`, one minute apart; the one numbered
-- `odd` (if any) by an employee id too large for an index entry
CREATE FUNCTION swipes(r text, count int, odd int DEFAULT 0) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_agg(jsonb_build_object('type', 'swipe', 'payload', jsonb_build_object(
           'employeeId', CASE WHEN i = odd THEN (SELECT string_agg(md5(j::text), '') FROM generate_series(1, 160) j)
                              ELSE 'E' || (1 + i % 50) END,
           'n', i, 'run', r, 'at', to_char(timestamptz '2025-03-01 00:00:00+00' + i * interval '1 minute',
                                              'YYYY-MM-DD"T"HH24:MI:SS"Z"'))) ORDER BY i)
    FROM generate_series(1, count) i $$;

-- 2,500 events: three chunks, each written in batches of 1,000 and the rest
SELECT * FROM phoenix.emit_batch(swipes('a', 2500));
SELECT count(*) AS rows, count(DISTINCT event_id) AS ids, min(n), max(n) FROM reporting.swipes WHERE run = 'a';
-- every event of the log has its row, enriched as of its time
SELECT count(*) AS missing FROM phoenix.event_log l LEFT JOIN reporting.swipes s USING (event_id)
 WHERE l.event_type = 'swipe' AND s.event_id IS NULL;
SELECT count(*) AS wrongly_enriched FROM reporting.swipes s JOIN phoenix_entity.employee e USING (employee_id)
 WHERE s.employee_department IS DISTINCT FROM e.department;

-- the rows are readable in the transaction that emitted them
BEGIN;
SELECT accepted FROM phoenix.emit_batch(swipes('b', 1500));
SELECT count(*) AS rows_seen FROM reporting.swipes WHERE run = 'b';
COMMIT;

-- a CHECK constraint of the owner's: the one row breaking it is refused,
-- with its reason; its neighbours in the same batch land
ALTER TABLE reporting.swipes ADD CONSTRAINT no_1313 CHECK (n <> 1313 OR run <> 'c');
SELECT * FROM phoenix.emit_batch(swipes('c', 2000), source => 'checked');
SELECT source_position, sqlstate, left(reason, 108) AS reason FROM phoenix.dead_letters WHERE source = 'checked';
SELECT count(*) AS rows, count(*) FILTER (WHERE n = 1313) AS refused_row FROM reporting.swipes WHERE run = 'c';
ALTER TABLE reporting.swipes DROP CONSTRAINT no_1313;

-- an index entry too large: written with its batch, it fails there, and
-- only its own event is dead-lettered
SELECT * FROM phoenix.emit_batch(swipes('d', 2000, odd => 700), source => 'oversized');
SELECT source_position, sqlstate FROM phoenix.dead_letters WHERE source = 'oversized';
SELECT count(*) AS rows, count(*) FILTER (WHERE n = 700) AS refused_row FROM reporting.swipes WHERE run = 'd';

-- a row trigger of the owner's fires for every row
CREATE TABLE seen (n int);
CREATE FUNCTION note_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.seen VALUES (NEW.n); RETURN NULL; END $$;
CREATE TRIGGER note_row AFTER INSERT ON reporting.swipes FOR EACH ROW EXECUTE FUNCTION note_row();
SELECT accepted FROM phoenix.emit_batch(swipes('e', 1500));
SELECT count(*) AS fired, count(DISTINCT n) AS distinct_rows FROM seen;
DROP TRIGGER note_row ON reporting.swipes;

-- a batch's index entries go in one index at a time, in each index's key
-- order (rowwriter.c, insert_index_sorted): indexes the owner adds, partial,
-- on expressions, descending, get exactly the entries they would row by row
-- (amcheck: every row that should be indexed is, in order), and a unique
-- index of the owner's refuses exactly the rows that duplicate
CREATE EXTENSION amcheck;
CREATE INDEX swipes_f_desc ON reporting.swipes (n DESC NULLS FIRST) WHERE run = 'f';
CREATE INDEX swipes_lower ON reporting.swipes (lower(employee_id), n DESC) INCLUDE (run);
CREATE UNIQUE INDEX swipes_run_n ON reporting.swipes (run, n) WHERE run IN ('f', 'g');
SELECT accepted FROM phoenix.emit_batch(swipes('f', 2500));
SELECT * FROM phoenix.emit_batch(swipes('g', 30) || swipes('f', 20), source => 'duplicates');
SELECT count(*) AS refused, min(substring(source_position from '[0-9]+')::int) AS first, max(substring(source_position from '[0-9]+')::int) AS last, min(sqlstate), max(sqlstate)
  FROM phoenix.dead_letters WHERE source = 'duplicates';
SELECT c.relname, bt_index_check(i.indexrelid, heapallindexed => true)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'reporting.swipes'::regclass ORDER BY c.relname;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS by_partial, min(n), max(n) FROM reporting.swipes WHERE run = 'f' AND n > 0;
SELECT count(*) AS by_expression FROM reporting.swipes WHERE lower(employee_id) = 'e7';
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT count(*) AS by_scan FROM reporting.swipes WHERE lower(employee_id) = 'e7';
DROP INDEX reporting.swipes_f_desc, reporting.swipes_lower, reporting.swipes_run_n;

-- an exclusion constraint of the owner's: that table is indexed row by row,
-- each row checked against those before it in the same batch
ALTER TABLE reporting.swipes ADD CONSTRAINT one_n_per_run_h EXCLUDE USING btree (n WITH =) WHERE (run = 'h');
SELECT * FROM phoenix.emit_batch(swipes('h', 40) || swipes('h', 5), source => 'excluded');
SELECT count(*) AS refused, min(substring(source_position from '[0-9]+')::int) AS first, max(substring(source_position from '[0-9]+')::int) AS last, min(sqlstate)
  FROM phoenix.dead_letters WHERE source = 'excluded';
ALTER TABLE reporting.swipes DROP CONSTRAINT one_n_per_run_h;

SELECT run, count(*) FROM reporting.swipes GROUP BY run ORDER BY run;

\c postgres
DROP DATABASE regress_projection_batch_writes;
