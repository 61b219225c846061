-- ---------------------------------------------------------------------------
-- The Universal API (api/: PostGraphile 4 over schemas api and reporting).
--
-- PostGraphile publishes what it finds in the schemas it is pointed at, so
-- schema api holds exactly Phoenix's public face as GraphQL should see it:
-- thin invoker-rights wrappers (SQL bodies resolved at creation, BEGIN
-- ATOMIC) and security_invoker views.  Every call still runs as the caller,
-- so Phoenix's own grants decide who may do what; the wrappers only give
-- PostGraphile one function per name (it drops overloaded names) and the
-- argument order and names of the GraphQL contract.
--
-- Live rows: a subscriber to a projection gets its inserted and changed rows
-- after commit.  Subscribing attaches a row trigger to the projection's
-- table (once: tables nobody watches pay nothing); at commit the
-- transaction's changed rows are announced by NOTIFY, keys and change
-- numbers only, which is transactional (a rolled-back change is never
-- announced), and the API reads the rows back as the subscriber, so a
-- NOTIFY never carries data past the grants.
-- ---------------------------------------------------------------------------

-- The API's login and the role of requests without a token.  The login is
-- NOINHERIT: on its own it can do nothing; each request runs SET ROLE to the
-- role its token names (a member role), or to phoenix_anonymous, which holds
-- no privilege at all.  Roles are cluster-wide: created once, never members of
-- the extension.  Give the login a password (ALTER ROLE) where the cluster's
-- pg_hba.conf asks for one.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phoenix_anonymous') THEN
    CREATE ROLE phoenix_anonymous NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phoenix_api') THEN
    CREATE ROLE phoenix_api LOGIN NOINHERIT;
  END IF;
  -- memberships may exist already (another database of the cluster)
  IF NOT pg_has_role('phoenix_api', 'phoenix_anonymous', 'MEMBER')
     OR NOT pg_has_role('phoenix_api', 'phoenix_reader', 'MEMBER')
     OR NOT pg_has_role('phoenix_api', 'phoenix_writer', 'MEMBER')
     OR NOT pg_has_role('phoenix_api', 'phoenix_admin', 'MEMBER') THEN
    GRANT phoenix_anonymous, phoenix_reader, phoenix_writer, phoenix_admin TO phoenix_api;
  END IF;
END
$roles$;

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS
  'Phoenix: the public face the Universal API (GraphQL, api/) publishes: thin invoker-rights wrappers and views';
GRANT USAGE ON SCHEMA api TO phoenix_reader, phoenix_writer, phoenix_admin;

-- ---- mutations -------------------------------------------------------------

CREATE FUNCTION api.emit(event_type text, payload jsonb, event_id text DEFAULT NULL,
    effective_at timestamptz DEFAULT NULL, source text DEFAULT NULL, OUT "position" bigint)
  LANGUAGE sql VOLATILE
BEGIN ATOMIC
  SELECT phoenix.emit(event_type, payload, effective_at, event_id, source);
END;
COMMENT ON FUNCTION api.emit(text, jsonb, text, timestamptz, text) IS
  'Validate and log one event, apply it to its entity and projections; returns its log position (phoenix.emit).';

-- emitBatch is a field of its own (api/plugins: a flat { accepted rejected }
-- payload), which calls this wrapper.
CREATE FUNCTION api.emit_batch(events text, source text DEFAULT NULL,
    OUT accepted bigint, OUT rejected bigint)
  LANGUAGE sql VOLATILE
BEGIN ATOMIC
  SELECT b.accepted, b.rejected FROM phoenix.emit_batch(events, source) b;
END;
COMMENT ON FUNCTION api.emit_batch(text, text) IS
  E'@omit\nEmit a JSON array of {"type","payload","event_id","effective_at"}; bad elements go to the dead letters (phoenix.emit_batch).';

-- ---- queries ---------------------------------------------------------------

CREATE FUNCTION api.entity_as_of(entity text, key text, valid_at timestamptz DEFAULT now(),
    known_at timestamptz DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT phoenix.get(entity, key, valid_at, known_at);
END;
COMMENT ON FUNCTION api.entity_as_of(text, text, timestamptz, timestamptz) IS
  'Attributes of an entity key valid at validAt (default now) as known at knownAt (default now); null when it did not exist (phoenix.get).';

CREATE FUNCTION api.entity_history(entity text, key text, known_at timestamptz DEFAULT NULL)
  RETURNS TABLE (valid_from timestamptz, valid_to timestamptz, attributes jsonb,
                 recorded_from timestamptz, recorded_to timestamptz)
  LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT h.valid_from, h.valid_to, h.attributes, h.recorded_from, h.recorded_to
    FROM phoenix.history(entity, key, known_at) h;
END;
COMMENT ON FUNCTION api.entity_history(text, text, timestamptz) IS
  'Versions of an entity key in valid time, as known at knownAt (default now) (phoenix.history).';

CREATE FUNCTION api.schema_errors(event_type text, payload jsonb)
  RETURNS TABLE ("path" text, keyword text, message text)
  LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT e.path, e.keyword, e.message
    FROM phoenix.event_types_v v, phoenix.schema_errors(v.schema, payload) e
   WHERE v.event_type = schema_errors.event_type AND v.is_current;
END;
COMMENT ON FUNCTION api.schema_errors(text, jsonb) IS
  'Why a payload does not match the current schema of its event type: one row per failure (JSON path, keyword, message); none when it is valid (phoenix.schema_errors).';

CREATE VIEW api.event_types WITH (security_invoker = true) AS
  SELECT v.event_type AS name, v.version, v.schema, v.entity, v.key_field, v.sets,
         v.time_field, v.refs, v.compatibility, v.registered_at
    FROM phoenix.event_types_v v
   WHERE v.is_current;
COMMENT ON VIEW api.event_types IS
  'The registered event types with their current version and JSON Schema (clients generate types and forms from it).';

CREATE VIEW api.event_type_versions WITH (security_invoker = true) AS
  SELECT v.event_type, v.version, v.is_current, v.schema, v.entity, v.key_field, v.sets,
         v.time_field, v.refs, v.registered_at
    FROM phoenix.event_types_v v;
COMMENT ON VIEW api.event_type_versions IS 'Every registered version of every event type.';

CREATE VIEW api.event_log WITH (security_invoker = true) AS
  SELECT l.position, l.event_id, l.event_type, l.schema_version, l.payload, l.effective_at,
         l.received_at, l.source, l.source_position
    FROM phoenix.event_log l;
COMMENT ON VIEW api.event_log IS
  'The raw, append-only history of accepted events (readable by whoever may read phoenix.event_log).';

CREATE VIEW api.dead_letters WITH (security_invoker = true) AS
  SELECT d.dead_letter_id, d.event_type, d.event_id, d.raw, d.reason, d.sqlstate, d.source,
         d.source_position, d.effective_at, d.received_at, d.attempts, d.replayed_at,
         d.replayed_position
    FROM phoenix.dead_letters d;
COMMENT ON VIEW api.dead_letters IS
  'Refused events with their reason and SQLSTATE (readable by whoever may read phoenix.dead_letters).';

-- The wrappers decide nothing: every role may call them, and Phoenix's grants
-- on what they call decide.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO phoenix_reader, phoenix_writer, phoenix_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA api TO phoenix_reader, phoenix_writer, phoenix_admin;

-- ---- live rows ---------------------------------------------------------------

-- Row trigger of a watched projection table (src/projection/live_rows.c):
-- collects the row's key (the column named by its argument) and change_seq;
-- just before commit the transaction's rows go out as NOTIFY
-- phoenix_live_rows_<table oid>, payloads {"k":[keys],"s":[change_seqs]}.
-- Writes of a rebuild or of the first fill are not news.
CREATE FUNCTION phoenix.live_rows_notify()
  RETURNS trigger
  AS 'MODULE_PATHNAME', 'phoenix_live_rows_notify' LANGUAGE C;
COMMENT ON FUNCTION phoenix.live_rows_notify() IS
  'Phoenix: row trigger of a watched projection table: announces the changed rows'' keys and change_seq after commit (NOTIFY phoenix_live_rows_<oid>)';

-- Watch a projection: attach the trigger (once) and return its channel.
-- Callable by every Phoenix role through api.live_rows_channel, which checks
-- first that the caller may read the table; it runs as the owner only to
-- create the trigger, with nothing of the caller's in the statement but the
-- catalog's own names.
CREATE FUNCTION phoenix.enable_live_rows(projection text)
  RETURNS text
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p phoenix.projections;
  tbl regclass;
BEGIN
  SELECT * INTO p FROM phoenix.projections WHERE name = projection;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'projection "%" does not exist', projection
      USING ERRCODE = 'undefined_object',
            HINT = 'See phoenix.projection_catalog for the projections.';
  END IF;
  tbl := format('%I.%I', p.schema_name, p.table_name)::regclass;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'phoenix_live_rows') THEN
    EXECUTE format('CREATE TRIGGER phoenix_live_rows AFTER INSERT OR UPDATE ON %s'
                   ' FOR EACH ROW EXECUTE FUNCTION phoenix.live_rows_notify(%L)', tbl, p.pk_column);
  END IF;
  RETURN 'phoenix_live_rows_' || tbl::oid;
END
$$;
COMMENT ON FUNCTION phoenix.enable_live_rows(text) IS
  'Phoenix: make a projection announce its changed rows after commit (attaches the live-rows trigger once); returns the channel';
REVOKE ALL ON FUNCTION phoenix.enable_live_rows(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION phoenix.enable_live_rows(text) TO phoenix_reader, phoenix_writer, phoenix_admin;

-- The channel of a projection's live rows, for a caller who may read it.
CREATE FUNCTION api.live_rows_channel(projection text)
  RETURNS text
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tbl regclass;
BEGIN
  SELECT to_regclass(c.table_name) INTO tbl FROM phoenix.projection_catalog c WHERE c.name = projection;
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'projection "%" does not exist', projection
      USING ERRCODE = 'undefined_object',
            HINT = 'See phoenix.projection_catalog (or the API''s all* connections) for the projections.';
  END IF;
  IF NOT has_table_privilege(tbl, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for projection "%"', projection
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Live rows go to roles that may read the projection''s table.';
  END IF;
  RETURN phoenix.enable_live_rows(projection);
END
$$;
COMMENT ON FUNCTION api.live_rows_channel(text) IS
  E'@omit\nThe NOTIFY channel of a projection''s live rows, for a caller who may read its table.';

-- The announced rows that are still as announced (a row changed again since
-- is announced again with its new change number), read as the caller.
CREATE FUNCTION api.live_rows(projection text, keys text[], seqs bigint[])
  RETURNS SETOF jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tbl regclass;
  pk text;
  pktype text;
BEGIN
  SELECT to_regclass(c.table_name), CASE c.kind WHEN 'latest' THEN c.latest_key ELSE 'event_id' END
    INTO tbl, pk
    FROM phoenix.projection_catalog c WHERE c.name = projection;
  IF tbl IS NULL THEN
    RETURN;
  END IF;
  SELECT format_type(a.atttypid, a.atttypmod) INTO pktype
    FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = pk;
  RETURN QUERY EXECUTE format(
    'SELECT to_jsonb(t) FROM %s t JOIN unnest($1, $2) AS c(k, s)'
    ' ON t.%I = c.k::%s AND t.change_seq = c.s ORDER BY t.change_seq', tbl, pk, pktype)
    USING keys, seqs;
END
$$;
COMMENT ON FUNCTION api.live_rows(text, text[], bigint[]) IS
  E'@omit\nThe rows of a projection with these keys whose change_seq is still the announced one, as JSON, read as the caller.';
REVOKE ALL ON FUNCTION api.live_rows_channel(text), api.live_rows(text, text[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.live_rows_channel(text), api.live_rows(text, text[], bigint[])
  TO phoenix_reader, phoenix_writer, phoenix_admin;

-- A projection created or dropped changes the API's schema: PostGraphile's
-- watch mode (without its own event triggers) reloads on this notification.
CREATE FUNCTION phoenix.api_schema_changed()
  RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM pg_notify('postgraphile_watch', '{"type":"manual"}');
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION phoenix.api_schema_changed() IS
  'Phoenix: tell a running Universal API (PostGraphile watch mode) that the reporting tables changed';
CREATE TRIGGER api_schema_changed AFTER INSERT OR DELETE ON phoenix.projections
  FOR EACH STATEMENT EXECUTE FUNCTION phoenix.api_schema_changed();
