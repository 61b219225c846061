
-- ---------------------------------------------------------------------------
-- Roles and privileges: the only place Phoenix grants anything.  Runs last,
-- over every fragment's objects, and again at the end of every upgrade
-- script (Makefile), so it is idempotent and tolerates objects that do not
-- exist yet.  docs/security.md has the role table this implements (and
-- test/shell/security_roles.sh checks it, object by object).
--
--   phoenix_reader  reads reporting tables, entity views and history, the
--                   public catalogs; get, history, asof_join.
--   phoenix_writer  what a reader may, and emits (emit, emit_batch,
--                   ingest_csv, apply_due, next_change_seq).
--   phoenix_admin   what a writer may, and defines (entities, event types,
--                   projections, subscriptions, publications, exports),
--                   replays dead letters and forgets; reads the internal
--                   catalogs, the log, dead letters and the erasure audit.
--
-- No role writes any Phoenix table directly: every change goes through a
-- Phoenix function running as the extension owner (SECURITY DEFINER with a
-- pinned search_path, or emit/forget switching to the owner in C).
-- ---------------------------------------------------------------------------

-- 1. Nothing for anyone but the owner: PostgreSQL's defaults (EXECUTE on
--    functions to PUBLIC) and, on an upgrade, whatever an older version
--    granted (ALL on reporting tables to admins, INSERT on the log to
--    writers, INSERT on the Kafka outbox, UPDATE on the registry, ...).
DO $reset$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT format('%s %s', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass) AS obj
      FROM pg_catalog.pg_class c
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
       AND (c.relnamespace IN (SELECT n.oid FROM pg_catalog.pg_namespace n
                                WHERE n.nspname IN ('phoenix', 'phoenix_entity', 'reporting', 'api'))
            OR c.oid IN (SELECT pg_catalog.to_regclass(format('%I.%I', p.schema_name, p.table_name))
                           FROM phoenix.projections p))
    UNION ALL
    SELECT format('FUNCTION %s', p.oid::regprocedure)
      FROM pg_catalog.pg_proc p
     WHERE p.pronamespace IN (SELECT n.oid FROM pg_catalog.pg_namespace n
                               WHERE n.nspname IN ('phoenix', 'phoenix_entity', 'api'))
  LOOP
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, phoenix_reader, phoenix_writer, phoenix_admin, phoenix_kafka', r.obj);
  END LOOP;
END
$reset$;
REVOKE ALL ON SCHEMA phoenix, phoenix_entity, reporting, api FROM PUBLIC, phoenix_reader, phoenix_writer, phoenix_admin, phoenix_kafka;
-- (older versions gave readers every future table of reporting this way)
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting REVOKE ALL ON TABLES FROM phoenix_reader, phoenix_writer, phoenix_admin;
REVOKE ALL ON FOREIGN DATA WRAPPER phoenix_kafka FROM PUBLIC;

-- 2. Each role's list.  A role's list includes the one before it (an
--    admin may do everything a writer may, a writer what a reader may).
--    Functions: every overload of the name; a name not there yet (an
--    upgrade from a version without it) is skipped.
DO $grants$
DECLARE
  reader constant jsonb := '{
    "schemas":   ["phoenix", "phoenix_entity", "reporting", "api"],
    "functions": ["get", "history", "asof_join", "schema_errors", "schema_valid",
                  "schema_compatibility", "check_bigquery", "safe_change_seq",
                  "recurrence_occurrences", "enable_live_rows"],
    "select":    ["entity_catalog", "projection_catalog", "event_types_v",
                  "subscription_status", "change_seq"]}';
  writer constant jsonb := '{
    "functions": ["emit", "emit_batch", "ingest_csv", "apply_due", "next_change_seq"]}';
  admin constant jsonb := '{
    "functions": ["create_entity", "drop_entity", "put", "retract",
                  "create_event_type", "drop_event_type", "replay_dead_letters",
                  "create_projection", "drop_projection", "rebuild_projection",
                  "schedule_apply_due",
                  "create_subscription", "drop_subscription",
                  "pause_subscription", "resume_subscription",
                  "create_publication", "drop_publication",
                  "forget", "forget_vacuum_commands",
                  "export", "schedule_export", "unschedule_export"],
    "select":    ["event_log", "dead_letters", "event_types", "event_type_versions",
                  "projections", "projection_steps", "projection_due", "projection_progress",
                  "kafka_subscriptions", "kafka_offsets", "kafka_partition_stats",
                  "kafka_subscription_state", "kafka_publications", "kafka_publication_state",
                  "publication_status", "erasures", "export_cursors", "export_schedules",
                  "series_horizon"]}';
  lists jsonb;
  r record;
BEGIN
  lists := jsonb_build_object('phoenix_reader', jsonb_build_array(reader),
                              'phoenix_writer', jsonb_build_array(reader, writer),
                              'phoenix_admin', jsonb_build_array(reader, writer, admin));
  FOR r IN
    SELECT format('GRANT USAGE ON SCHEMA %I TO %I', s.name, l.role) AS cmd
      FROM jsonb_each(lists) l(role, parts), jsonb_array_elements(l.parts) part,
           jsonb_array_elements_text(coalesce(part -> 'schemas', '[]')) s(name)
    UNION ALL
    SELECT format('GRANT EXECUTE ON FUNCTION %s TO %I', p.oid::regprocedure, l.role)
      FROM jsonb_each(lists) l(role, parts), jsonb_array_elements(l.parts) part,
           jsonb_array_elements_text(coalesce(part -> 'functions', '[]')) f(name)
      JOIN pg_catalog.pg_proc p ON p.proname = f.name AND p.pronamespace = 'phoenix'::regnamespace
    UNION ALL
    SELECT format('GRANT SELECT ON %s %s TO %I', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                  c.oid::regclass, l.role)
      FROM jsonb_each(lists) l(role, parts), jsonb_array_elements(l.parts) part,
           jsonb_array_elements_text(coalesce(part -> 'select', '[]')) t(name)
      JOIN pg_catalog.pg_class c ON c.relname = t.name AND c.relnamespace = 'phoenix'::regnamespace
  LOOP
    EXECUTE r.cmd;
  END LOOP;
END
$grants$;

-- 3. Objects made at run time -- each projection's table and _fresh view,
--    each entity's history table, view and as-of functions -- get their
--    privileges here too: the C code calls this right after creating them.
CREATE OR REPLACE FUNCTION phoenix.grant_runtime_privileges(obj oid, kind "char")
  RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF kind = 'f' THEN      -- a function (pg_proc): phoenix_entity.<entity>_at / _asof
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', obj::regprocedure);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO phoenix_reader, phoenix_writer, phoenix_admin',
                   obj::regprocedure);
  ELSE                    -- a table or view (pg_class): readable, never writable
    EXECUTE format('REVOKE ALL ON TABLE %s FROM PUBLIC', obj::regclass);
    EXECUTE format('GRANT SELECT ON TABLE %s TO phoenix_reader, phoenix_writer, phoenix_admin',
                   obj::regclass);
  END IF;
END
$fn$;
COMMENT ON FUNCTION phoenix.grant_runtime_privileges(oid, "char") IS
  'Phoenix (internal): the privileges of a reporting table or view, entity table, view or as-of function made at run time (the owner''s only)';
REVOKE ALL ON FUNCTION phoenix.grant_runtime_privileges(oid, "char") FROM PUBLIC;

-- ... and to those an earlier install made.
SELECT phoenix.grant_runtime_privileges(c.oid, 'r')
  FROM pg_catalog.pg_class c
 WHERE c.relkind IN ('r', 'p', 'v', 'm')
   AND NOT c.relispartition
   AND (c.relnamespace = 'phoenix_entity'::regnamespace
        OR c.oid IN (SELECT pg_catalog.to_regclass(format('%I.%I', p.schema_name, p.table_name))
                       FROM phoenix.projections p
                     UNION ALL
                     SELECT pg_catalog.to_regclass(format('%I.%I', p.schema_name, p.table_name || '_fresh'))
                       FROM phoenix.projections p));
SELECT phoenix.grant_runtime_privileges(p.oid, 'f')
  FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'phoenix_entity'::regnamespace;

-- 4. Who runs as the owner.  Functions that write what their callers may
--    not touch run as the extension owner with search_path pinned.  (forget
--    and emit switch to the owner and pin the search path themselves --
--    emit because SECURITY DEFINER ... SET costs 6% of a single event.)
--    Checks that concern the caller (reading a server file in ingest_csv,
--    writing one in export, the role a scheduled export runs as) use the
--    calling role (GetOuterUserId()), never the owner.
DO $definer$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = 'phoenix'::regnamespace
       AND p.proname = ANY (ARRAY[
             'emit_batch', 'ingest_csv', 'replay_dead_letters', 'apply_due',
             'create_entity', 'drop_entity', 'put', 'retract',
             'create_event_type', 'drop_event_type',
             'create_projection', 'drop_projection', 'rebuild_projection',
             'create_subscription', 'drop_subscription', 'pause_subscription', 'resume_subscription',
             'create_publication', 'drop_publication',
             'export', 'schedule_export', 'unschedule_export'])
  LOOP
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
  END LOOP;
END
$definer$;

-- 5. The Universal API's schema (api): thin invoker-rights wrappers and
--    security_invoker views, so every role may call and read them and
--    Phoenix's grants on what they reach decide.
DO $api$
DECLARE
  r record;
BEGIN
  IF pg_catalog.to_regnamespace('api') IS NULL THEN
    RETURN;
  END IF;
  FOR r IN
    -- the wrappers of writing functions and the views of admin-only tables
    -- follow what they reach, so the API's role table reads like Phoenix's
    SELECT format('GRANT EXECUTE ON FUNCTION %s TO %s', p.oid::regprocedure,
                  CASE WHEN p.proname IN ('emit', 'emit_batch') THEN 'phoenix_writer, phoenix_admin'
                       ELSE 'phoenix_reader, phoenix_writer, phoenix_admin' END) AS cmd
      FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'api'::regnamespace
    UNION ALL
    SELECT format('GRANT SELECT ON TABLE %s TO %s', c.oid::regclass,
                  CASE WHEN c.relname IN ('event_log', 'dead_letters') THEN 'phoenix_admin'
                       ELSE 'phoenix_reader, phoenix_writer, phoenix_admin' END)
      FROM pg_catalog.pg_class c WHERE c.relnamespace = 'api'::regnamespace AND c.relkind IN ('r', 'v')
  LOOP
    EXECUTE r.cmd;
  END LOOP;
END
$api$;

-- 6. The Kafka worker's role (phoenix_kafka, NOLOGIN): exactly what the
--    worker's own statements need -- read its configuration, keep offsets,
--    counters and state, dead-letter what cannot be an event, read and empty
--    the outboxes.  Events go through emit with the rights emit_batch has.
--    (SELECT ... FOR KEY SHARE of a subscription needs UPDATE on a column.)
GRANT USAGE ON SCHEMA phoenix TO phoenix_kafka;
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
    IF pg_catalog.to_regclass(g.obj) IS NOT NULL THEN
      EXECUTE format('GRANT %s ON %s %s TO phoenix_kafka', g.privs, g.kind, g.obj);
    END IF;
  END LOOP;
END
$kafka_role$;
