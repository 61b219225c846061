-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_emit_generated_ids;
CREATE DATABASE regress_emit_generated_ids;
\c regress_emit_generated_ids
\set ECHO all
-- Ids Phoenix makes for events sent without one name the event's log
-- position (src/ingest/eventid.c): version 8 UUIDs of the received
-- millisecond, the position and this database's node, not claimed in
-- phoenix.event_ids.  A producer's id of that form is only ever a repeat of
-- the event it names; any other is refused, so no later id can equal it.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_event_type('reading', '{"type":"object","properties":{"v":{"type":"number"}}}');
SELECT count(*) AS nodes FROM phoenix.generated_id_nodes;

-- The id as the layout says, made in SQL: 48 bits of Unix milliseconds,
-- version 8, 48 bits of position (12 | 2 after the variant | 34), 26 of node.
CREATE FUNCTION id_of(ms bigint, pos bigint, node bigint) RETURNS text LANGUAGE sql AS $$
  SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' ||
         substr(h, 17, 4) || '-' || substr(h, 21, 12)
    FROM (SELECT lpad(to_hex(ms), 12, '0') || '8' || lpad(to_hex(pos >> 36), 3, '0') ||
                 to_hex(8 | ((pos >> 34) & 3)) ||
                 lpad(to_hex(((pos & 17179869183) << 26) | node), 15, '0') AS h) x $$;
CREATE FUNCTION ms_of(t timestamptz) RETURNS bigint LANGUAGE sql AS
  $$ SELECT floor(extract(epoch FROM t) * 1000)::bigint $$;
CREATE VIEW ours AS SELECT node FROM phoenix.generated_id_nodes ORDER BY node LIMIT 1;
-- messages quote ids, which hold the time: shown as <id>
CREATE FUNCTION no_ids(t text) RETURNS text LANGUAGE sql AS
  $$ SELECT regexp_replace(t, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g') $$;
CREATE FUNCTION try_emit(payload jsonb, id text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; msg text; hint text;
BEGIN
  RETURN 'position ' || phoenix.emit('reading', payload, event_id => id);
EXCEPTION WHEN others THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN format('%s: %s%s', state, no_ids(msg), CASE WHEN hint <> '' THEN ' HINT: ' || hint ELSE '' END);
END $$;

-- every path without an id: emit, emit_batch (both forms), CSV
SELECT phoenix.emit('reading', '{"v": 1}') AS p1 \gset
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":2}},{"type":"reading","payload":{"v":3}}]');
SELECT * FROM phoenix.emit_batch('[{"type":"reading","payload":{"v":4}}]'::jsonb);
SELECT * FROM phoenix.ingest_csv('reading', E'v\n5\n');
SELECT count(*) AS events,
       count(*) FILTER (WHERE l.event_id = id_of(ms_of(l.received_at), l.position, (SELECT node FROM ours))) AS named_as_the_layout_says,
       count(*) FILTER (WHERE l.event_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$') AS uuid_v8
  FROM phoenix.event_log l;
SELECT count(*) AS claimed FROM phoenix.event_ids;
-- ids of one transaction ascend with their positions
SELECT bool_and(event_id > prev) AS ascending
  FROM (SELECT event_id, lag(event_id) OVER (ORDER BY position) AS prev, received_at,
               lag(received_at) OVER (ORDER BY position) AS prev_at FROM phoenix.event_log) x
 WHERE received_at = prev_at;

-- a repeat of a generated id: the original's position, nothing new
SELECT event_id AS g1 FROM phoenix.event_log WHERE position = :p1 \gset
SELECT phoenix.emit('reading', '{"v": 1.0}', event_id => :'g1') = :p1 AS same_position;
-- with another payload: the idempotency conflict
SELECT try_emit('{"v": 9}', :'g1') AS conflict;
-- in the transaction that logged it, the next statement finds it
BEGIN;
SELECT phoenix.emit('reading', '{"v": 6}') AS p6 \gset
SELECT event_id AS g6 FROM phoenix.event_log WHERE position = :p6 \gset
SELECT phoenix.emit('reading', '{"v": 6}', event_id => :'g6') = :p6 AS same_position_in_its_transaction;
COMMIT;

-- ids of that form naming nothing logged are refused (22023, with a hint)
SELECT try_emit('{"v": 7}', id_of(ms_of(now()), 999999, (SELECT node FROM ours))) AS refused;
-- a logged position with another millisecond, or the next position
SELECT try_emit('{"v": 1}', id_of(ms_of(received_at) + 1, position, (SELECT node FROM ours))) AS refused
  FROM phoenix.event_log WHERE position = :p1;
SELECT try_emit('{"v": 1}', id_of(ms_of(now()), last_value + 1, (SELECT node FROM ours))) AS refused
  FROM phoenix.event_log_position_seq;
-- in bulk: dead letters with the reason, the neighbours accepted, repeats
-- within the batch all found
SELECT id_of(ms_of(now()), 999998, (SELECT node FROM ours)) AS forged \gset
SELECT * FROM phoenix.emit_batch(format('[
  {"type":"reading","payload":{"v":1},"event_id":%s},
  {"type":"reading","payload":{"v":1},"event_id":%s},
  {"type":"reading","payload":{"v":8},"event_id":%s},
  {"type":"reading","payload":{"v":10}},
  {"type":"reading","payload":{"v":11},"event_id":%s},
  {"type":"reading","payload":{"v":12},"event_id":"own-1"}
]', to_json(:'g1'::text), to_json(:'g1'::text), to_json(:'g1'::text), to_json(:'forged'::text))::jsonb);
SELECT event_id = :'forged' AS forged, event_id = :'g1' AS repeat_of_g1, no_ids(reason) AS reason, sqlstate
  FROM phoenix.dead_letters ORDER BY dead_letter_id;
SELECT count(*) FILTER (WHERE event_id = :'g1') AS g1_logged, count(*) FILTER (WHERE event_id = 'own-1') AS own_logged
  FROM phoenix.event_log;

-- the same form with a node of another database is a producer's id like
-- any other: claimed, and a repeat of it found in phoenix.event_ids
SELECT id_of(ms_of(now()), 5, ((SELECT node FROM ours) + 1) % 67108864) AS foreign_id \gset
SELECT phoenix.emit('reading', '{"v": 13}', event_id => :'foreign_id') AS pf \gset
SELECT phoenix.emit('reading', '{"v": 13}', event_id => :'foreign_id') = :pf AS same_position;
SELECT count(*) AS foreign_claimed FROM phoenix.event_ids WHERE event_id = :'foreign_id';
-- so is a generated id spelled in capitals: another id, byte-wise
SELECT phoenix.emit('reading', '{"v": 1}', event_id => upper(:'g1')) <> :p1 AS another_event;

-- forget: a repeat of a generated id of a scrubbed event is still the same event
SELECT phoenix.create_entity('person', key => 'person_id', attributes => '{"name":"text"}', pii => '{name}');
SELECT phoenix.create_event_type('seen',
       schema => '{"type":"object","properties":{"personId":{"type":"string"},"name":{"type":"string","x-pii":true}}}',
       refs => '{"personId":"person"}');
SELECT phoenix.put('person', 'P1', '{"name":"Ada"}', valid_from => '2026-01-01');
SELECT phoenix.emit('seen', '{"personId": "P1", "name": "Ada"}') AS ps \gset
SELECT event_id AS gs FROM phoenix.event_log WHERE position = :ps \gset
SELECT phoenix.forget('person', 'P1') IS NOT NULL AS forgotten;
SELECT payload->>'name' = 'Ada' AS still_named, payload->>'personId' = 'P1' AS still_keyed FROM phoenix.event_log WHERE position = :ps;
SELECT phoenix.emit('seen', '{"personId": "P1", "name": "Ada"}', event_id => :'gs') = :ps AS same_position_after_forget;

-- no nodes (as before an upgrade, or emptied): ids are version 7 and claimed;
-- the table's trigger tells every session
DELETE FROM phoenix.generated_id_nodes;
SELECT phoenix.emit('reading', '{"v": 14}') AS p14 \gset
SELECT event_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7' AS v7,
       (SELECT count(*) FROM phoenix.event_ids i WHERE i.event_id = l.event_id) AS claimed
  FROM phoenix.event_log l WHERE position = :p14;
INSERT INTO phoenix.generated_id_nodes VALUES (12345);
SELECT phoenix.emit('reading', '{"v": 15}') AS p15 \gset
SELECT event_id = id_of(ms_of(received_at), position, 12345) AS named_by_the_new_node,
       (SELECT count(*) FROM phoenix.event_ids i WHERE i.event_id = l.event_id) AS claimed
  FROM phoenix.event_log l WHERE position = :p15;
-- with two nodes, an id naming a logged position and time with the other
-- node is not that event's id: refused
INSERT INTO phoenix.generated_id_nodes VALUES (54321);
SELECT try_emit('{"v": 15}', id_of(ms_of(received_at), position, 54321)) AS refused
  FROM phoenix.event_log WHERE position = :p15;
SELECT try_emit('{"v": 15}', event_id) = 'position ' || :p15 AS the_real_one_repeats
  FROM phoenix.event_log WHERE position = :p15;
-- positions past 2^48 cannot be named: version 7, claimed
SELECT setval('phoenix.event_log_position_seq', 281474976710655);
SELECT phoenix.emit('reading', '{"v": 16}') AS p16 \gset
SELECT :p16 AS position, event_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7' AS v7,
       (SELECT count(*) FROM phoenix.event_ids i WHERE i.event_id = l.event_id) AS claimed
  FROM phoenix.event_log l WHERE position = :p16;
-- lower roles cannot change the nodes
SELECT has_table_privilege('phoenix_admin', 'phoenix.generated_id_nodes', 'INSERT, UPDATE, DELETE, TRUNCATE') AS admin_may_edit,
       has_table_privilege('phoenix_writer', 'phoenix.generated_id_nodes', 'SELECT') AS writer_may_read;
