-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_export;
CREATE DATABASE regress_export;
\c regress_export
\set ECHO all
-- phoenix.export: rows changed since the last export, as BigQuery load files
-- (NDJSON, CSV) with a manifest, atomically; the cursor advances only on commit.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SET timezone = 'America/New_York';  -- exports are UTC whatever the session says

-- A table of a projection's shape (change_seq numbered by phoenix.next_change_seq).
CREATE TABLE reporting.exp_test (
  event_id     text PRIMARY KEY,
  effective_at timestamptz NOT NULL,
  received_at  timestamptz NOT NULL,
  employee_id  text,
  n            integer,
  amount       numeric(10, 2),
  score        double precision,
  flag         boolean,
  day          date,
  at_time      time,
  local_ts     timestamp,
  blob         bytea,
  note         text,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  change_seq   bigint NOT NULL DEFAULT phoenix.next_change_seq()
);
INSERT INTO reporting.exp_test (event_id, effective_at, received_at, employee_id, n, amount, score,
                                flag, day, at_time, local_ts, blob, note) VALUES
  ('e1', '2026-11-23 09:00:00+00', '2026-11-27 10:00:00.5+00', 'E1', 1, 12.50, 0.1, true,
   '2026-11-23', '09:00', '2026-11-23 10:00', '\x00ff', 'plain'),
  ('e2', '2026-11-24 09:00:00.123456+00', '2026-11-27 10:00:00+00', 'E2', NULL, NULL, 'NaN', false,
   NULL, NULL, NULL, NULL, E'quote " comma , newline \n backslash \\ tab \t unicode é ∑'),
  ('e3', '-infinity', 'infinity', '', -7, -0.01, '-Infinity', NULL,
   'infinity', '23:59:59.999999', '2026-01-01 00:00:00.25', '', '');

SELECT '/tmp/phoenix_export_test_' || current_setting('port') || '_' || pg_backend_pid() AS dir \gset
CREATE FUNCTION pg_temp.sh(cmd text) RETURNS void LANGUAGE plpgsql
  AS $$ BEGIN EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'cat >/dev/null; ' || cmd); END $$;
CREATE FUNCTION pg_temp.copy_in(tbl text, path text) RETURNS void LANGUAGE plpgsql
  AS $$ BEGIN EXECUTE format('COPY %s FROM %L (FORMAT csv, HEADER true)', tbl, path); END $$;
SELECT pg_temp.sh('rm -rf ' || :'dir' || ' && mkdir -p ' || :'dir');

-- first export: three rows
SELECT file, manifest, rows, from_change_seq, to_change_seq
  FROM phoenix.export('exp_test', :'dir', 'ndjson');
-- every line parses with a strict JSON parser; values as BigQuery wants them
SELECT line::jsonb - 'updated_at' AS row_json
  FROM regexp_split_to_table(rtrim(pg_read_file(:'dir' || '/exp_test_0000000000000000001_0000000000000000003.ndjson'), E'\n'), E'\n') AS line
 ORDER BY 1;
-- the values round-trip to the table's values
WITH j AS (
  SELECT line::jsonb AS j
    FROM regexp_split_to_table(rtrim(pg_read_file(:'dir' || '/exp_test_0000000000000000001_0000000000000000003.ndjson'), E'\n'), E'\n') AS line)
SELECT t.event_id,
       CASE WHEN isfinite(t.effective_at) THEN (j->>'effective_at')::timestamptz = t.effective_at
            ELSE j->>'effective_at' = '0001-01-01T00:00:00Z' END AS effective_ok,  -- clamped
       (j->>'note') IS NOT DISTINCT FROM t.note AS note_ok,
       decode(j->>'blob', 'base64') IS NOT DISTINCT FROM t.blob AS blob_ok,
       (j->>'amount')::numeric IS NOT DISTINCT FROM t.amount AS amount_ok,
       (j->>'local_ts')::timestamp IS NOT DISTINCT FROM t.local_ts AS local_ok
  FROM j JOIN reporting.exp_test t ON t.event_id = j->>'event_id'
 ORDER BY 1;
-- the manifest
SELECT m - 'exported_at' - 'schema' - 'sha256' AS manifest, m->'schema' AS schema
  FROM (SELECT pg_read_file(:'dir' || '/exp_test_0000000000000000001_0000000000000000003.ndjson.manifest.json')::jsonb AS m) s;
SELECT (pg_read_file(:'dir' || '/exp_test_0000000000000000001_0000000000000000003.ndjson.manifest.json')::jsonb->>'sha256')
     = encode(sha256(pg_read_binary_file(:'dir' || '/exp_test_0000000000000000001_0000000000000000003.ndjson')), 'hex')
       AS checksum_ok;

-- nothing changed: nothing written, cursor unchanged
SELECT file, manifest, rows, from_change_seq, to_change_seq FROM phoenix.export('exp_test', :'dir', 'ndjson');

-- an updated row and a new one appear in the next export, and only they
UPDATE reporting.exp_test SET note = 'changed', change_seq = phoenix.next_change_seq() WHERE event_id = 'e1';
INSERT INTO reporting.exp_test (event_id, effective_at, received_at) VALUES ('e4', '2026-11-25 12:00+01', '2026-11-25 12:00:01+01');
SELECT file, rows, from_change_seq, to_change_seq FROM phoenix.export('exp_test', :'dir', 'ndjson');
SELECT line::jsonb->>'event_id' AS id, line::jsonb->>'note' AS note
  FROM regexp_split_to_table(rtrim(pg_read_file(:'dir' || '/exp_test_0000000000000000004_0000000000000000005.ndjson'), E'\n'), E'\n') AS line
 ORDER BY 1;

-- CSV: a separate cursor; a CSV reader (COPY) gets the table back
SELECT file, rows, from_change_seq, to_change_seq FROM phoenix.export('exp_test', :'dir', 'csv');
CREATE TEMP TABLE back (event_id text, effective_at text, received_at text, employee_id text, n text,
  amount text, score text, flag text, day text, at_time text, local_ts text, blob text, note text,
  updated_at text, change_seq text);
SELECT pg_temp.copy_in('back', :'dir' || '/exp_test_0000000000000000001_0000000000000000005.csv');
SELECT event_id, effective_at, received_at, employee_id, n, amount, score, flag, day, at_time, local_ts,
       blob, note IS NULL AS note_null, note = '' AS note_empty
  FROM back ORDER BY event_id;
SELECT count(*) AS mismatches
  FROM back b JOIN reporting.exp_test t USING (event_id)
 WHERE b.note IS DISTINCT FROM t.note
    OR b.employee_id IS DISTINCT FROM t.employee_id
    OR decode(b.blob, 'base64') IS DISTINCT FROM t.blob
    OR b.change_seq::bigint <> t.change_seq
    OR b.updated_at::timestamptz <> t.updated_at;

-- an export whose transaction aborts leaves no file and no cursor behind
BEGIN;
UPDATE reporting.exp_test SET n = 99, change_seq = phoenix.next_change_seq() WHERE event_id = 'e2';
COMMIT;
BEGIN;
SELECT file, rows FROM phoenix.export('exp_test', :'dir', 'ndjson');
ROLLBACK;
SELECT f FROM pg_ls_dir(:'dir') AS f ORDER BY 1;
SELECT projection, format, last_change_seq, last_file, last_rows, exports
  FROM phoenix.export_cursors ORDER BY projection, format;
SELECT file, rows FROM phoenix.export('exp_test', :'dir', 'ndjson');

-- bad input: each refused, naming what is wrong
SELECT * FROM phoenix.export('exp_test', :'dir', 'parquet');
SELECT * FROM phoenix.export('exp_test', 'relative/dir', 'csv');
SELECT * FROM phoenix.export('exp_test', '/nonexistent/phoenix/dir', 'csv');
SELECT * FROM phoenix.export('no_such_projection', :'dir');
SELECT * FROM phoenix.export('../../etc/passwd', :'dir');
SELECT * FROM phoenix.export('"; DROP TABLE reporting.exp_test; --', :'dir');
CREATE TABLE reporting.no_seq (event_id text PRIMARY KEY);
SELECT * FROM phoenix.export('no_seq', :'dir');
-- a role without pg_write_server_files may not write server files
CREATE ROLE export_nobody;
GRANT phoenix_admin TO export_nobody;
SET ROLE export_nobody;
SELECT * FROM phoenix.export('exp_test', :'dir');
RESET ROLE;
SELECT count(*) AS rows_still_there FROM reporting.exp_test;

SELECT pg_temp.sh('rm -rf ' || :'dir');
DROP ROLE export_nobody;

-- schedules need pg_cron in this database (the test cluster's cron database is "postgres")
SELECT phoenix.schedule_export('exp_test', '* * * * *', '/tmp', 'csv');
SELECT phoenix.schedule_export('no_such_projection', '* * * * *', '/tmp');
SELECT phoenix.unschedule_export('exp_test');
