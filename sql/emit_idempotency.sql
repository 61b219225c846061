-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_emit_idempotency;
CREATE DATABASE regress_emit_idempotency;
\c regress_emit_idempotency
\set ECHO all
-- Idempotency by event_id: the same id and an equal payload is a no-op, even
-- when the payload is written differently (numbers 1.0 / 1 / 1e0, key order,
-- spacing); another payload is an error (emit) or a dead letter (bulk), and
-- so is the same payload under another event type.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_event_type('reading', '{"type":"object","properties":{"v":{"type":"number"},"s":{"type":"string"}}}');
SELECT phoenix.create_event_type('other', '{"type":"object"}');

SELECT phoenix.emit('reading', '{"v": 1.0, "s": "a"}', event_id => 'r1') AS first \gset
-- equal payloads, other spellings: the original position
SELECT phoenix.emit('reading', '{"s":"a","v":1}', event_id => 'r1') = :first AS same_position;
SELECT phoenix.emit('reading', '{"v": 1e0, "s": "a"}', event_id => 'r1') = :first AS same_position;
SELECT phoenix.emit('reading', '{"v": 1.000, "s": "a"}', event_id => 'r1') = :first AS same_position;
-- other payloads, or another type
SELECT phoenix.emit('reading', '{"v": 1.5, "s": "a"}', event_id => 'r1');
SELECT phoenix.emit('reading', '{"v": 1, "s": "b"}', event_id => 'r1');
SELECT phoenix.emit('other', '{"v": 1.0, "s": "a"}', event_id => 'r1');

-- in one batch and across batches, CSV too
SELECT * FROM phoenix.emit_batch('[
  {"type":"reading","payload":{"v":2.50},"event_id":"b1"},
  {"type":"reading","payload":{"v":2.5},"event_id":"b1"},
  {"type":"reading","payload":{"v":2.6},"event_id":"b1"},
  {"type":"other","payload":{"v":2.5},"event_id":"b1"},
  {"type":"reading","payload":{"v":1},"event_id":"r1"},
  {"type":"reading","payload":{"v":1.0,"s":"a"},"event_id":"r1"},
  {"type":"reading","payload":{"v":3},"event_id":"b2"}
]');
SELECT * FROM phoenix.emit_batch('[
  {"type":"reading","payload":{"v":25e-1},"event_id":"b1"},
  {"type":"reading","payload":{"v":3.0},"event_id":"b2"},
  {"type":"reading","payload":{"v":3.1},"event_id":"b2"}
]');
SELECT phoenix.emit('reading', '{"id": "c1", "v": 1.0}', event_id => 'c1') > 0 AS logged;
SELECT * FROM phoenix.ingest_csv('reading', E'id,v\nc1,1.00\nc1,1\nc1,1.01\n', id_field => 'id');

SELECT event_id, event_type, payload FROM phoenix.event_log ORDER BY position;
SELECT event_id, count(*) FROM phoenix.event_ids GROUP BY event_id ORDER BY event_id;
SELECT event_type, event_id, raw, reason, sqlstate, source_position FROM phoenix.dead_letters ORDER BY dead_letter_id;
