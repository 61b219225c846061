-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_edges_isolation;
CREATE DATABASE regress_edges_isolation;
\c regress_edges_isolation
\set ECHO all
-- Per-element isolation ("Guarantees at the edges"): an event whose own
-- writes fail -- a key too large for an index, a value a projection's column
-- cannot hold after a compatibility => 'none' change -- is dead-lettered with
-- its reason and SQLSTATE in emit_batch (both forms), ingest_csv and
-- replay_dead_letters; its neighbours land.  A single emit raises instead,
-- and its hints never mention dead letters (it writes none).
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('employee', key => 'employee_id', attributes => '{"department":"text"}');
SELECT phoenix.create_event_type('employee.moved',
  schema => '{"type":"object","required":["employeeId","department"],
              "properties":{"employeeId":{"type":"string"},"department":{"type":"string"}}}',
  entity => 'employee', key_field => 'employeeId', sets => '{"department":"department"}');
SELECT phoenix.create_event_type('swipe',
  schema => '{"type":"object","required":["employeeId","n"],
              "properties":{"employeeId":{"type":"string"},"n":{"type":"integer"}}}');
SELECT phoenix.create_projection('swipes', source => 'swipe', columns => '{"employee_id":"employeeId","n":"n"}');
SELECT phoenix.create_projection('last_swipe', source => 'swipe', columns => '{"employee_id":"employeeId"}',
       kind => 'latest', latest_key => 'employee_id');
-- 5,120 random hex characters: too large for a btree entry even compressed
CREATE TEMP TABLE big AS SELECT string_agg(md5(i::text), '') AS key FROM generate_series(1, 160) i;

-- an entity key too large for the timeline's index, between two good events
SELECT * FROM phoenix.emit_batch(jsonb_build_array(
  jsonb_build_object('type', 'employee.moved', 'event_id', 'm1', 'payload', '{"employeeId":"E1","department":"Sales"}'::jsonb),
  jsonb_build_object('type', 'employee.moved', 'event_id', 'm2',
                     'payload', jsonb_build_object('employeeId', (SELECT key FROM big), 'department', 'Ops')),
  jsonb_build_object('type', 'employee.moved', 'event_id', 'm3', 'payload', '{"employeeId":"E2","department":"Ops"}'::jsonb)),
  source => 'moves');
SELECT event_id FROM phoenix.event_log ORDER BY position;
SELECT event_id, source_position, sqlstate, left(reason, 125) AS reason, replayable
  FROM phoenix.dead_letters ORDER BY dead_letter_id;
SELECT employee_id, department FROM phoenix_entity.employee ORDER BY 1;

-- a projection key too large for its primary key (the latest projection), text form
SELECT * FROM phoenix.emit_batch(format('[{"type":"swipe","event_id":"s1","payload":{"employeeId":"E1","n":1}},
  {"type":"swipe","event_id":"s2","payload":{"employeeId":"%s","n":2}},
  {"type":"swipe","event_id":"s3","payload":{"employeeId":"E2","n":3}}]', (SELECT key FROM big)), source => 'swipes');
SELECT event_id, employee_id, n FROM reporting.swipes ORDER BY event_id;
SELECT event_id, source_position, sqlstate, left(reason, 125) AS reason
  FROM phoenix.dead_letters WHERE source = 'swipes' ORDER BY dead_letter_id;

-- the same through ingest_csv: the row is dead-lettered with its line
SELECT * FROM phoenix.ingest_csv('swipe', E'employeeId,n\nE3,4\n' || (SELECT key FROM big) || E',5\nE4,6\n',
                                 source => 'upload');
SELECT source_position, sqlstate FROM phoenix.dead_letters WHERE source = 'upload';
SELECT count(*) FROM phoenix.event_log WHERE source = 'upload';

-- after a compatibility => 'none' change n is a string: "nine" cannot go
-- into the projection's bigint column, "9" can
SELECT phoenix.create_event_type('swipe',
  schema => '{"type":"object","required":["employeeId","n"],
              "properties":{"employeeId":{"type":"string"},"n":{"type":"string"}}}', compatibility => 'none');
SELECT * FROM phoenix.emit_batch('[{"type":"swipe","event_id":"s4","payload":{"employeeId":"E5","n":"9"}},
  {"type":"swipe","event_id":"s5","payload":{"employeeId":"E6","n":"nine"}},
  {"type":"swipe","event_id":"s6","payload":{"employeeId":"E7","n":"10"}}]'::jsonb, source => 'after-change');
SELECT event_id, source_position, sqlstate, reason, replayable
  FROM phoenix.dead_letters WHERE source = 'after-change';
SELECT event_id, n FROM reporting.swipes WHERE event_id IN ('s4', 's5', 's6') ORDER BY event_id;

-- replay: the projection that refused "nine" is gone, the big keys still do
-- not fit; one replay call, each dead letter judged on its own
SELECT phoenix.drop_projection('swipes');
SELECT * FROM phoenix.replay_dead_letters();
SELECT event_id, replayed_at IS NOT NULL AS replayed, attempts, sqlstate
  FROM phoenix.dead_letters ORDER BY dead_letter_id;

-- an event type name longer than any type's: its dead letter keeps no type
SELECT * FROM phoenix.emit_batch(jsonb_build_array(jsonb_build_object('type', repeat('t', 5000), 'payload', '{}'::jsonb)),
                                 source => 'long-type');
SELECT event_type IS NULL AS no_type, replayable, sqlstate, reason
  FROM phoenix.dead_letters WHERE source = 'long-type';

-- single emit raises (nothing is dead-lettered), with hints that work for it
\set VERBOSITY default
SELECT phoenix.emit('no.such.type', '{"a":1}');
SELECT phoenix.emit('swipe', '{"employeeId":"E8","n":8}');
\set VERBOSITY terse
SELECT phoenix.emit('swipe', jsonb_build_object('employeeId', (SELECT key FROM big), 'n', '1'));
SELECT count(*) FROM phoenix.dead_letters WHERE source = 'emit';

-- every event in the log has its rows; the projection equals its rebuild
SELECT count(*) AS logged_swipes FROM phoenix.event_log WHERE event_type = 'swipe';
CREATE TEMP TABLE last_before AS SELECT event_id, employee_id FROM reporting.last_swipe;
SELECT phoenix.rebuild_projection('last_swipe') IS NOT NULL AS rebuilt;
SELECT count(*) AS differences FROM (
  (TABLE last_before EXCEPT ALL SELECT event_id, employee_id FROM reporting.last_swipe)
  UNION ALL (SELECT event_id, employee_id FROM reporting.last_swipe EXCEPT ALL TABLE last_before)) d;
