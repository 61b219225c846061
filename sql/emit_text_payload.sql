-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_emit_text_payload;
CREATE DATABASE regress_emit_text_payload;
\c regress_emit_text_payload
\set ECHO all
-- phoenix.emit with the payload as JSON text (what a literal resolves to):
-- read by the fast reader, else by jsonb_in; the same events, repeats and
-- errors as the jsonb form.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_event_type('reading', '{"type":"object","properties":{"v":{"type":"number"}}}');
SELECT p.oid::regprocedure FROM pg_proc p WHERE p.proname = 'emit' AND p.pronamespace = 'phoenix'::regnamespace ORDER BY 1;
CREATE TABLE texts (n int, t text);
INSERT INTO texts VALUES
  (1, '{"v": 1, "s": "plain"}'),
  (2, E'\n {"v":-0.50e+2 , "s":"tab\\tq\\"bs\\\\sl\\/" ,"a":[true,false,null,[],{}]}\t'),
  (3, '{"v": 3, "s": "caf\u00e9 \ud83d\ude00"}'),
  (4, '{"v": 4, "v": 5, "k": {"z": 1, "a": 2}}'),
  (5, '{"v": 12345678901234567890.123456789, "e": 1e999}'),
  (6, '{"deep": ' || repeat('[', 70) || '1' || repeat(']', 70) || '}');
-- each as text and as jsonb: the same payload bytes and effective times
SELECT n, phoenix.emit('reading', t, event_id => 't' || n) > 0 AS text_form,
          phoenix.emit('reading', t::jsonb, event_id => 'j' || n) > 0 AS jsonb_form
  FROM texts ORDER BY n;
SELECT t.n, jsonb_send(a.payload) = jsonb_send(b.payload) AS same_bytes, a.payload = t.t::jsonb AS same_value
  FROM texts t JOIN phoenix.event_log a ON a.event_id = 't' || t.n JOIN phoenix.event_log b ON b.event_id = 'j' || t.n
 ORDER BY t.n;
-- numbers without an exponent, up to 18 digits, are built from an int64
-- (jsonfast_plain_decimal): every field of the numeric (digits, weight,
-- sign, display scale) is what numeric_in makes of the text
CREATE TABLE numbers (t text);
INSERT INTO numbers VALUES ('0'), ('-0'), ('-0.00'), ('7'), ('-12'), ('0.930'), ('10.10'), ('100'),
  ('10000'), ('0.0001'), ('0.000000000000000001'), ('-0.000000000000000001'), ('99999.9999'),
  ('999999999999999999'), ('-123456789012345678'), ('1234567890.12345678'),
  ('1234567890123456789'), ('12345678901234567.5');
SELECT count(*) FROM numbers, LATERAL phoenix.emit('reading', '{"v":' || t || '}', event_id => 'n' || t);
SELECT n.t, l.payload->'v' AS logged
  FROM numbers n JOIN phoenix.event_log l ON l.event_id = 'n' || n.t
 WHERE numeric_send((l.payload->'v')::numeric) <> numeric_send(n.t::numeric)
    OR (l.payload->'v')::text <> n.t::numeric::text;
-- a literal goes to the text form; a repeat by either form is the same event
SELECT phoenix.emit('reading', '{"s":"plain","v":1.0}', event_id => 'j1') = position AS repeat_same_position
  FROM phoenix.event_log WHERE event_id = 'j1';
SELECT phoenix.emit('reading', '{"v": 2}'::jsonb, event_id => 't1');
-- errors: as the jsonb input would raise them
SELECT phoenix.emit('reading', '{"v": 1,}');
SELECT phoenix.emit('reading', '{"v": "\u0000"}');
SELECT phoenix.emit('reading', '{"v": 1e999999}');
SELECT phoenix.emit('reading', '[1, 2]');
SELECT phoenix.emit('reading', '17');
SELECT phoenix.emit('reading', NULL);
SELECT phoenix.emit('reading', '{"v": "x"}');
SELECT count(*) FROM phoenix.event_log;
