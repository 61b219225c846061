-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_emit_basic;
CREATE DATABASE regress_emit_basic;
\c regress_emit_basic
\set ECHO all
-- emit / emit_batch / dead letters / replay, and every bad-input case of emit.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","email":"text","department":"text","level":"integer"}');
SELECT phoenix.create_event_type('employee.transferred',
       schema => '{"type":"object","required":["employeeId","department"],
                   "properties":{"employeeId":{"type":"string"},"department":{"type":"string"},
                                 "level":{"type":"integer"},
                                 "effectiveAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       entity => 'employee', key_field => 'employeeId',
       sets => '{"department":"department","level":"level"}', time_field => 'effectiveAt');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","detectedAt"],
                   "properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee"}');

-- positions are global and increasing; effective time from the time field
SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","detectedAt":"2026-11-23T09:00:00Z"}', event_id => 'p1') AS p1 \gset
SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","detectedAt":"2026-11-24T09:00:00Z"}', event_id => 'p2') > :p1 AS increasing;
-- effective_at argument wins over the time field; no time at all: now()
SELECT phoenix.emit('presence.detected', '{"employeeId":"E2","detectedAt":"2026-11-24T09:00:00Z"}',
                    effective_at => '2026-01-01 00:00+00', event_id => 'p3', source => 'badge-reader') > 0 AS ok;
-- idempotent repeat: same id and payload → the original position, nothing logged
SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","detectedAt":"2026-11-23T09:00:00Z"}', event_id => 'p1') = :p1 AS same_position;
SELECT event_id, event_type, schema_version, payload, effective_at, source, source_position
  FROM phoenix.event_log ORDER BY position;
-- same id, another payload: an error
SELECT phoenix.emit('presence.detected', '{"employeeId":"E9","detectedAt":"2026-11-23T09:00:00Z"}', event_id => 'p1');
-- events without an id get a generated one
SELECT phoenix.emit('presence.detected', '{"employeeId":"E3","detectedAt":"2026-11-25T09:00:00Z"}') > 0 AS ok;
SELECT event_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS uuid
  FROM phoenix.event_log WHERE payload->>'employeeId' = 'E3';
-- the log is partitioned by received month
SELECT count(*) >= 2 AS partitions FROM pg_inherits WHERE inhparent = 'phoenix.event_log'::regclass;

-- entity events become open assertions on the timeline
SELECT phoenix.emit('employee.transferred', '{"employeeId":"E1","department":"Finance","level":3,"effectiveAt":"2026-11-01T00:00:00Z"}');
SELECT phoenix.emit('employee.transferred', '{"employeeId":"E1","department":"Accounting","effectiveAt":"2026-11-25T00:00:00Z"}');
-- a late one changes only up to the next assertion
SELECT phoenix.emit('employee.transferred', '{"employeeId":"E1","department":"Audit","effectiveAt":"2026-11-10T00:00:00Z"}');
SELECT valid_from, valid_to, attributes FROM phoenix.history('employee', 'E1') ORDER BY valid_from;

-- emit raises on every kind of bad input, naming type and field
SELECT phoenix.emit('no.such.type', '{}');
SELECT phoenix.emit('presence.detected', '{"employeeId":42,"detectedAt":"2026-11-23T09:00:00Z"}');
SELECT phoenix.emit('presence.detected', '{"detectedAt":"2026-11-23T09:00:00Z"}');
SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","detectedAt":"2026-11-23T09:00:00Z","extra":1}');
SELECT phoenix.emit('presence.detected', '[1,2]');
SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","detectedAt":"yesterday"}');
SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","detectedAt":"2026-13-45T09:00:00Z"}');
SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","detectedAt":"2026-11-23T09:00:00Z"}', effective_at => 'infinity');
SELECT phoenix.emit('employee.transferred', '{"department":"X"}');
SELECT phoenix.emit('presence.detected', NULL);
SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","detectedAt":"2026-11-23T09:00:00Z"}', event_id => '');
-- malformed JSON: the jsonb input error (a literal payload is read by emit itself)
SELECT phoenix.emit('presence.detected', '{"employeeId":');
-- a 10 MB payload is over phoenix.max_payload_bytes
SELECT phoenix.emit('presence.detected', jsonb_build_object('employeeId', repeat('x', 10 * 1024 * 1024), 'detectedAt', '2026-11-23T09:00:00Z'));
SET phoenix.max_payload_bytes = '16MB';
SELECT phoenix.emit('presence.detected', jsonb_build_object('employeeId', repeat('x', 10 * 1024 * 1024), 'detectedAt', '2026-11-23T09:00:00Z')) > 0 AS big_ok;
RESET phoenix.max_payload_bytes;
-- nothing was dead-lettered by emit
SELECT count(*) FROM phoenix.dead_letters;

-- emit_batch keeps going: good ones logged, bad ones dead-lettered with their index
SELECT * FROM phoenix.emit_batch($$[
  {"type":"presence.detected","payload":{"employeeId":"E5","detectedAt":"2026-11-23T09:00:00Z"},"event_id":"b1"},
  {"type":"presence.detected","payload":{"employeeId":5,"detectedAt":"2026-11-23T09:00:00Z"},"event_id":"b2"},
  {"type":"presence.detected","payload":"{\"employeeId\": \"E6\", \"detectedAt\": ","event_id":"b3"},
  {"type":"presence.detected","payload":{"detectedAt":"2026-11-23T09:00:00Z"}},
  {"type":"presence.detected","payload":{"employeeId":"E7","detectedAt":"2026-11-23T09:00:00Z","x":1}},
  {"type":"nope","payload":{}},
  {"payload":{}},
  "not an object",
  {"type":"presence.detected","payload":{"employeeId":"E8","detectedAt":"Monday"}},
  {"type":"presence.detected","payload":{"employeeId":"E8","detectedAt":"2026-11-23T09:00:00Z"},"effective_at":"soon"},
  {"type":"presence.detected","payload":{"employeeId":"E9","detectedAt":"2026-11-23T09:00:00Z"},"event_id":"p1"},
  {"type":"presence.detected","payload":{"employeeId":"E1","detectedAt":"2026-11-23T09:00:00Z"},"event_id":"p1"},
  {"type":"presence.detected","payload":{"employeeId":"E5","detectedAt":"2026-11-23T09:00:00Z"},"event_id":"b1"},
  {"type":"presence.detected","payload":"{\"employeeId\": \"E10\", \"detectedAt\": \"2026-11-23T10:00:00Z\"}","event_id":"b4"},
  {"type":"employee.transferred","payload":{"employeeId":"E2","department":"Sales","level":1.5}}
]$$);
SELECT event_type, event_id, left(raw, 60) AS raw, reason, sqlstate, source, source_position
  FROM phoenix.dead_letters ORDER BY dead_letter_id;
SELECT payload->>'employeeId' AS employee, source, source_position
  FROM phoenix.event_log WHERE source = 'emit_batch' ORDER BY position;

-- 100,000 levels of nesting and a 10 MB payload, as JSON text in a batch: dead letters, no crash
SELECT * FROM phoenix.emit_batch(jsonb_build_array(
  jsonb_build_object('type', 'presence.detected', 'payload', repeat('[', 100000) || repeat(']', 100000)),
  jsonb_build_object('type', 'presence.detected', 'payload', repeat('{"a":', 100000)),
  jsonb_build_object('type', 'presence.detected',
                     'payload', '{"employeeId":"' || repeat('x', 10 * 1024 * 1024) || '","detectedAt":"2026-11-23T09:00:00Z"}'),
  jsonb_build_object('type', 'presence.detected', 'payload', '{"employeeId":"E1","detectedAt":"2026-11-23T09:00:00Z","n":1e999999}'),
  jsonb_build_object('type', 'presence.detected', 'payload', '{"employeeId":"E1\u0000","detectedAt":"2026-11-23T09:00:00Z"}')));
SELECT source_position, length(raw), reason FROM phoenix.dead_letters
 WHERE dead_letter_id > (SELECT max(dead_letter_id) - 5 FROM phoenix.dead_letters) ORDER BY dead_letter_id;
-- as jsonb, such nesting is refused by jsonb's own input (stack depth checked)
SELECT phoenix.emit('presence.detected', repeat('[', 100000)::jsonb);

-- fix the schema (allow "x"), then replay: E7 goes through, the rest stay
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","detectedAt"],
                   "properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"},"x":{"type":"integer"}},
                   "additionalProperties":false}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee"}');
SELECT * FROM phoenix.replay_dead_letters('presence.detected');
SELECT source_position, attempts, replayed_at IS NOT NULL AS replayed, replayed_position IS NOT NULL AS has_position
  FROM phoenix.dead_letters WHERE event_type = 'presence.detected' ORDER BY dead_letter_id;
SELECT payload->>'employeeId' AS employee, schema_version, source_position FROM phoenix.event_log
 WHERE payload ? 'x' ORDER BY position;
-- replaying again finds nothing new to accept
SELECT * FROM phoenix.replay_dead_letters('presence.detected');
