-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_rows_in_c;
CREATE DATABASE regress_projection_rows_in_c;
\c regress_projection_rows_in_c
\set ECHO all
-- The rows of arriving events are computed in C (arrival.c) for small
-- batches; the SQL row computation defines them.  The same payloads are
-- emitted with phoenix.rows_in_c on and off, one by one and in a batch, and
-- the two sets of rows must be equal.  The payloads cover what the C path
-- converts itself: nested paths, numbers, booleans, a type given for a
-- string field, JSON null, missing fields, a number-typed key looked up as
-- text, by-matches (one entity, two at once, none), a key chained from a
-- by-match, `current` attributes and a derived column; in a batch, a key
-- met again at a time outside the version found for it before.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('badge', 'badge_id', '{"holder":"text","level":"integer"}');
SELECT phoenix.create_entity('person', 'person_id', '{"email":"text","name":"text","team":"text"}');
SELECT phoenix.create_entity('team', 'team_id', '{"label":"text"}');
SELECT phoenix.put('team', 'T1', '{"label":"Blue"}', '2025-01-01');
SELECT phoenix.put('team', 'T2', '{"label":"Red"}', '2025-01-01');
-- P10 and P2 hold the same email at once: the smallest key ('P10') wins
SELECT phoenix.put('person', 'P2', '{"email":"a@x","name":"Two","team":"T2"}', '2025-01-01');
SELECT phoenix.put('person', 'P10', '{"email":"a@x","name":"Ten","team":"T1"}', '2025-01-01');
SELECT phoenix.put('person', 'P3', '{"email":"b@x","name":"Three","team":"T1"}', '2025-01-01', '2025-03-01');
SELECT phoenix.put('person', 'P3', '{"team":"T2"}', '2025-02-01');
SELECT phoenix.put('badge', '7', '{"holder":"b@x","level":3}', '2025-01-01');
SELECT phoenix.put('badge', '7', '{"level":4}', '2025-02-15');
SELECT phoenix.put('badge', '8', '{"holder":"a@x","level":1}', '2025-01-01');
SELECT phoenix.put('badge', '8', '{"holder":"b@x"}', '2025-06-01');
SELECT phoenix.create_event_type('scan.made',
  schema => '{"type":"object","properties":{"n":{"type":"integer"},"run":{"type":"string"},
              "badge":{"type":"integer"},"who":{"type":["string","null"]},"code":{"type":"string"},
              "reader":{"type":"object","properties":{"id":{"type":"string"},"score":{"type":"number"},
                        "ok":{"type":"boolean"},"since":{"type":"string","format":"date-time"}}},
              "at":{"type":"string","format":"date-time"}}}',
  time_field => 'at');
SELECT phoenix.create_projection('scans', source => 'scan.made',
  columns => '{"n":"n","run":"run","badge":"badge","who":"who","code":{"path":"code","type":"integer"},
               "reader_id":"reader.id","score":"$.reader.score","ok":"reader.ok","since":"reader.since"}',
  enrich => '[{"entity":"badge","key":"badge","attributes":{"holder":"event_time","level":"current"}},
              {"entity":"person","key":"badge_holder","by":"email","as":"holder","attributes":{"name":"event_time","team":"event_time"}},
              {"entity":"team","key":"holder_team","attributes":{"label":"event_time"}},
              {"entity":"person","key":"who","by":"email","as":"visitor","attributes":{"name":"current"}},
              {"entity":"badge","key":"code","by":"level","as":"lvl","attributes":["holder"]}]',
  derive => '{"label":"coalesce(holder_name, ''?'') || ''/'' || badge || ''/'' || coalesce(team_label, ''-'')"}');
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'reporting.scans'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;

CREATE TEMP TABLE payloads (n int, p jsonb);
INSERT INTO payloads VALUES
 (1, '{"badge":7,"who":"a@x","code":"4","reader":{"id":"R1","score":1.50,"ok":true,"since":"2024-12-31T23:00:00Z"},"at":"2025-01-15T10:00:00Z"}'),
 (2, '{"badge":7,"who":"b@x","reader":{"id":"R2","score":-3,"ok":false},"at":"2025-02-10T10:00:00Z"}'),
 (3, '{"badge":7,"who":null,"code":"0","at":"2025-03-10T10:00:00Z"}'),
 (4, '{"badge":8,"who":"nobody@x","code":"1","reader":{},"at":"2025-01-20T00:00:00Z"}'),
 (5, '{"badge":9,"at":"2025-01-20T00:00:00Z"}'),
 (6, '{"who":"a@x","at":"2024-06-01T00:00:00Z"}'),
 (7, '{"badge":8,"reader":{"score":12345678901234567890.125},"at":"2030-01-01T00:00:00Z"}'),
 -- a batch remembers the version of a key it found last (arrival.c's memo):
 -- badges 7 and 8 again, before the versions the batch found for them last
 (8, '{"badge":7,"who":"b@x","code":"3","at":"2025-01-16T00:00:00Z"}'),
 (9, '{"badge":8,"at":"2025-01-21T00:00:00Z"}');

SET phoenix.rows_in_c = on;
SELECT count(phoenix.emit('scan.made', p || jsonb_build_object('n', n, 'run', 'c-one'))) FROM payloads;
SELECT accepted FROM phoenix.emit_batch((SELECT jsonb_agg(jsonb_build_object('type', 'scan.made',
  'payload', p || jsonb_build_object('n', n, 'run', 'c-batch')) ORDER BY n) FROM payloads));
SET phoenix.rows_in_c = off;
SELECT count(phoenix.emit('scan.made', p || jsonb_build_object('n', n, 'run', 'sql-one'))) FROM payloads;
SELECT accepted FROM phoenix.emit_batch((SELECT jsonb_agg(jsonb_build_object('type', 'scan.made',
  'payload', p || jsonb_build_object('n', n, 'run', 'sql-batch')) ORDER BY n) FROM payloads));
RESET phoenix.rows_in_c;

-- which path computed the rows (DEBUG1 says when it is C)
SET client_min_messages = debug1;
SELECT 1 FROM phoenix.emit('scan.made', '{"badge":7,"run":"probe","at":"2025-01-15T10:00:00Z"}');
SET phoenix.rows_in_c = off;
SELECT 1 FROM phoenix.emit('scan.made', '{"badge":7,"run":"probe","at":"2025-01-15T10:00:00Z"}');
RESET client_min_messages;
RESET phoenix.rows_in_c;
DELETE FROM reporting.scans WHERE run = 'probe';

-- every column but the ids and times of writing, per run
CREATE TEMP VIEW cmp AS
SELECT run, to_jsonb(s) - '{event_id,run,received_at,updated_at,change_seq}'::text[] AS r
  FROM reporting.scans s;
SELECT a.run, b.run AS other, count(*) AS rows_missing_in_other
  FROM (SELECT DISTINCT run FROM cmp) a CROSS JOIN (SELECT DISTINCT run FROM cmp) b
  LEFT JOIN LATERAL (SELECT r FROM cmp WHERE run = a.run EXCEPT ALL SELECT r FROM cmp WHERE run = b.run) d ON true
 WHERE d.r IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2;
SELECT run, count(*) FROM reporting.scans GROUP BY run ORDER BY run;
SELECT n, badge, who, code, reader_id, score, ok, since, badge_holder, badge_level, holder_person_id,
       holder_name, holder_team, team_label, visitor_person_id, visitor_name, lvl_badge_id, lvl_holder, label
  FROM reporting.scans WHERE run = 'c-one' ORDER BY n;

-- a rebuild computes the same rows, in C (entities' versions in memory) or SQL
CREATE TEMP TABLE emitted AS SELECT * FROM cmp;
-- (the probes' rows, deleted above, come back)
CREATE TEMP VIEW rebuilt AS SELECT * FROM cmp WHERE run <> 'probe';
SET phoenix.rows_in_c = on;
SELECT phoenix.rebuild_projection('scans');
SELECT count(*) AS differences FROM ((SELECT * FROM rebuilt EXCEPT ALL SELECT * FROM emitted)
                                    UNION ALL (SELECT * FROM emitted EXCEPT ALL SELECT * FROM rebuilt)) d;
SET phoenix.rows_in_c = off;
SELECT phoenix.rebuild_projection('scans');
SELECT count(*) AS differences FROM ((SELECT * FROM rebuilt EXCEPT ALL SELECT * FROM emitted)
                                    UNION ALL (SELECT * FROM emitted EXCEPT ALL SELECT * FROM rebuilt)) d;
RESET phoenix.rows_in_c;

-- In REPEATABLE READ, the rows see the transaction's own earlier changes
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT phoenix.put('team', 'T1', '{"label":"Green"}', '2025-01-01');
SELECT 1 FROM phoenix.emit('scan.made', '{"badge":8,"run":"rr","at":"2025-01-20T00:00:00Z"}');
SELECT count(phoenix.emit('scan.made', p || jsonb_build_object('n', n, 'run', 'rr-batch')))
  FROM payloads WHERE n IN (1, 4);
SELECT run, n, holder_team, team_label FROM reporting.scans WHERE run LIKE 'rr%' ORDER BY run, n;
COMMIT;
