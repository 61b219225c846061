-- Roles and hardening (issue 7): phoenix_reader reads reporting tables and
-- entity views and nothing else; phoenix_writer emits and ingests and cannot
-- define or forget; hostile identifiers and payloads are refused or stored
-- literally, and nothing changes.  Everything runs in one transaction that
-- is rolled back (roles included).
\set ON_ERROR_STOP 1
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION phoenix CASCADE;
SET phoenix.forget_secret = 'privileges test secret';
SELECT no_plan();

CREATE ROLE tap_reader IN ROLE phoenix_reader;
CREATE ROLE tap_writer IN ROLE phoenix_writer;
CREATE ROLE tap_admin IN ROLE phoenix_admin;

-- ---- the catalog: what every role may do, by construction ----------------
SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM pg_proc p
   WHERE p.pronamespace = 'phoenix'::regnamespace
     AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0)) $$,
  'no Phoenix function is executable by PUBLIC');
SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM pg_proc p
   WHERE p.pronamespace IN ('phoenix'::regnamespace, 'phoenix_entity'::regnamespace)
     AND p.prosecdef
     AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false) $$,
  'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp');

-- ---- an admin defines everything (through SECURITY DEFINER functions) ----
SET ROLE tap_admin;
SELECT lives_ok($$ SELECT phoenix.create_entity('employee', 'employee_id',
    '{"name":"text","email":"text","department":"text"}', pii => '{name,email}') $$, 'admin creates an entity');
SELECT lives_ok($$ SELECT phoenix.put('employee', 'E1', '{"name":"Ada","email":"ada@x.com","department":"Finance"}',
    valid_from => '2026-11-01') $$, 'admin puts');
SELECT lives_ok($$ SELECT phoenix.create_event_type('presence.detected',
    schema => '{"type":"object","required":["employeeId","detectedAt"],
                "properties":{"employeeId":{"type":"string"},"note":{"type":"string"},
                              "detectedAt":{"type":"string","format":"date-time"}},
                "additionalProperties":false}',
    time_field => 'detectedAt', refs => '{"employeeId":"employee"}') $$, 'admin creates an event type');
SELECT lives_ok($$ SELECT phoenix.create_projection('presence_report', source => 'presence.detected',
    columns => '{"employee_id":"employeeId","note":"note"}',
    enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time","name":"current"}}]') $$,
  'admin creates a projection');
RESET ROLE;

-- ---- a writer emits, with hostile payloads stored literally ---------------
SET ROLE tap_writer;
SELECT lives_ok($$ SELECT phoenix.emit('presence.detected',
    '{"employeeId":"E1","detectedAt":"2026-11-24T09:00:00Z","note":"x\"; DROP TABLE phoenix.event_log; --"}',
    event_id => 'p1') $$, 'writer emits (SQL in a payload value)');
SELECT lives_ok($q$ SELECT phoenix.emit('presence.detected',
    '{"employeeId":"E1","detectedAt":"2026-11-25T09:00:00Z","note":"$$ quote'' dquote\" backslash\\ $x$ end"}',
    event_id => 'p2''; DROP TABLE reporting.presence_report; --') $q$, 'writer emits ($$, quotes, backslashes, hostile event id)');
SELECT results_eq($$ SELECT accepted, rejected FROM phoenix.emit_batch(
    '[{"type":"presence.detected","payload":{"employeeId":"E1","detectedAt":"2026-11-26T09:00:00Z"},"event_id":"p3"},
      {"type":"presence.detected; DROP TABLE phoenix.event_log","payload":{}}]') $$,
  $$ VALUES (1::bigint, 1::bigint) $$, 'writer emits a batch; the hostile type is dead-lettered');
SELECT throws_ok($$ SELECT * FROM phoenix.ingest_csv('presence.detected', '/etc/passwd') $$, '42501', NULL,
  'writer cannot read server files through ingest_csv');
SELECT throws_ok($$ SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}') $$, '42501', NULL, 'writer cannot create entities');
SELECT throws_ok($$ SELECT phoenix.put('employee', 'E1', '{"name":"Eve"}') $$, '42501', NULL, 'writer cannot put');
SELECT throws_ok($$ SELECT phoenix.create_event_type('x.y', '{"type":"object"}') $$, '42501', NULL, 'writer cannot create event types');
SELECT throws_ok($$ SELECT phoenix.create_projection('p2', 'presence.detected') $$, '42501', NULL, 'writer cannot create projections');
SELECT throws_ok($$ SELECT phoenix.drop_projection('presence_report') $$, '42501', NULL, 'writer cannot drop projections');
SELECT throws_ok($$ SELECT phoenix.forget('employee', 'E1', 'x') $$, '42501', NULL, 'writer cannot forget');
SELECT throws_ok($$ INSERT INTO phoenix.event_log (event_type) VALUES ('forged') $$, '42501', NULL, 'writer cannot append to the log directly');
SELECT throws_ok($$ UPDATE reporting.presence_report SET note = 'forged' $$, '42501', NULL, 'writer cannot change reporting rows directly');
SELECT throws_ok($$ SELECT * FROM phoenix.forget_secret $$, '42501', NULL, 'writer cannot read the forget secret');
RESET ROLE;

SELECT results_eq($q$ SELECT note FROM reporting.presence_report ORDER BY effective_at $q$,
  $q$ VALUES ('x"; DROP TABLE phoenix.event_log; --'::text),
             ('$$ quote'' dquote" backslash\ $x$ end'), (NULL) $q$,
  'hostile payload values are stored literally');
SELECT ok(EXISTS (SELECT 1 FROM reporting.presence_report WHERE event_id = 'p2''; DROP TABLE reporting.presence_report; --'),
  'a hostile event id is stored literally');

-- ---- a reader reads reporting and entity views, nothing else --------------
SET ROLE tap_reader;
SELECT is((SELECT count(*) FROM reporting.presence_report), 3::bigint, 'reader reads a reporting table');
SELECT lives_ok($$ SELECT * FROM phoenix_entity.employee $$, 'reader reads an entity view');
SELECT lives_ok($$ SELECT * FROM phoenix.check_bigquery() $$, 'reader runs check_bigquery');
SELECT lives_ok($$ SELECT phoenix.safe_change_seq() $$, 'reader reads the watermark');
SELECT throws_ok($$ SELECT * FROM phoenix.event_log $$, '42501', NULL, 'reader cannot read the event log');
SELECT throws_ok($$ SELECT * FROM phoenix.dead_letters $$, '42501', NULL, 'reader cannot read dead letters');
SELECT throws_ok($$ SELECT * FROM phoenix.erasures $$, '42501', NULL, 'reader cannot read the erasure audit');
SELECT throws_ok($$ SELECT * FROM phoenix.forget_secret $$, '42501', NULL, 'reader cannot read the forget secret');
SELECT throws_ok($$ SELECT * FROM phoenix.forgotten_values $$, '42501', NULL, 'reader cannot read forgotten-value hashes');
SELECT throws_ok($$ SELECT * FROM phoenix.kafka_subscriptions $$, '42501', NULL, 'reader cannot read Kafka settings');
SELECT throws_ok($$ SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","detectedAt":"2026-11-24T09:00:00Z"}') $$,
  '42501', NULL, 'reader cannot emit');
SELECT throws_ok($$ SELECT * FROM phoenix.emit_batch('[]') $$, '42501', NULL, 'reader cannot emit batches');
SELECT throws_ok($$ SELECT * FROM phoenix.ingest_csv('presence.detected', 'employeeId,detectedAt') $$, '42501', NULL, 'reader cannot ingest');
SELECT throws_ok($$ SELECT phoenix.put('employee', 'E1', '{"name":"Eve"}') $$, '42501', NULL, 'reader cannot put');
SELECT throws_ok($$ SELECT phoenix.retract('employee', 'E1') $$, '42501', NULL, 'reader cannot retract');
SELECT throws_ok($$ SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}') $$, '42501', NULL, 'reader cannot create entities');
SELECT throws_ok($$ SELECT phoenix.drop_entity('employee') $$, '42501', NULL, 'reader cannot drop entities');
SELECT throws_ok($$ SELECT phoenix.create_event_type('x.y', '{"type":"object"}') $$, '42501', NULL, 'reader cannot create event types');
SELECT throws_ok($$ SELECT phoenix.drop_event_type('presence.detected') $$, '42501', NULL, 'reader cannot drop event types');
SELECT throws_ok($$ SELECT phoenix.create_projection('p2', 'presence.detected') $$, '42501', NULL, 'reader cannot create projections');
SELECT throws_ok($$ SELECT phoenix.rebuild_projection('presence_report') $$, '42501', NULL, 'reader cannot rebuild projections');
SELECT throws_ok($$ SELECT phoenix.forget('employee', 'E1', 'x') $$, '42501', NULL, 'reader cannot forget');
SELECT throws_ok($$ SELECT * FROM phoenix.export('presence_report', '/tmp') $$, '42501', NULL, 'reader cannot export');
SELECT throws_ok($$ SELECT phoenix.schedule_export('presence_report', '* * * * *', '/tmp') $$, '42501', NULL, 'reader cannot schedule exports');
SELECT throws_ok($$ SELECT phoenix.publish_reporting() $$, '42501', NULL, 'reader cannot publish');
SELECT throws_ok($$ SELECT phoenix.next_change_seq() $$, '42501', NULL, 'reader cannot take change numbers');
SELECT throws_ok($$ INSERT INTO reporting.presence_report (event_id) VALUES ('forged') $$, '42501', NULL, 'reader cannot insert reporting rows');
SELECT throws_ok($$ DELETE FROM reporting.presence_report $$, '42501', NULL, 'reader cannot delete reporting rows');
SELECT throws_ok($$ CREATE TABLE reporting.mine (x int) $$, '42501', NULL, 'reader cannot create tables in reporting');
RESET ROLE;
SELECT is_empty($$
  SELECT c.oid::regclass::text FROM pg_class c
   WHERE c.relnamespace = 'phoenix'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
     AND has_table_privilege('phoenix_reader', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
     AND c.relname NOT IN ('projection_catalog', 'entity_catalog', 'event_types_v', 'subscription_status') $$,
  'phoenix_reader holds no privilege on Phoenix''s internal tables');
SELECT is_empty($$
  SELECT c.oid::regclass::text FROM pg_class c
   WHERE c.relnamespace = 'reporting'::regnamespace AND c.relkind IN ('r', 'p')
     AND has_table_privilege('phoenix_writer', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') $$,
  'phoenix_writer changes reporting rows only through emit');

-- ---- hostile identifiers: refused, nothing created -------------------------
CREATE TEMP TABLE before AS
  SELECT c.oid::regclass::text AS rel FROM pg_class c
   WHERE c.relnamespace IN ('phoenix'::regnamespace, 'phoenix_entity'::regnamespace, 'reporting'::regnamespace);
SET ROLE tap_admin;
-- Each refusal names its own SQLSTATE: "any error" would also pass on a
-- syntax error the injected text itself caused.
SELECT throws_ok(format('SELECT phoenix.create_entity(%L, %L, %L)', n, 'k', '{"a":"text"}'),
                 st, NULL, format('admin: entity name %s refused (%s)', left(n, 40), st))
  FROM (VALUES ('x; drop table y', '42602'), ('"; DROP TABLE phoenix.event_log; --', '42602'), ('$$', '42602'),
               ('a''b\c', '42602'), (repeat('a', 64), '42622'), ('emploуee' /* Cyrillic у */, '42602'),
               ('ｅmployee' /* fullwidth */, '42602'), (E'employee\u200b' /* zero-width space */, '42602'),
               ('Employee', '42602'), ('select', '42939'), ('', '42602')) AS t(n, st);
SELECT throws_ok(format('SELECT phoenix.create_entity(%L, %L, %L)', 'desk', 'desk_id', json_build_object(n, 'text')),
                 st, NULL, format('admin: attribute name %s refused (%s)', left(n, 40), st))
  FROM (VALUES ('x"; DROP TABLE y; --', '42602'), (repeat('b', 64), '42622'),
               ('rооm' /* Cyrillic о */, '42602'), ('a b', '42602')) AS t(n, st);
SELECT throws_ok(format('SELECT phoenix.create_projection(%L, %L)', n, 'presence.detected'),
                 st, NULL, format('admin: projection name %s refused (%s)', left(n, 40), st))
  FROM (VALUES ('x; drop table y', '42602'), ('"; DROP TABLE reporting.presence_report; --', '42602'),
               (repeat('p', 64), '42622'), ('presence_rероrt' /* Cyrillic */, '42602'), ('../../etc', '42602')) AS t(n, st);
SELECT throws_ok(format('SELECT phoenix.create_event_type(%L, %L::jsonb, refs => %L::jsonb)',
                        'x.y', '{"type":"object"}', json_build_object('f', n)),
                 st, NULL, format('admin: ref to %s refused (%s)', left(n, 40), st))
  FROM (VALUES ('employee; DROP TABLE y', '42704'), ('emploуee', '42704'),
               ('employee.email"; --', '42703')) AS t(n, st);
SELECT throws_ok($$ SELECT * FROM phoenix.check_bigquery('"; DROP SCHEMA reporting CASCADE; --') $$,
                 '3F000', NULL, 'check_bigquery: a hostile schema name is just an unknown schema');
RESET ROLE;
SELECT is_empty($$
  SELECT c.oid::regclass::text FROM pg_class c
   WHERE c.relnamespace IN ('phoenix'::regnamespace, 'phoenix_entity'::regnamespace, 'reporting'::regnamespace)
  EXCEPT SELECT rel FROM before $$, 'no relation was created by a refused definition');
SELECT is_empty($$ SELECT rel FROM before EXCEPT
  SELECT c.oid::regclass::text FROM pg_class c
   WHERE c.relnamespace IN ('phoenix'::regnamespace, 'phoenix_entity'::regnamespace, 'reporting'::regnamespace) $$,
  'no relation was dropped');
SELECT is((SELECT count(*) FROM phoenix.entities), 1::bigint, 'one entity, as before');
SELECT is((SELECT count(*) FROM reporting.presence_report), 3::bigint, 'the reporting rows are all there');

SELECT * FROM finish();
ROLLBACK;
