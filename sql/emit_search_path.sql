-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_emit_search_path;
CREATE DATABASE regress_emit_search_path;
\c regress_emit_search_path
\set ECHO all
-- phoenix.emit runs as the extension owner with name lookups pinned to
-- pg_catalog, pg_temp (it switches itself, instead of SECURITY DEFINER ...
-- SET search_path): a caller's search_path never reaches SQL run inside it.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_event_type('ping', '{"type":"object"}');
-- a function that shadows pg_catalog.now() for whoever puts its schema first
-- (returning text, so that SQL comparing a time with now() fails to parse)
CREATE SCHEMA evil;
CREATE FUNCTION evil.now() RETURNS text LANGUAGE sql AS $$SELECT 'evil'$$;
SET search_path = evil, pg_catalog;
SELECT now() AS shadowed;
-- emit's first call in a session checks due projection work with SQL that
-- compares a time with now(): parsed with the pinned path, it finds pg_catalog's
SELECT phoenix.emit('ping', '{"a": 1}') > 0 AS emitted;
SELECT phoenix.emit('ping', '{"a": 2}', event_id => 'p2', source => 'test') > 0 AS emitted;
SHOW search_path;
RESET search_path;
-- an error inside emit leaves neither the owner's rights nor the pinned path behind
CREATE TEMP TABLE t (x int);
SELECT phoenix.emit('nope', '{}');
SELECT current_user = session_user AS caller_again;
SELECT count(*) FROM t;
BEGIN;
SAVEPOINT s;
SELECT phoenix.emit('ping', '[]');
ROLLBACK TO s;
SELECT current_user = session_user AS caller_again, count(*) AS temp_rows FROM t;
COMMIT;
SELECT count(*) AS logged FROM phoenix.event_log;
-- plain function: no SECURITY DEFINER, no SET
SELECT prosecdef, proconfig FROM pg_proc
 WHERE oid = 'phoenix.emit(text, jsonb, timestamptz, text, text)'::regprocedure;
