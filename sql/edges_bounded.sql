-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_edges_bounded;
CREATE DATABASE regress_edges_bounded;
\c regress_edges_bounded
\set ECHO all
-- Bounded work on hostile input: a CSV header is at most 1,600 columns and
-- its duplicates are found without comparing every pair; a JSON Schema
-- "pattern" has a cost budget (back-references and oversized patterns are
-- refused at registration; a string whose check would exceed the budget fails
-- the keyword, so its event is dead-lettered and the batch moves on).
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_event_type('row.read', '{"type":"object"}');

-- a million-column header is refused at once (it used to run for minutes,
-- deaf to statement_timeout and cancel)
SET statement_timeout = '60s';
SELECT * FROM phoenix.ingest_csv('row.read',
  (SELECT string_agg('c' || i, ',') FROM generate_series(1, 1000000) i) || E'\n1\n');
SELECT * FROM phoenix.ingest_csv('row.read',
  (SELECT string_agg('c' || i, ',') FROM generate_series(1, 1601) i) || E'\n1\n');
RESET statement_timeout;
-- 1,600 columns are fine; a name given twice is found wherever it is
SELECT * FROM phoenix.ingest_csv('row.read',
  (SELECT string_agg('c' || i, ',') FROM generate_series(1, 1600) i) || E'\n' ||
  (SELECT string_agg(i::text, ',') FROM generate_series(1, 1600) i) || E'\n', source => 'wide');
SELECT payload->>'c1' AS c1, payload->>'c1600' AS c1600 FROM phoenix.event_log WHERE source = 'wide';
SELECT * FROM phoenix.ingest_csv('row.read',
  (SELECT string_agg('c' || i, ',') FROM generate_series(1, 1500) i) || ',c7' || E'\n1\n');

-- patterns: back-references and patterns too large are refused when registered
SELECT phoenix.create_event_type('code.read', '{"type":"object","properties":{"tag":{"type":"string","pattern":"^(a+)\\1$"}}}');
\set VERBOSITY default
SELECT phoenix.create_event_type('code.read', jsonb_build_object('type', 'object', 'properties',
  jsonb_build_object('tag', jsonb_build_object('type', 'string', 'pattern', '^' || repeat('[a-z0-9_]{1,255}', 40) || '$'))));
\set VERBOSITY terse
-- a lookahead may rescan the string from every character: a long string is
-- over the budget, a short one is checked
SELECT phoenix.create_event_type('code.read',
  '{"type":"object","required":["tag"],"properties":{"tag":{"type":"string","pattern":"^(?=.*[0-9])[a-z0-9]+$"}}}');
SELECT * FROM phoenix.schema_errors('{"type":"string","pattern":"^(?=.*[0-9])[a-z0-9]+$"}', to_jsonb(repeat('a', 30000) || '1'));
SELECT * FROM phoenix.schema_errors('{"type":"string","pattern":"^(?=.*[0-9])[a-z0-9]+$"}', to_jsonb(repeat('a', 300) || '1'));
SELECT * FROM phoenix.emit_batch(jsonb_build_array(
  jsonb_build_object('type', 'code.read', 'payload', jsonb_build_object('tag', 'abc1')),
  jsonb_build_object('type', 'code.read', 'payload', jsonb_build_object('tag', repeat('a', 30000) || '1')),
  jsonb_build_object('type', 'code.read', 'payload', jsonb_build_object('tag', 'xyz2'))), source => 'tags');
SELECT source_position, sqlstate, left(reason, 150) AS reason FROM phoenix.dead_letters WHERE source = 'tags';
SELECT payload->>'tag' AS tag FROM phoenix.event_log WHERE source = 'tags' ORDER BY position;
