
-- ---------------------------------------------------------------------------
-- Roles and privileges.  Runs last, over every fragment's objects.
--   phoenix_reader: reads reporting tables and entity views (BigQuery's
--                   connection user gets this role); nothing else.
--   phoenix_writer: emits and ingests events.
--   phoenix_admin:  defines entities, event types, projections,
--                   subscriptions, exports; forgets people.
-- Functions are not executable by PUBLIC; each role gets exactly its list.
-- SECURITY DEFINER functions pin search_path (checked by test/pgtap).
-- ---------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA phoenix FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA phoenix FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA phoenix FROM PUBLIC;
REVOKE CREATE ON SCHEMA phoenix, phoenix_entity, reporting FROM PUBLIC;

-- Grant EXECUTE on every overload of the named functions that exist (other
-- concerns land at different times; a missing name is simply skipped).
DO $grants$
DECLARE
  lists constant jsonb := '{
    "phoenix_reader": ["check_bigquery", "safe_change_seq", "get", "history",
                       "schema_errors"],
    "phoenix_writer": ["emit", "emit_batch", "ingest_csv", "next_change_seq",
                       "safe_change_seq", "get", "history", "schema_errors"],
    "phoenix_admin":  ["create_entity", "drop_entity", "put", "retract", "get", "history",
                       "create_event_type", "drop_event_type", "schema_errors",
                       "replay_dead_letters",
                       "emit", "emit_batch", "ingest_csv",
                       "create_projection", "drop_projection", "rebuild_projection",
                       "create_subscription", "drop_subscription",
                       "pause_subscription", "resume_subscription",
                       "create_publication", "drop_publication",
                       "forget",
                       "check_bigquery", "next_change_seq", "safe_change_seq",
                       "export", "schedule_export", "unschedule_export"]
  }';
  r record;
BEGIN
  FOR r IN
    SELECT l.role, p.oid::regprocedure AS fn
      FROM jsonb_each(lists) AS l(role, names)
      CROSS JOIN LATERAL jsonb_array_elements_text(l.names) AS n(name)
      JOIN pg_proc p ON p.proname = n.name
                    AND p.pronamespace = 'phoenix'::regnamespace
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', r.fn, r.role);
  END LOOP;
END
$grants$;

-- Functions that write catalogs and tables their callers may not touch run
-- as the extension owner, with search_path pinned: writers emit without
-- INSERT on the event log, admins define entities without CREATE on
-- phoenix_entity.  (forget and emit switch to the owner and pin the search
-- path themselves -- emit because SECURITY DEFINER ... SET costs 6% of a
-- single event; file paths are checked against the calling role,
-- GetOuterUserId().)
DO $definer$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'phoenix'::regnamespace
       AND p.proname = ANY (ARRAY[
             'emit_batch', 'ingest_csv', 'replay_dead_letters', 'apply_due',
             'create_entity', 'drop_entity', 'put', 'retract',
             'create_event_type', 'drop_event_type',
             'create_projection', 'drop_projection', 'rebuild_projection',
             'create_subscription', 'drop_subscription', 'pause_subscription', 'resume_subscription'])
  LOOP
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
  END LOOP;
END
$definer$;

-- Take back what the roles must not have (granted by earlier fragments for
-- invoker-rights paths that now run as definer): readers see no event log,
-- dead letters, Kafka settings (credentials) or internal catalogs; writers
-- cannot append to the log or dead letters except through emit.
DO $revoke$
DECLARE
  g record;
BEGIN
  FOR g IN SELECT * FROM (VALUES
      ('phoenix.event_log', 'phoenix_reader, phoenix_writer'),
      ('phoenix.dead_letters', 'phoenix_reader, phoenix_writer'),
      ('phoenix.event_ids', 'phoenix_reader, phoenix_writer'),
      ('phoenix.kafka_subscriptions', 'phoenix_reader'),
      ('phoenix.kafka_offsets', 'phoenix_reader'),
      ('phoenix.kafka_partition_stats', 'phoenix_reader'),
      ('phoenix.kafka_subscription_state', 'phoenix_reader'),
      ('phoenix.projections', 'phoenix_reader'),
      ('phoenix.projection_steps', 'phoenix_reader'),
      ('phoenix.projection_progress', 'phoenix_reader'),
      ('phoenix.projection_due', 'phoenix_writer'),
      ('phoenix.event_types', 'phoenix_reader'),
      ('phoenix.event_type_versions', 'phoenix_reader')
    ) AS v(obj, roles)
  LOOP
    IF to_regclass(g.obj) IS NOT NULL THEN
      EXECUTE format('REVOKE ALL ON %s FROM %s', g.obj, g.roles);
    END IF;
  END LOOP;
END
$revoke$;

-- Tables and sequences, each only if it exists: this fragment is also
-- appended to every upgrade script (Makefile), where later objects may not
-- exist yet.
DO $grants$
DECLARE
  g record;
BEGIN
  FOR g IN SELECT * FROM (VALUES
      -- readers may read the change-number sequence's position (the watermark)
      ('SEQUENCE', 'phoenix.change_seq', 'SELECT', 'phoenix_reader, phoenix_writer, phoenix_admin'),
      -- export cursors and schedules belong to whoever runs exports
      ('TABLE', 'phoenix.export_cursors', 'SELECT, INSERT, UPDATE', 'phoenix_admin'),
      ('TABLE', 'phoenix.export_schedules', 'SELECT, INSERT, UPDATE, DELETE', 'phoenix_admin')
    ) AS v(kind, obj, privs, roles)
  LOOP
    IF to_regclass(g.obj) IS NOT NULL THEN
      EXECUTE format('GRANT %s ON %s %s TO %s', g.privs, g.kind, g.obj, g.roles);
    END IF;
  END LOOP;
END
$grants$;

-- Reporting tables: readable by every Phoenix role, now and when created later.
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO phoenix_reader, phoenix_writer, phoenix_admin;
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting
  GRANT SELECT ON TABLES TO phoenix_reader, phoenix_writer, phoenix_admin;

-- The Kafka worker's role (phoenix_kafka, NOLOGIN): exactly what the
-- worker's own statements need -- read its configuration, keep offsets,
-- counters and state, dead-letter what cannot be an event, read and empty
-- the outboxes.  Events go through emit with the rights emit_batch has.
-- (SELECT ... FOR KEY SHARE of a subscription needs UPDATE on a column.)
DO $kafka_role$
DECLARE
  g record;
BEGIN
  FOR g IN SELECT * FROM (VALUES
      ('TABLE', 'phoenix.kafka_subscriptions', 'SELECT, UPDATE (enabled)'),
      ('TABLE', 'phoenix.kafka_offsets', 'SELECT, INSERT, UPDATE'),
      ('TABLE', 'phoenix.kafka_partition_stats', 'SELECT, INSERT, UPDATE'),
      ('TABLE', 'phoenix.kafka_subscription_state', 'SELECT, INSERT, UPDATE'),
      ('TABLE', 'phoenix.kafka_publications', 'SELECT'),
      ('TABLE', 'phoenix.kafka_outbox', 'SELECT, DELETE'),
      ('TABLE', 'phoenix.kafka_publication_state', 'SELECT, INSERT, UPDATE'),
      ('TABLE', 'phoenix.dead_letters', 'INSERT'),
      ('SEQUENCE', 'phoenix.dead_letters_dead_letter_id_seq', 'USAGE')
    ) AS v(kind, obj, privs)
  LOOP
    IF to_regclass(g.obj) IS NOT NULL THEN
      EXECUTE format('GRANT %s ON %s %s TO phoenix_kafka', g.privs, g.kind, g.obj);
    END IF;
  END LOOP;
END
$kafka_role$;
GRANT USAGE ON SCHEMA phoenix TO phoenix_kafka;
