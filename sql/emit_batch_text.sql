-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_emit_batch_text;
CREATE DATABASE regress_emit_batch_text;
\c regress_emit_batch_text
\set ECHO all
-- emit_batch(text): a batch sent as JSON text is parsed element by element;
-- it must do exactly what the jsonb form does with the same batch.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_event_type('reading', '{"type":"object","required":["v"],"properties":{"v":{"type":"number"},"s":{"type":"string"}}}');
-- a literal goes to the text form, a jsonb value to the jsonb form
SELECT p.oid::regprocedure FROM pg_proc p WHERE p.proname = 'emit_batch' AND p.pronamespace = 'phoenix'::regnamespace ORDER BY 1;

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

-- The fast reader (jsonfast.c) and the elements it leaves to the server's
-- parser: escapes, \u escapes, odd spacing, number forms, deep nesting,
-- unknown and duplicate members, odd envelope types, payloads as text.
-- Each must give what the jsonb form gives.
CREATE TABLE batch2 (b text);
INSERT INTO batch2 VALUES (E'[\n\t' || $${ "type" : "reading" , "payload" : { "v" : -0 , "s" : "tab\tnl\nq\"bs\\sl\/b\bf\fr\r" } , "event_id" : "x1" }$$ || E'\r\n,' || $$
{"type":"reading","payload":{"v":1e5,"s":"caf\u00e9"},"event_id":"x2"},
{"type":"reading","payload":{"v":1E+2,"w":0.5e-3,"x":-12.250,"y":[true,false,null,[],{}]},"event_id":"x3"},
{"type":"reading","payload":{"v":1,"deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},"event_id":"x4"},
{"meta":{"a":[1,{"b":"c"}],"n":null},"type":"reading","payload":{"v":5},"extra":"\u0041","event_id":"x5"},
{"type":"reading","payload":{"v":6},"payload":{"v":7},"event_id":"x6"},
{"type":7,"event_type":"reading","payload":{"v":8},"event_id":"x7"},
{"type":"reading","payload":{"v":9},"source":["s"],"event_id":"x8"},
{"type":"reading","payload":{"v":10},"effective_at":null,"event_id":"x9"},
{"type":"reading","payload":{"v":11},"effective_at":"yesterday","event_id":"x10"},
{"type":"reading","payload":"{\"v\": 12, \"s\": \"t\\u00e9xt\"}","event_id":"x11"},
{"type":"reading","payload":true,"event_id":"x12"},
{"type":"read\u0069ng","payload":{"v":13},"event_id":"x13"},
{"type":"reading","payload":{"v":14,"v":15,"a":{"k":1,"k":2}},"event_id":"x14"},
{"type":"reading","payload":{"v":16},"event_id":"x1\n5"},
{"type":"reading","payload":{"v":17},"source":"s\"q","effective_at":"2026-11-23T09:00:00.123456Z"},
{"type":"reading","payload":{"v":18,"s":"\u00e9\ud83d\ude00"},"event_id":"x17"},
{"type":"reading","payload":{"v":19},"event_id":"x18","source":"x","source":"y"}
  ]  $$);
TRUNCATE phoenix.event_log, phoenix.event_ids, phoenix.dead_letters;
BEGIN;
SELECT * FROM phoenix.emit_batch((SELECT b FROM batch2));
CREATE TABLE via_text2 AS
  SELECT event_id, event_type, payload, effective_at, source, source_position FROM phoenix.event_log;
CREATE TABLE dl_text2 AS
  SELECT event_type, event_id, raw, regexp_replace(reason, 'position \d+', 'position N') AS reason,
         sqlstate, source, source_position, effective_at FROM phoenix.dead_letters;
TRUNCATE phoenix.event_log, phoenix.event_ids, phoenix.dead_letters;
SELECT * FROM phoenix.emit_batch((SELECT b::jsonb FROM batch2));
SELECT count(*) AS differences FROM (
  (SELECT CASE WHEN event_id LIKE '%-%-%' THEN 'generated' ELSE event_id END, event_type, payload::text, effective_at, source, source_position FROM via_text2
   EXCEPT ALL
   SELECT CASE WHEN event_id LIKE '%-%-%' THEN 'generated' ELSE event_id END, event_type, payload::text, effective_at, source, source_position FROM phoenix.event_log)
  UNION ALL
  (SELECT CASE WHEN event_id LIKE '%-%-%' THEN 'generated' ELSE event_id END, event_type, payload::text, effective_at, source, source_position FROM phoenix.event_log
   EXCEPT ALL
   SELECT CASE WHEN event_id LIKE '%-%-%' THEN 'generated' ELSE event_id END, event_type, payload::text, effective_at, source, source_position FROM via_text2)) d;
SELECT count(*) AS differences FROM (
  (SELECT * FROM dl_text2 EXCEPT ALL
   SELECT event_type, event_id, raw, regexp_replace(reason, 'position \d+', 'position N'), sqlstate, source, source_position, effective_at FROM phoenix.dead_letters)
  UNION ALL
  (SELECT event_type, event_id, raw, regexp_replace(reason, 'position \d+', 'position N'), sqlstate, source, source_position, effective_at FROM phoenix.dead_letters
   EXCEPT ALL SELECT * FROM dl_text2)) d;
COMMIT;
SELECT CASE WHEN event_id LIKE '%-%-%' THEN 'generated' ELSE event_id END AS event_id, payload,
       CASE WHEN effective_at < '2026-11-24' THEN effective_at END AS given_effective_at, source, source_position
  FROM via_text2 ORDER BY length(source_position), source_position;
SELECT source_position, raw, reason FROM dl_text2 ORDER BY length(source_position), source_position;
-- the payload bytes too: the idempotency hash is of them
SELECT count(*) AS same_bytes FROM via_text2 t JOIN phoenix.event_log l USING (event_id)
 WHERE t.payload::text = l.payload::text AND jsonb_send(t.payload) = jsonb_send(l.payload);

-- malformed JSON after well-formed elements, and between them
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":1}}, {"type":"reading","payload":{"v":1}');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":1}} {"type":"reading","payload":{"v":2}}]');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":1}},]');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":01}}]');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":1}}] x');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":"a
b"}}]');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":tru}}]');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":1,}}]');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":[1}}]');
-- with detail and context: the whole text's error, as the jsonb input gives it
\set VERBOSITY default
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":1}},
 {"type":"reading","payload":{"v":2}} {"type":"reading","payload":{"v":3}}]');
SELECT '[{"type":"reading","payload":{"v":1}},
 {"type":"reading","payload":{"v":2}} {"type":"reading","payload":{"v":3}}]'::jsonb;
\set VERBOSITY terse

-- Elements that are JSON but cannot be jsonb (a \u0000 escape, a lone
-- surrogate, a number beyond numeric's range, nesting deeper than 512) are
-- dead-lettered with their index and SQLSTATE; their neighbours land (the
-- jsonb form cannot even receive them: its input raises for the whole text).
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":1}}, {"type":"reading","payload":{"v":"\u0000"}},
  {"type":"reading","payload":{"v":2,"s":"\ud800"}}, {"type":"reading","payload":{"v":1e999999}},
  {"type":"reading","payload":{"v":3,"deep":' || repeat('[', 600) || repeat(']', 600) || '}},
  {"type":"reading","payload":{"v":4}}]', source => 'bad-elements');
SELECT '[{"type":"reading","payload":{"v":1}}, {"type":"reading","payload":{"v":"\u0000"}}]'::jsonb;
SELECT source_position, sqlstate, reason, replayable, length(raw) FROM phoenix.dead_letters
 WHERE source = 'bad-elements' ORDER BY dead_letter_id;
SELECT payload FROM phoenix.event_log WHERE source = 'bad-elements' ORDER BY position;
SELECT count(*) FROM phoenix.event_log;
