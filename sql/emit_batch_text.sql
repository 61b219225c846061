-- emit_batch(text): a batch sent as JSON text is parsed element by element;
-- it must do exactly what the jsonb form does with the same batch.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_event_type('reading', '{"type":"object","required":["v"],"properties":{"v":{"type":"number"},"s":{"type":"string"}}}');
-- a literal goes to the text form, a jsonb value to the jsonb form
SELECT p.oid::regprocedure FROM pg_proc p WHERE p.proname = 'emit_batch' ORDER BY 1;

CREATE TABLE batch (b text);
INSERT INTO batch VALUES ($$[
  {"type":"reading","payload":{"v":1,"s":"a","nested":{"x":[1,{"y":null}],"t":true}},"event_id":"e1"},
  {"type":"reading","payload":{"v":2,"v":3},"event_id":"e2","type":"reading"},
  {"event_type":"reading","payload":"{\"v\": 4}","event_id":5.50},
  {"type":"reading","payload":{"s":"no v"}},
  {"type":"reading","payload":[1,2]},
  {"type":"reading"},
  {"type":"reading","payload":{"v":6},"effective_at":"2026-11-23T10:00:00+01:00"},
  {"type":"reading","payload":{"v":7},"effective_at":{"when":"soon"}},
  {"type":"reading","payload":{"v":8},"source":"elsewhere","type":"nope"},
  17, "text", null, [1,[2]], {},
  {"type":"reading","payload":{"v":9,"s":"\u00e9\n\"q\""},"event_id":"e1"},
  {"type":"reading","payload":{"v":1.0,"nested":{"t":true,"x":[1,{"y":null}]},"s":"a"},"event_id":"e1"}
]$$);

-- both forms in one transaction (the same now(): events without a time get it)
BEGIN;
-- the text form
SELECT * FROM phoenix.emit_batch((SELECT b FROM batch));
CREATE TABLE via_text AS
  SELECT event_id, event_type, payload, effective_at, source, source_position FROM phoenix.event_log;
CREATE TABLE dl_text AS
  SELECT event_type, event_id, raw, regexp_replace(reason, 'position \d+', 'position N') AS reason,
         sqlstate, source, source_position, effective_at FROM phoenix.dead_letters;
TRUNCATE phoenix.event_log, phoenix.event_ids, phoenix.dead_letters;
-- the jsonb form
SELECT * FROM phoenix.emit_batch((SELECT b::jsonb FROM batch));
-- the same events and the same dead letters (generated ids aside)
SELECT count(*) AS differences FROM (
  (SELECT CASE WHEN event_id LIKE '%-%-%' THEN 'generated' ELSE event_id END, event_type, payload, effective_at, source, source_position FROM via_text
   EXCEPT ALL
   SELECT CASE WHEN event_id LIKE '%-%-%' THEN 'generated' ELSE event_id END, event_type, payload, effective_at, source, source_position FROM phoenix.event_log)
  UNION ALL
  (SELECT CASE WHEN event_id LIKE '%-%-%' THEN 'generated' ELSE event_id END, event_type, payload, effective_at, source, source_position FROM phoenix.event_log
   EXCEPT ALL
   SELECT CASE WHEN event_id LIKE '%-%-%' THEN 'generated' ELSE event_id END, event_type, payload, effective_at, source, source_position FROM via_text)) d;
SELECT count(*) AS differences FROM (
  (SELECT * FROM dl_text EXCEPT ALL
   SELECT event_type, event_id, raw, regexp_replace(reason, 'position \d+', 'position N'), sqlstate, source, source_position, effective_at FROM phoenix.dead_letters)
  UNION ALL
  (SELECT event_type, event_id, raw, regexp_replace(reason, 'position \d+', 'position N'), sqlstate, source, source_position, effective_at FROM phoenix.dead_letters
   EXCEPT ALL SELECT * FROM dl_text)) d;
COMMIT;
SELECT CASE WHEN event_id LIKE '%-%-%' THEN 'generated' ELSE event_id END AS event_id, payload, source_position
  FROM via_text ORDER BY length(source_position), source_position;
SELECT source_position, raw, reason FROM dl_text ORDER BY length(source_position), source_position;

-- whole-input errors, as the jsonb form's input raises them
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":1}},');
SELECT * FROM phoenix.emit_batch('{"type":"reading","payload":{"v":1}}');
SELECT * FROM phoenix.emit_batch('"x"');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":1e999999}}]');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":1,"s":"\u0000"}}]');
SELECT * FROM phoenix.emit_batch(NULL::text);
SELECT * FROM phoenix.emit_batch('[]');

-- more elements than a chunk: every one counted, positions in input order
TRUNCATE phoenix.event_log, phoenix.event_ids, phoenix.dead_letters;
SELECT * FROM phoenix.emit_batch((SELECT json_agg(json_build_object('type', 'reading', 'event_id', 'n' || i,
    'payload', CASE WHEN i % 1000 = 0 THEN json_build_object('s', 'no v') ELSE json_build_object('v', i) END) ORDER BY i)::text
  FROM generate_series(1, 2500) i));
SELECT count(*), bool_and(ok) AS in_order FROM (
  SELECT (payload->>'v')::int > lag((payload->>'v')::int, 1, 0) OVER (ORDER BY position) AS ok FROM phoenix.event_log) s;
SELECT source_position FROM phoenix.dead_letters ORDER BY dead_letter_id;
