-- The public SQL contract of docs/design.md: every function with its argument
-- names (callers use named arguments), the result columns, the tables and
-- views analysts and outside tests rely on, and the roles.  Renaming any of
-- these breaks users; this file fails first.
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS phoenix CASCADE;
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.args(fname text) RETURNS text[] LANGUAGE sql AS $$
  SELECT p.proargnames[1:p.pronargs] FROM pg_proc p
   WHERE p.pronamespace = 'phoenix'::regnamespace AND p.proname = fname
   ORDER BY p.pronargs DESC LIMIT 1 $$;
CREATE FUNCTION pg_temp.outs(fname text) RETURNS text[] LANGUAGE sql AS $$
  SELECT array_agg(n ORDER BY i) FROM pg_proc p,
         unnest(p.proargnames, p.proargmodes) WITH ORDINALITY u(n, m, i)
   WHERE p.pronamespace = 'phoenix'::regnamespace AND p.proname = fname AND m IN ('t', 'o') $$;
CREATE FUNCTION pg_temp.has_args(fname text, want text[]) RETURNS text LANGUAGE sql AS $$
  SELECT ok(coalesce(pg_temp.args(fname) @> want, false),
            format('phoenix.%s takes %s (has %s)', fname, want, pg_temp.args(fname))) $$;
CREATE FUNCTION pg_temp.returns_cols(fname text, want text[]) RETURNS text LANGUAGE sql AS $$
  SELECT ok(coalesce(pg_temp.outs(fname) @> want, false),
            format('phoenix.%s returns %s (has %s)', fname, want, pg_temp.outs(fname))) $$;

SELECT plan(62);

-- entities
SELECT pg_temp.has_args('create_entity', '{name,key,attributes,pii,refs}');
SELECT pg_temp.has_args('drop_entity', '{name}');
SELECT pg_temp.has_args('put', '{entity,key,attributes,valid_from,valid_to}');
SELECT pg_temp.has_args('retract', '{entity,key,valid_from,valid_to}');
SELECT pg_temp.has_args('get', '{entity,key,valid_at,known_at}');
SELECT function_returns('phoenix', 'get', ARRAY['text','text','timestamp with time zone','timestamp with time zone'], 'jsonb');
SELECT pg_temp.has_args('history', '{entity,key,known_at}');
SELECT pg_temp.returns_cols('history', '{valid_from,valid_to,attributes}');

-- registry and emitting
SELECT pg_temp.has_args('create_event_type', '{name,schema,entity,key_field,sets,time_field,refs,recurrence}');
SELECT has_function('phoenix', 'drop_event_type', 'drop_event_type exists');
SELECT pg_temp.has_args('schema_errors', '{schema,instance}');
SELECT pg_temp.returns_cols('schema_errors', '{path,keyword,message}');
SELECT pg_temp.has_args('emit', '{effective_at,event_id,source}');
SELECT is((SELECT string_agg(DISTINCT prorettype::regtype::text, ',') FROM pg_proc
            WHERE pronamespace = 'phoenix'::regnamespace AND proname = 'emit'), 'bigint', 'emit (jsonb and text payloads) returns the log position (bigint)');
SELECT pg_temp.returns_cols('emit_batch', '{accepted,rejected}');
SELECT pg_temp.returns_cols('ingest_csv', '{accepted,rejected}');
SELECT has_function('phoenix', 'replay_dead_letters', 'replay_dead_letters exists');
-- The log's public columns and their types, written out (columns may be
-- added, none renamed or retyped); not read back from the table itself.
SELECT col_type_is('phoenix', 'event_log', c, t, format('event_log.%s is %s', c, t))
  FROM (VALUES ('position', 'bigint'), ('event_id', 'text'), ('event_type', 'text'), ('schema_version', 'integer'),
               ('payload', 'jsonb'), ('effective_at', 'timestamp with time zone'),
               ('received_at', 'timestamp with time zone'), ('source', 'text'), ('source_position', 'text')) AS v(c, t);
SELECT col_not_null('phoenix', 'event_log', c, format('event_log.%s is not null', c))
  FROM unnest('{position,event_id,event_type,schema_version,payload,effective_at,received_at}'::text[]) AS c;
SELECT col_type_is('phoenix', 'dead_letters', c, t, format('dead_letters.%s is %s', c, t))
  FROM (VALUES ('dead_letter_id', 'bigint'), ('event_type', 'text'), ('raw', 'text'), ('reason', 'text'),
               ('source', 'text'), ('source_position', 'text'), ('received_at', 'timestamp with time zone')) AS v(c, t);
SELECT ok((SELECT array_agg(attname::text) FROM pg_attribute WHERE attrelid = 'phoenix.event_log'::regclass AND attnum > 0)
          @> '{position,event_id,event_type,schema_version,payload,effective_at,received_at,source}',
          'event_log has position, event_id, event_type, schema_version, payload, effective_at, received_at, source');
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'phoenix.event_log'::regclass), 'p', 'event_log is partitioned');
SELECT ok((SELECT array_agg(attname::text) FROM pg_attribute WHERE attrelid = 'phoenix.dead_letters'::regclass AND attnum > 0)
          @> '{event_type,raw,reason,source,source_position,received_at}',
          'dead_letters has event_type, raw, reason, source, source_position, received_at');

-- projections
SELECT pg_temp.has_args('create_projection', '{name,source,columns,enrich,derive,schema,kind,latest_key,fresh_for,horizon}');
SELECT pg_temp.has_args('rebuild_projection', '{name}');
SELECT has_function('phoenix', 'drop_projection', 'drop_projection exists');

-- forget
SELECT pg_temp.has_args('forget', '{entity,key,reason}');

-- kafka
SELECT pg_temp.has_args('create_subscription', '{name,topic,event_type,brokers,group_id}');
SELECT has_function('phoenix', 'drop_subscription', 'drop_subscription exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_foreign_data_wrapper WHERE fdwname = 'phoenix_kafka'), 'foreign-data wrapper phoenix_kafka exists');

-- BigQuery and exports
SELECT pg_temp.has_args('check_bigquery', '{schema}');
SELECT pg_temp.has_args('export', '{projection,directory,format}');
SELECT has_function('phoenix', 'schedule_export', 'schedule_export exists');

-- schemas and roles
SELECT has_schema('reporting');
SELECT has_schema('phoenix_entity');
SELECT has_role('phoenix_admin');
SELECT has_role('phoenix_writer');
SELECT has_role('phoenix_reader');

-- an entity gets its history table, view and as-of functions
SELECT lives_ok($$SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}')$$, 'create_entity');
SELECT columns_are('phoenix_entity', 'desk_history',
  ARRAY['desk_id','room','valid_from','valid_to','recorded_from','recorded_to'], 'history table columns');
SELECT has_view('phoenix_entity', 'desk', 'current-state view');
SELECT throws_ok($$SELECT phoenix.put('nosuch', 'K', '{"a":1}')$$, '42704', NULL, 'unknown entity is 42704');

SELECT * FROM finish();
