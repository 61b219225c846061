-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_kafka_subscriptions;
CREATE DATABASE regress_kafka_subscriptions;
\c regress_kafka_subscriptions
\set ECHO all
-- Kafka subscriptions: creation, validation, pause/resume, drop, status view.
-- (Consumption itself is tested by the shell tests against a mock cluster.)
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SET client_min_messages = error;
SELECT phoenix.create_event_type('presence.detected', '{"type": "object"}');
-- an error's SQLSTATE, message and hint
CREATE FUNCTION pg_temp.failure(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || E'\nHINT: ' || hint;
END $$;

SELECT phoenix.create_subscription('badges', 'badge-events', 'presence.detected',
       brokers => 'localhost:9092');
SELECT phoenix.create_subscription('mixed', 'raw-messages', brokers => 'b1:9092,b2:9092',
       group_id => 'phoenix-mixed', event_type_header => 'type', event_type_field => 'type',
       options => '{"security.protocol": "plaintext", "fetch.wait.max.ms": 50, "check.crcs": true}',
       max_message_bytes => 65536);
SELECT name, topic, event_type, event_type_header, event_type_field, event_id_header,
       brokers, group_id, options, max_message_bytes, enabled
  FROM phoenix.kafka_subscriptions ORDER BY name;

-- errors name the subscription and the offending argument
SELECT phoenix.create_subscription('badges', 'badge-events', 'presence.detected', 'localhost:9092');
SELECT phoenix.create_subscription('nobrokers', 'badge-events', 'presence.detected');
SELECT phoenix.create_subscription('notype', 'badge-events', brokers => 'localhost:9092');
SELECT phoenix.create_subscription('Bad Name', 'badge-events', 'x', 'localhost:9092');
SELECT phoenix.create_subscription('badtopic', 'no spaces', 'x', 'localhost:9092');
SELECT phoenix.create_subscription('select', 't', 'x', 'localhost:9092');
SELECT phoenix.create_subscription('emptyhdr', 't', brokers => 'localhost:9092', event_type_header => '');
SELECT phoenix.create_subscription('badopt', 't', 'x', 'localhost:9092', options => '{"fetch.wait.max.ms": "soon"}');
SELECT phoenix.create_subscription('unknownopt', 't', 'x', 'localhost:9092', options => '{"no.such.property": 1}');
SELECT phoenix.create_subscription('reserved', 't', 'x', 'localhost:9092', options => '{"enable.auto.commit": true}');
SELECT phoenix.create_subscription('plugin', 't', 'x', 'localhost:9092', options => '{"plugin.library.paths": "/tmp/x.so"}');
SELECT phoenix.create_subscription('notobj', 't', 'x', 'localhost:9092', options => '[1]');
SELECT phoenix.create_subscription('nested', 't', 'x', 'localhost:9092', options => '{"a": {"b": 1}}');
SELECT phoenix.create_subscription('maxbytes', 't', 'x', 'localhost:9092', max_message_bytes => 0);
-- an event type named at creation (fixed, or the fallback of a header or
-- field) must exist
SELECT pg_temp.failure($$SELECT phoenix.create_subscription('ghost', 't', 'no.such.type', 'localhost:9092')$$);
SELECT pg_temp.failure($$SELECT phoenix.create_subscription('ghost', 't', 'no.such.type', 'localhost:9092',
                                                             event_type_header => 'type')$$);
SELECT count(*) FROM phoenix.kafka_subscriptions WHERE name = 'ghost';

-- pause, resume, status
SELECT phoenix.pause_subscription('badges');
SELECT subscription, topic, group_id, state, partition, committed_offset, lag, accepted, dead_lettered
  FROM phoenix.subscription_status ORDER BY subscription;
SELECT phoenix.resume_subscription('badges');
SELECT subscription, state FROM phoenix.subscription_status ORDER BY subscription;
SELECT phoenix.pause_subscription('nosuch');

-- offsets belong to the group: they go with the last subscription using it
INSERT INTO phoenix.kafka_offsets (group_id, topic, partition, next_offset)
VALUES ('phoenix-mixed', 'raw-messages', 0, 42), ('phoenix-mixed', 'raw-messages', 1, 7);
SELECT phoenix.create_subscription('mixed2', 'raw-messages', 'presence.detected', 'b1:9092', group_id => 'phoenix-mixed');
SELECT phoenix.drop_subscription('mixed');
SELECT group_id, partition, next_offset FROM phoenix.kafka_offsets ORDER BY 1, 2;
SELECT phoenix.drop_subscription('mixed2');
SELECT count(*) FROM phoenix.kafka_offsets;
SELECT phoenix.drop_subscription('mixed2');
SELECT phoenix.drop_subscription('mixed2', if_exists => true);
SELECT name FROM phoenix.kafka_subscriptions ORDER BY name;

-- only admins manage subscriptions
SELECT has_function_privilege('phoenix_writer', 'phoenix.create_subscription(text,text,text,text,text,text,text,text,jsonb,integer,boolean)', 'EXECUTE') AS writer_can,
       has_function_privilege('phoenix_admin', 'phoenix.create_subscription(text,text,text,text,text,text,text,text,jsonb,integer,boolean)', 'EXECUTE') AS admin_can,
       has_table_privilege('phoenix_reader', 'phoenix.subscription_status', 'SELECT') AS reader_sees_status;

SELECT phoenix.drop_subscription('badges');

-- the settings are documented GUCs, and the prefix is reserved
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'phoenix.kafka%' ORDER BY name;
SET phoenix.no_such_setting = 1;
