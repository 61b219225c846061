-- phoenix install script, assembled from src/sql/NN_*.sql (one fragment per concern).
\echo Use "CREATE EXTENSION phoenix" to load this file. \quit

-- Roles are cluster-wide: create them once, never as members of the extension.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phoenix_reader') THEN
    CREATE ROLE phoenix_reader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phoenix_writer') THEN
    CREATE ROLE phoenix_writer NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phoenix_admin') THEN
    CREATE ROLE phoenix_admin NOLOGIN;
  END IF;
  -- the Kafka worker's own statements run as this role (it never logs in)
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phoenix_kafka') THEN
    CREATE ROLE phoenix_kafka NOLOGIN;
  END IF;
END
$roles$;


-- Per-entity history tables, current-state views and as-of functions live here.
CREATE SCHEMA phoenix_entity;
COMMENT ON SCHEMA phoenix_entity IS 'Phoenix: one typed bitemporal history table, current view and as-of functions per entity';

-- Reporting tables (projections) land here by default.
CREATE SCHEMA reporting;
COMMENT ON SCHEMA reporting IS 'Phoenix: reporting tables maintained by projections';
-- Entities: bitemporal reference data (catalog, assertions, SQL API).

CREATE TABLE phoenix.entities (
    entity_id   serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    key_name    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE phoenix.entities IS 'Phoenix catalog: one row per entity (bitemporal reference data)';

CREATE TABLE phoenix.attributes (
    entity_id   int NOT NULL REFERENCES phoenix.entities ON DELETE CASCADE,
    name        text NOT NULL,
    type        regtype NOT NULL,
    position    int NOT NULL,
    pii         boolean NOT NULL DEFAULT false,
    ref_entity  text,
    PRIMARY KEY (entity_id, name)
);
COMMENT ON TABLE phoenix.attributes IS 'Phoenix catalog: the typed attributes of each entity, their PII flag and the entity they reference';

-- Every assertion ever made about an entity key, in recorded order: the raw
-- input of the timeline engine.  Open assertions are looked up to find where
-- a late open assertion's coverage ends.
-- No foreign key to phoenix.entities: it would fire a trigger on every write;
-- drop_entity deletes an entity's assertions itself.
CREATE TABLE phoenix.assertions (
    entity_id    int NOT NULL,
    key          text NOT NULL,
    assertion_id bigserial,
    valid_from   timestamptz NOT NULL,
    valid_to     timestamptz NOT NULL,
    is_open      boolean NOT NULL,
    attributes   jsonb NOT NULL,
    origin       text,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (entity_id, key, assertion_id)
);
CREATE INDEX assertions_open_idx ON phoenix.assertions (entity_id, key, valid_from) WHERE is_open;
COMMENT ON TABLE phoenix.assertions IS 'Phoenix: every assertion (put, retract, entity event) in recorded order; attributes holds the asserted values, null meaning absent';

SELECT pg_catalog.pg_extension_config_dump('phoenix.entities', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.entities_entity_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.attributes', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.assertions', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.assertions_assertion_id_seq', '');

CREATE FUNCTION phoenix.create_entity(name text, key text, attributes jsonb,
                                      pii text[] DEFAULT '{}', refs jsonb DEFAULT '{}')
RETURNS regclass
AS 'MODULE_PATHNAME', 'phoenix_create_entity'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.create_entity(text, text, jsonb, text[], jsonb) IS
  'Create a bitemporal entity: attributes {"name":"type"}, pii attribute names, refs {"attribute":"entity"}; returns its history table';

CREATE FUNCTION phoenix.drop_entity(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'phoenix_drop_entity'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.drop_entity(text) IS
  'Drop an entity, its history table, view, as-of functions and assertions';

CREATE FUNCTION phoenix.put(entity text, key text, attributes jsonb,
                            valid_from timestamptz DEFAULT now(),
                            valid_to timestamptz DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'phoenix_put'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.put(text, text, jsonb, timestamptz, timestamptz) IS
  'Assert attribute values of an entity key: open from valid_from (no valid_to), or bounded over [valid_from, valid_to)';

CREATE FUNCTION phoenix.retract(entity text, key text,
                                valid_from timestamptz DEFAULT now(),
                                valid_to timestamptz DEFAULT 'infinity')
RETURNS void
AS 'MODULE_PATHNAME', 'phoenix_retract'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.retract(text, text, timestamptz, timestamptz) IS
  'Assert that an entity key does not exist over [valid_from, valid_to)';

CREATE FUNCTION phoenix.get(entity text, key text,
                            valid_at timestamptz DEFAULT now(),
                            known_at timestamptz DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'phoenix_get'
LANGUAGE C STABLE;
COMMENT ON FUNCTION phoenix.get(text, text, timestamptz, timestamptz) IS
  'Attributes of an entity key valid at valid_at as known at known_at (NULL: as known now); NULL when it did not exist';

CREATE FUNCTION phoenix.history(entity text, key text, known_at timestamptz DEFAULT NULL)
RETURNS TABLE (valid_from timestamptz, valid_to timestamptz, attributes jsonb,
               recorded_from timestamptz, recorded_to timestamptz)
AS 'MODULE_PATHNAME', 'phoenix_history'
LANGUAGE C STABLE;
COMMENT ON FUNCTION phoenix.history(text, text, timestamptz) IS
  'Versions of an entity key in valid time, as known at known_at (NULL: as known now)';

CREATE VIEW phoenix.entity_catalog AS
SELECT e.name AS entity, e.key_name AS key,
       format('phoenix_entity.%I', e.name || '_history')::regclass AS history_table,
       a.name AS attribute, a.type, a.pii, a.ref_entity
  FROM phoenix.entities e
  LEFT JOIN phoenix.attributes a USING (entity_id);
COMMENT ON VIEW phoenix.entity_catalog IS 'Phoenix: entities, their attributes, types, PII flags and references';

CREATE FUNCTION phoenix.asof_join(entity text, query text, known_at timestamptz DEFAULT NULL)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'phoenix_asof_join'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.asof_join(text, text, timestamptz) IS
  'Hash as-of join: each row of query (key text, at timestamptz, ...) followed by the entity''s attributes valid at that time, as known at known_at (NULL: now)';

-- JSON Schema: the validator behind the schema registry, and schema evolution
-- checks (src/jsonschema.c, src/schemacompat.c).
CREATE FUNCTION phoenix.schema_errors(schema jsonb, instance jsonb)
RETURNS TABLE(path text, keyword text, message text)
AS 'MODULE_PATHNAME', 'phoenix_schema_errors'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 5;
COMMENT ON FUNCTION phoenix.schema_errors(jsonb, jsonb) IS
  'Phoenix: validate instance against a JSON Schema (2020-12 subset); one row per error (JSON path, keyword, message), none when valid';

CREATE FUNCTION phoenix.schema_valid(schema jsonb, instance jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'phoenix_schema_valid'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION phoenix.schema_valid(jsonb, jsonb) IS
  'Phoenix: true when instance is valid against the JSON Schema (the validator of schema_errors, stopping at the first error)';

CREATE FUNCTION phoenix.schema_compatibility(old jsonb, new jsonb, mode text DEFAULT 'backward')
RETURNS TABLE(compatible boolean, message text)
AS 'MODULE_PATHNAME', 'phoenix_schema_compatibility'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION phoenix.schema_compatibility(jsonb, jsonb, text) IS
  'Phoenix: may schema new follow schema old under mode (backward, forward, full, none, *_transitive)? Confluent Schema Registry''s JSON Schema rules; message names the field and rule that break it';

-- ---------------------------------------------------------------------------
-- Event types — the schema registry (src/registry.c).
-- ---------------------------------------------------------------------------

-- One row per event type: what is fixed for the type across versions.
CREATE TABLE phoenix.event_types (
  name          text PRIMARY KEY,
  entity        text,                -- entity whose attributes this type sets, or NULL
  compatibility text NOT NULL DEFAULT 'backward'
                CHECK (compatibility IN ('backward', 'backward_transitive', 'forward',
                                         'forward_transitive', 'full', 'full_transitive', 'none')),
  created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE phoenix.event_types IS 'Phoenix: registered event types (one row per type; versions in phoenix.event_type_versions)';

-- One row per registered version: the schema and how payloads map to the entity.
CREATE TABLE phoenix.event_type_versions (
  event_type    text NOT NULL REFERENCES phoenix.event_types (name) ON DELETE CASCADE,
  version       integer NOT NULL CHECK (version > 0),
  schema        jsonb NOT NULL,
  key_field     text,                -- payload field holding the entity key
  sets          jsonb,               -- {"payloadField": "attribute", ...}
  time_field    text,                -- payload field holding the effective time
  refs          jsonb,               -- {"payloadField": "entity" | "entity.attribute", ...}
  recurrence    jsonb,               -- booking series: {"rule","timezone","except","series"} payload fields
  registered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_type, version)
);
COMMENT ON TABLE phoenix.event_type_versions IS 'Phoenix: every registered version of every event type; events are validated against the newest';

CREATE VIEW phoenix.event_types_v AS
  SELECT t.name AS event_type, v.version,
         v.version = max(v.version) OVER (PARTITION BY t.name) AS is_current,
         t.entity, v.key_field, v.sets, v.time_field, v.refs, t.compatibility,
         v.schema, v.registered_at, v.recurrence
    FROM phoenix.event_types t
    JOIN phoenix.event_type_versions v ON v.event_type = t.name;
COMMENT ON VIEW phoenix.event_types_v IS 'Phoenix: event types and all their versions (is_current marks the version new events are validated against)';

CREATE FUNCTION phoenix.create_event_type(name text, schema jsonb,
    entity text DEFAULT NULL, key_field text DEFAULT NULL, sets jsonb DEFAULT NULL,
    time_field text DEFAULT NULL, refs jsonb DEFAULT NULL, compatibility text DEFAULT NULL,
    recurrence jsonb DEFAULT NULL)
  RETURNS integer
  AS 'MODULE_PATHNAME', 'phoenix_create_event_type' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.create_event_type(text, jsonb, text, text, jsonb, text, jsonb, text, jsonb) IS
  'Phoenix: register an event type, or a new compatible version of it; returns the version';

CREATE FUNCTION phoenix.drop_event_type(name text)
  RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_drop_event_type' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION phoenix.drop_event_type(text) IS
  'Phoenix: unregister an event type and all its versions (its events stay in the log)';

SELECT pg_catalog.pg_extension_config_dump('phoenix.event_types', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.event_type_versions', '');


-- ---------------------------------------------------------------------------
-- The event log, idempotency keys and dead letters (src/eventlog.c, src/emit.c).
-- ---------------------------------------------------------------------------

-- Global order of accepted events.  CACHE keeps concurrent writers off the
-- sequence's buffer lock; gaps are harmless.
CREATE SEQUENCE phoenix.event_log_position_seq CACHE 64;

-- Raw, append-only history of every accepted event.  Partitioned by the month
-- the event was received; emit creates partitions as needed
-- (phoenix.event_log_pYYYYMM).
CREATE TABLE phoenix.event_log (
  position        bigint NOT NULL,
  event_id        text COLLATE "C" NOT NULL,
  event_type      text COLLATE "C" NOT NULL,
  schema_version  integer NOT NULL,
  payload         jsonb NOT NULL,
  effective_at    timestamptz NOT NULL,
  received_at     timestamptz NOT NULL,
  source          text,
  source_position text
) PARTITION BY RANGE (received_at);
-- Readers by position: projection rebuilds walk one type's events in
-- position order (an ordered scan of this index, filtered by type, stops
-- after each batch, so a rebuild reads the log once whatever the mix of
-- types); an idempotency check reads an event by position; forget scans a
-- type's events whole.  An integer key appended at
-- the right end is the cheapest index to maintain: (event_type, position)
-- cost a text comparison per step of every insertion, 17% of ingest_csv.
-- Positions are unique: deduplication would only be tried in vain.
-- The index is made on each partition when emit creates it
-- (phoenix.event_log_pYYYYMM_position), not on the partitioned table: an
-- index of the extension's table would be created again, under the
-- partition's index name, by the ATTACH PARTITION of a restore, before the
-- dump's own CREATE INDEX of that name.
COMMENT ON TABLE phoenix.event_log IS 'Phoenix: raw append-only history of accepted events, partitioned by received month';

-- Idempotency keys: one row per event_id (given or generated), unique, so a repeat
-- is found by one index probe instead of a scan of the partitioned log.
-- Ids and type names compare byte-wise (COLLATE "C"): they are identifiers,
-- and a locale-aware comparison per index probe costs several times as much.
CREATE TABLE phoenix.event_ids (
  event_id      text COLLATE "C" PRIMARY KEY,
  position      bigint NOT NULL,
  payload_hash  bigint NOT NULL      -- of the type and the payload's jsonb bytes (src/emit.c)
);
COMMENT ON TABLE phoenix.event_ids IS 'Phoenix: every event id and the log position it was accepted at (idempotency)';

-- What bulk paths refused: the raw input, why, and where it came from.
CREATE TABLE phoenix.dead_letters (
  dead_letter_id    bigserial PRIMARY KEY,
  event_type        text,
  event_id          text,
  raw               text NOT NULL,
  reason            text NOT NULL,
  sqlstate          text,
  source            text,
  source_position   text,
  effective_at      timestamptz,       -- the explicit effective time given, if any
  replayable        boolean NOT NULL DEFAULT true,  -- false: raw is a CSV line or batch element, not a payload
  received_at       timestamptz NOT NULL DEFAULT now(),
  attempts          integer NOT NULL DEFAULT 1,
  replayed_at       timestamptz,
  replayed_position bigint
);
CREATE INDEX dead_letters_pending ON phoenix.dead_letters (event_type, dead_letter_id) WHERE replayed_at IS NULL AND replayable;
COMMENT ON TABLE phoenix.dead_letters IS 'Phoenix: refused events with reason and source position; replay with phoenix.replay_dead_letters';

SELECT pg_catalog.pg_extension_config_dump('phoenix.event_ids', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.dead_letters', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.event_log_position_seq', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.dead_letters_dead_letter_id_seq', '');


-- ---------------------------------------------------------------------------
-- Emitting (src/emit.c, src/csv.c).
-- ---------------------------------------------------------------------------

CREATE FUNCTION phoenix.emit(event_type text, payload jsonb, effective_at timestamptz DEFAULT NULL,
    event_id text DEFAULT NULL, source text DEFAULT NULL)
  RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_emit' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.emit(text, jsonb, timestamptz, text, text) IS
  'Phoenix: validate and log one event, apply it to its entity and projections; returns its log position';

CREATE FUNCTION phoenix.emit(event_type text, payload text, effective_at timestamptz DEFAULT NULL,
    event_id text DEFAULT NULL, source text DEFAULT NULL)
  RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_emit_text' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.emit(text, text, timestamptz, text, text) IS
  'Phoenix: emit for a payload sent as JSON text (a literal): read in one pass, then as the jsonb form';

CREATE FUNCTION phoenix.emit_batch(events jsonb, source text DEFAULT NULL,
    OUT accepted bigint, OUT rejected bigint)
  AS 'MODULE_PATHNAME', 'phoenix_emit_batch' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.emit_batch(jsonb, text) IS
  'Phoenix: emit an array of {"type","payload","event_id","effective_at"} objects; bad ones go to phoenix.dead_letters';

CREATE FUNCTION phoenix.emit_batch(events text, source text DEFAULT NULL,
    OUT accepted bigint, OUT rejected bigint)
  AS 'MODULE_PATHNAME', 'phoenix_emit_batch_text' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.emit_batch(text, text) IS
  'Phoenix: emit_batch for a batch sent as JSON text (a literal): parsed element by element, never as one jsonb value';

CREATE FUNCTION phoenix.ingest_csv(event_type text, csv text, source text DEFAULT NULL,
    delimiter text DEFAULT ',', id_field text DEFAULT NULL, OUT accepted bigint, OUT rejected bigint)
  AS 'MODULE_PATHNAME', 'phoenix_ingest_csv' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.ingest_csv(text, text, text, text, text) IS
  'Phoenix: emit one event per CSV row (header names payload fields; id_field: the column holding event ids); csv is a server file path or CSV text';

CREATE FUNCTION phoenix.replay_dead_letters(event_type text DEFAULT NULL, dead_letter_ids bigint[] DEFAULT NULL,
    OUT replayed bigint, OUT rejected bigint)
  AS 'MODULE_PATHNAME', 'phoenix_replay_dead_letters' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.replay_dead_letters(text, bigint[]) IS
  'Phoenix: re-emit pending dead letters (e.g. after a schema fix); accepted ones are marked replayed';

-- Booking series: what a recurring event expands to (src/ingest/recurrence.c),
-- for trying rules.  libical iterates the rule in local wall time from
-- first_at read in timezone; PostgreSQL turns each occurrence into an instant.
CREATE FUNCTION phoenix.recurrence_occurrences(rule text, first_at timestamptz, timezone text,
    skip date[] DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE(occurrence_at timestamptz, occurrence_local timestamp, occurrence_date date)
AS 'MODULE_PATHNAME', 'phoenix_recurrence_occurrences'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION phoenix.recurrence_occurrences(text, timestamptz, text, date[], timestamptz) IS
  'Phoenix: the occurrences of an RFC 5545 RRULE starting at first_at in timezone (skipping local dates in skip, instants from until on), as a recurring event type expands them';
-- ---------------------------------------------------------------------------
-- Projections: reporting tables enriched as of each event's time, kept right
-- by the cascade (src/projection.c, src/cascade.c).
-- ---------------------------------------------------------------------------

-- One row per projection.  The generated SQL is kept beside the definition
-- so that every backend prepares the same statements without re-deriving
-- them, and so that an operator can read what runs.
CREATE TABLE phoenix.projections (
  projection_id  serial PRIMARY KEY,
  name           text NOT NULL UNIQUE,
  schema_name    text NOT NULL,
  table_name     text NOT NULL,
  source         text NOT NULL,            -- event type feeding the projection
  kind           text NOT NULL CHECK (kind IN ('events', 'latest')),
  latest_key     text,                     -- kind = 'latest': the column keeping one row per value
  fresh_for      interval,                 -- kind = 'latest': window of the companion _fresh view
  columns        jsonb NOT NULL,           -- [{"name","path","type"}]
  enrich         jsonb NOT NULL,           -- as given
  derive         jsonb NOT NULL,           -- {"column": "expression"}
  pk_column      text NOT NULL,            -- event_id, or latest_key
  src_columns    text NOT NULL,            -- columns a recomputation reads back from the table
  out_columns    text NOT NULL,            -- columns a recomputation rewrites
  row_lateral    text NOT NULL,            -- row computation over %SRC%, index lookups
  row_join       text NOT NULL,            -- row computation over %SRC%, set-based joins
  payload_src    text NOT NULL,            -- %SRC% over a batch of payloads ($1..$4 arrays)
  log_src        text NOT NULL,            -- %SRC% over a range of the event log
  horizon        interval,                 -- recurring source: series materialised up to now() + horizon
  created_at     timestamptz NOT NULL DEFAULT now(),
  rebuilt_at     timestamptz,
  UNIQUE (schema_name, table_name)
);
COMMENT ON TABLE phoenix.projections IS
  'Phoenix catalog: projections (reporting tables fed by an event type) and their generated SQL';

-- One row per enrichment step, in evaluation order: what the cascade needs to
-- find dependent rows of a changed entity key.
CREATE TABLE phoenix.projection_steps (
  projection_id   int NOT NULL REFERENCES phoenix.projections ON DELETE CASCADE,
  step            int NOT NULL,
  entity          text NOT NULL,
  prefix          text NOT NULL,           -- output columns are <prefix>_<attribute>
  key_column      text NOT NULL,           -- table column holding the key (or the by value)
  key_path        text[],                  -- payload path of key_column when it is mapped (for locks)
  by_attribute    text,                    -- match on this attribute instead of the key
  match_column    text NOT NULL,           -- table column holding the matched entity key
  event_time      text[] NOT NULL,         -- attributes as of the row's effective time
  current         text[] NOT NULL,         -- attributes valid now
  row_lateral     text NOT NULL,           -- recomputation of this step and its chain over %SRC%, lookups
  row_join        text NOT NULL,           -- the same, set-based joins
  PRIMARY KEY (projection_id, step)
);
COMMENT ON TABLE phoenix.projection_steps IS
  'Phoenix catalog: the enrichment steps of each projection, in evaluation order';

-- Future-dated changes of attributes that some projection reads as `current`:
-- applied by phoenix.apply_due() when their time comes (emit checks at most
-- once a second per backend; pg_cron runs it every minute once scheduled).
CREATE TABLE phoenix.projection_due (
  entity    text NOT NULL,
  key       text NOT NULL,
  due_at    timestamptz NOT NULL,
  PRIMARY KEY (entity, key, due_at)
);
CREATE INDEX projection_due_at ON phoenix.projection_due (due_at);
COMMENT ON TABLE phoenix.projection_due IS
  'Phoenix: future-dated changes of current-mode attributes, waiting for their time';

-- Booking series that go on past their projection's horizon: apply_due
-- expands each again from its latest event once extend_at has come
-- (src/projection/series.c).
CREATE TABLE phoenix.series_horizon (
  projection_id int NOT NULL REFERENCES phoenix.projections ON DELETE CASCADE,
  series_id     text NOT NULL,
  position      bigint NOT NULL,             -- the series' latest event in the log
  extend_at     timestamptz NOT NULL,
  PRIMARY KEY (projection_id, series_id)
);
CREATE INDEX series_horizon_extend_at ON phoenix.series_horizon (extend_at);
COMMENT ON TABLE phoenix.series_horizon IS
  'Phoenix: booking series materialised up to their projection''s horizon, waiting to be extended';

SELECT pg_catalog.pg_extension_config_dump('phoenix.projections', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.projections_projection_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.projection_steps', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.projection_due', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.series_horizon', '');

CREATE FUNCTION phoenix.create_projection(name text, source text,
    columns jsonb DEFAULT '{}', enrich jsonb DEFAULT '[]', derive jsonb DEFAULT '{}',
    schema text DEFAULT 'reporting', kind text DEFAULT 'events',
    latest_key text DEFAULT NULL, fresh_for interval DEFAULT NULL, horizon interval DEFAULT NULL)
  RETURNS regclass
  AS 'MODULE_PATHNAME', 'phoenix_create_projection' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.create_projection(text, text, jsonb, jsonb, jsonb, text, text, text, interval, interval) IS
  'Phoenix: create a reporting table fed by an event type, enriched as of each event''s time, and fill it from the log';

CREATE FUNCTION phoenix.drop_projection(name text)
  RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_drop_projection' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION phoenix.drop_projection(text) IS
  'Phoenix: drop a projection and its reporting table';

CREATE FUNCTION phoenix.rebuild_projection(name text, batch_size integer DEFAULT 50000)
  RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_rebuild_projection' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION phoenix.rebuild_projection(text, integer) IS
  'Phoenix: recompute a projection from the event log in batches (progress: NOTICEs and phoenix.projection_progress); returns its row count';

CREATE FUNCTION phoenix.apply_due()
  RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_apply_due' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.apply_due() IS
  'Phoenix: apply future-dated changes of current-mode attributes whose time has come; returns how many were applied';

-- pg_cron is optional: schedule the due-list tick only where it is installed.
CREATE FUNCTION phoenix.schedule_apply_due(schedule text DEFAULT '* * * * *')
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in this database'
      USING ERRCODE = 'undefined_object',
            HINT = 'CREATE EXTENSION pg_cron (cron.database_name must name this database), or call phoenix.apply_due() from your own scheduler.';
  END IF;
  RETURN cron.schedule('phoenix_apply_due', schedule, 'SELECT phoenix.apply_due()');
END
$$;
COMMENT ON FUNCTION phoenix.schedule_apply_due(text) IS
  'Phoenix: schedule phoenix.apply_due() with pg_cron (job phoenix_apply_due; default every minute)';

-- The catalog as an analyst reads it.
CREATE VIEW phoenix.projection_catalog AS
SELECT p.name, format('%I.%I', p.schema_name, p.table_name) AS table_name, p.source, p.kind,
       p.latest_key, p.fresh_for, p.columns, p.enrich, p.derive,
       (SELECT array_agg(format('%s(%s%s): event_time=%s current=%s', s.entity, s.key_column,
                                coalesce(' by ' || s.by_attribute, ''), s.event_time, s.current)
                         ORDER BY s.step)
          FROM phoenix.projection_steps s WHERE s.projection_id = p.projection_id) AS steps,
       c.reltuples::bigint AS estimated_rows, p.created_at, p.rebuilt_at, p.horizon
  FROM phoenix.projections p
  LEFT JOIN pg_catalog.pg_class c
         ON c.oid = pg_catalog.to_regclass(format('%I.%I', p.schema_name, p.table_name));
COMMENT ON VIEW phoenix.projection_catalog IS
  'Phoenix: every projection, its source, columns, enrichment steps and size';

-- Rebuilds report progress through the backend progress counters (the same
-- machinery as pg_stat_progress_copy): watch from any session.
CREATE VIEW phoenix.projection_progress AS
SELECT s.pid, p.name AS projection,
       s.param3 AS events_done, s.param2 AS events_total,
       CASE WHEN s.param2 > 0 THEN round(100.0 * s.param3 / s.param2, 1) END AS percent,
       a.xact_start AS started_at
  FROM pg_catalog.pg_stat_get_progress_info('COPY') s
  JOIN phoenix.projections p
    ON s.relid = pg_catalog.to_regclass(format('%I.%I', p.schema_name, p.table_name))
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = s.pid;
COMMENT ON VIEW phoenix.projection_progress IS
  'Phoenix: running projection rebuilds: events done of total';


-- ---------------------------------------------------------------------------
-- Forgetting a person (src/forget.c): the pseudonym secret, tombstones, the
-- audit of erasures, and the SQL API.
--
-- Every table here is readable only by the extension owner, except the audit
-- (phoenix_admin may read it).  forget() checks its caller's role itself and
-- does its work as the owner, so phoenix_admin needs no write access to
-- history tables, the event log or dead letters.
-- ---------------------------------------------------------------------------

-- The per-database secret of the keyed pseudonyms (HMAC-SHA256).  One row,
-- made by the first forget from the server's strong random source (two v4
-- UUIDs: 244 random bits) — not here: the table is dumped as configuration,
-- and a restore brings the row it had.  The GUC phoenix.forget_secret, when
-- set, is used instead.
CREATE TABLE phoenix.forget_secret (
  one         boolean PRIMARY KEY DEFAULT true CHECK (one),
  secret      bytea NOT NULL CHECK (length(secret) >= 16),
  created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE phoenix.forget_secret IS
  'Phoenix: the secret key of erasure pseudonyms and hashes (owner only; phoenix.forget_secret GUC overrides)';

-- Tombstones: keys that were forgotten (as keyed hashes), and keyed hashes of
-- every PII value they ever had, with the valid periods in which the value
-- was theirs, so that late events naming them by value then are recognised
-- without keeping the value (and events naming it when someone else held it
-- are not).
CREATE TABLE phoenix.forgotten_keys (
  entity_id    int NOT NULL REFERENCES phoenix.entities ON DELETE CASCADE,
  key_hash     bytea NOT NULL,
  forgotten_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (entity_id, key_hash)
);
COMMENT ON TABLE phoenix.forgotten_keys IS
  'Phoenix tombstones: keyed hashes (HMAC-SHA256) of forgotten entity keys; events about them are scrubbed on arrival';

CREATE TABLE phoenix.forgotten_values (
  entity_id    int NOT NULL REFERENCES phoenix.entities ON DELETE CASCADE,
  attribute    text NOT NULL,
  value_hash   bytea NOT NULL,
  key_hash     bytea NOT NULL,           -- whose: the forgotten key's keyed hash
  periods      tstzmultirange NOT NULL DEFAULT '{}',
  PRIMARY KEY (entity_id, attribute, value_hash, key_hash)
);
COMMENT ON TABLE phoenix.forgotten_values IS
  'Phoenix tombstones: keyed hashes of every PII attribute value a forgotten key had, and when it was theirs (recognises late events naming them by value)';

-- The audit of erasures: no PII (the key only as its keyed hash).
CREATE TABLE phoenix.erasures (
  erasure_id   bigserial PRIMARY KEY,
  entity       text NOT NULL,
  key_hash     text NOT NULL,
  erased_at    timestamptz NOT NULL DEFAULT now(),
  erased_by    name NOT NULL,
  reason       text,
  scrubbed     jsonb NOT NULL
);
COMMENT ON TABLE phoenix.erasures IS
  'Phoenix audit: every phoenix.forget call (entity, keyed hash of the key, when, by whom, reason, rows scrubbed per table); holds no PII';

SELECT pg_catalog.pg_extension_config_dump('phoenix.forget_secret', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.forgotten_keys', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.forgotten_values', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.erasures', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.erasures_erasure_id_seq', '');


CREATE FUNCTION phoenix.forget(entity text, key text, reason text DEFAULT NULL)
  RETURNS jsonb
  AS 'MODULE_PATHNAME', 'phoenix_forget' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.forget(text, text, text) IS
  'Phoenix: erase every PII value of an entity key everywhere Phoenix stored it (keyed pseudonyms), leave a tombstone, audit; returns rows scrubbed per table';

-- A thin wrapper over the audit: VACUUM itself cannot run inside a function.
CREATE FUNCTION phoenix.forget_vacuum_commands()
  RETURNS SETOF text
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT format('VACUUM %s', to_regclass(t.relation))
      FROM (SELECT DISTINCT s.key AS relation
              FROM phoenix.erasures e, jsonb_each_text(e.scrubbed) s
             WHERE s.value::bigint > 0) t
     WHERE to_regclass(t.relation) IS NOT NULL
     ORDER BY 1
  $$;
COMMENT ON FUNCTION phoenix.forget_vacuum_commands() IS
  'Phoenix: one VACUUM command per table an erasure rewrote (run them with \gexec: VACUUM cannot run inside a function)';

-- Kafka foreign-data wrapper: a topic as a foreign table (src/kafka_fdw.c).
CREATE FUNCTION phoenix.kafka_fdw_handler() RETURNS fdw_handler
  AS 'MODULE_PATHNAME', 'phoenix_kafka_fdw_handler' LANGUAGE C STRICT;
CREATE FUNCTION phoenix.kafka_fdw_validator(text[], oid) RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_kafka_fdw_validator' LANGUAGE C STRICT;
COMMENT ON FUNCTION phoenix.kafka_fdw_handler() IS 'Phoenix: handler of the phoenix_kafka foreign-data wrapper';
COMMENT ON FUNCTION phoenix.kafka_fdw_validator(text[], oid) IS 'Phoenix: validates phoenix_kafka server, user mapping and table options (librdkafka properties checked by librdkafka)';

CREATE FOREIGN DATA WRAPPER phoenix_kafka
  HANDLER phoenix.kafka_fdw_handler VALIDATOR phoenix.kafka_fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER phoenix_kafka IS 'Phoenix: Kafka topics as foreign tables (partition, offset, key, value, timestamp, headers), partition and offset conditions pushed down';
-- Kafka subscriptions: catalog, offsets, status (src/kafka_admin.c, src/kafka_worker.c).

CREATE TABLE phoenix.kafka_subscriptions (
  name               text PRIMARY KEY CHECK (name ~ '^[a-z_][a-z0-9_]{0,62}$'),
  topic              text NOT NULL CHECK (topic ~ '^[A-Za-z0-9._-]{1,249}$'),
  event_type         text,          -- fixed type, or the fallback of header/field
  event_type_header  text,          -- take the type from this message header
  event_type_field   text,          -- or from this top-level payload field
  event_id_header    text,          -- idempotency key from this header
  brokers            text NOT NULL,
  group_id           text NOT NULL,
  options            jsonb NOT NULL DEFAULT '{}',  -- librdkafka properties
  max_message_bytes  integer CHECK (max_message_bytes > 0),
  enabled            boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (event_type IS NOT NULL OR event_type_header IS NOT NULL OR event_type_field IS NOT NULL),
  CHECK (jsonb_typeof(options) = 'object')
);
COMMENT ON TABLE phoenix.kafka_subscriptions IS 'Phoenix: Kafka topics consumed into the event log by the background worker (phoenix.create_subscription)';

-- The position of each consumer group in each partition, written in the
-- transaction that applies the messages before it: the source of truth for
-- where consumption resumes (Kafka's own committed offsets are not used).
CREATE TABLE phoenix.kafka_offsets (
  group_id     text NOT NULL,
  topic        text NOT NULL,
  partition    integer NOT NULL,
  next_offset  bigint NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition)
);
COMMENT ON TABLE phoenix.kafka_offsets IS 'Phoenix: next Kafka offset to apply per consumer group and partition, committed with the events';

-- Counters per subscription and partition, updated with every batch.
CREATE TABLE phoenix.kafka_partition_stats (
  subscription    text NOT NULL REFERENCES phoenix.kafka_subscriptions ON DELETE CASCADE,
  partition       integer NOT NULL,
  high_watermark  bigint,
  accepted        bigint NOT NULL DEFAULT 0,
  dead_lettered   bigint NOT NULL DEFAULT 0,
  batches         bigint NOT NULL DEFAULT 0,
  rate            double precision,   -- messages/s, smoothed over recent batches
  last_batch_at   timestamptz,
  PRIMARY KEY (subscription, partition)
);
COMMENT ON TABLE phoenix.kafka_partition_stats IS 'Phoenix: per-partition counters of a subscription, written by the worker with each batch';

-- Worker-side state of a subscription (kept apart from the catalog so that
-- writing it does not count as a configuration change).
CREATE TABLE phoenix.kafka_subscription_state (
  subscription   text PRIMARY KEY REFERENCES phoenix.kafka_subscriptions ON DELETE CASCADE,
  last_error     text,
  last_error_at  timestamptz,
  assigned       integer[],          -- partitions assigned to this member now
  assigned_at    timestamptz,
  worker_role    name                -- the role the worker ran as (phoenix_kafka)
);
COMMENT ON TABLE phoenix.kafka_subscription_state IS 'Phoenix: last error and current assignment of each subscription, written by the worker';

CREATE VIEW phoenix.subscription_status AS
SELECT s.name AS subscription, s.topic, s.group_id,
       CASE WHEN s.enabled THEN 'running' ELSE 'paused' END AS state,
       p.partition,
       o.next_offset AS committed_offset,
       p.high_watermark,
       greatest(p.high_watermark - coalesce(o.next_offset, 0), 0) AS lag,
       coalesce(p.accepted, 0) AS accepted,
       coalesce(p.dead_lettered, 0) AS dead_lettered,
       p.rate,
       p.last_batch_at,
       st.last_error,
       st.last_error_at
  FROM phoenix.kafka_subscriptions s
  LEFT JOIN phoenix.kafka_partition_stats p ON p.subscription = s.name
  LEFT JOIN phoenix.kafka_offsets o
         ON o.group_id = s.group_id AND o.topic = s.topic AND o.partition = p.partition
  LEFT JOIN phoenix.kafka_subscription_state st ON st.subscription = s.name;
COMMENT ON VIEW phoenix.subscription_status IS 'Phoenix: per subscription and partition: committed offset, high watermark, lag, accepted and dead-lettered counts, rate, last error';

CREATE FUNCTION phoenix.create_subscription(
    name text, topic text, event_type text DEFAULT NULL, brokers text DEFAULT NULL,
    group_id text DEFAULT NULL, event_type_header text DEFAULT NULL,
    event_type_field text DEFAULT NULL, event_id_header text DEFAULT 'event_id',
    options jsonb DEFAULT '{}', max_message_bytes integer DEFAULT NULL,
    enabled boolean DEFAULT true)
  RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_create_subscription' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.create_subscription(text, text, text, text, text, text, text, text, jsonb, integer, boolean) IS
  'Phoenix: consume a Kafka topic into the event log (event type fixed, or from a header or payload field); librdkafka options checked';

CREATE FUNCTION phoenix.drop_subscription(name text, if_exists boolean DEFAULT false)
  RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_drop_subscription' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.drop_subscription(text, boolean) IS
  'Phoenix: stop consuming and forget a subscription (its group''s offsets go when no subscription uses them)';

CREATE FUNCTION phoenix.pause_subscription(name text) RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_pause_subscription' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION phoenix.pause_subscription(text) IS 'Phoenix: stop consuming a subscription, keeping its offsets';

CREATE FUNCTION phoenix.resume_subscription(name text) RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_resume_subscription' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION phoenix.resume_subscription(text) IS 'Phoenix: resume consuming a paused subscription where it stopped';

-- Any change to the catalog reaches the worker at commit (through shared
-- memory and its latch), whoever makes it.
CREATE FUNCTION phoenix.kafka_config_changed() RETURNS trigger
  AS 'MODULE_PATHNAME', 'phoenix_kafka_config_changed' LANGUAGE C;
COMMENT ON FUNCTION phoenix.kafka_config_changed() IS 'Phoenix: tells the Kafka worker of this database to reload at commit';
CREATE TRIGGER kafka_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON phoenix.kafka_subscriptions FOR EACH STATEMENT EXECUTE FUNCTION phoenix.kafka_config_changed();

SELECT pg_catalog.pg_extension_config_dump('phoenix.kafka_subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.kafka_offsets', '');

-- Kafka publications: projection changes to a topic through an outbox
-- (src/kafka_publish.c).

CREATE TABLE phoenix.kafka_publications (
  publication_id  serial PRIMARY KEY,
  projection      text NOT NULL,
  table_name      regclass NOT NULL,    -- the reporting table
  key_column      text NOT NULL,        -- the message key: event_id (or the latest key)
  topic           text NOT NULL,
  brokers         text NOT NULL,
  options         jsonb NOT NULL DEFAULT '{}',
  enabled         boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (projection, topic),
  CHECK (jsonb_typeof(options) = 'object')
);
COMMENT ON TABLE phoenix.kafka_publications IS 'Phoenix: projections published to Kafka topics (phoenix.create_publication)';

-- Every change of a published row, written by a trigger in the changing
-- transaction; the worker sends in position order and deletes what the
-- brokers acknowledged.
CREATE TABLE phoenix.kafka_outbox (
  position        bigserial PRIMARY KEY,
  publication_id  integer NOT NULL REFERENCES phoenix.kafka_publications ON DELETE CASCADE,
  key             text NOT NULL,
  op              text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
  row             json,                 -- the row after the change; NULL for delete
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kafka_outbox_publication ON phoenix.kafka_outbox (publication_id, position);
COMMENT ON TABLE phoenix.kafka_outbox IS 'Phoenix: projection changes waiting to be sent to Kafka, in commit order per key';

CREATE TABLE phoenix.kafka_publication_state (
  publication_id  integer PRIMARY KEY REFERENCES phoenix.kafka_publications ON DELETE CASCADE,
  sent            bigint NOT NULL DEFAULT 0,
  last_position   bigint,
  last_sent_at    timestamptz,
  last_error      text,
  last_error_at   timestamptz
);
COMMENT ON TABLE phoenix.kafka_publication_state IS 'Phoenix: what the worker has sent per publication, and its last error';

CREATE VIEW phoenix.publication_status AS
SELECT p.projection, p.topic,
       CASE WHEN p.enabled THEN 'running' ELSE 'paused' END AS state,
       (SELECT count(*) FROM phoenix.kafka_outbox o WHERE o.publication_id = p.publication_id) AS pending,
       coalesce(s.sent, 0) AS sent, s.last_position, s.last_sent_at, s.last_error, s.last_error_at
  FROM phoenix.kafka_publications p
  LEFT JOIN phoenix.kafka_publication_state s USING (publication_id);
COMMENT ON VIEW phoenix.publication_status IS 'Phoenix: per publication: changes waiting, sent, last outbox position sent, last error';

CREATE FUNCTION phoenix.create_publication(projection text, topic text, brokers text,
    options jsonb DEFAULT '{}')
  RETURNS integer
  AS 'MODULE_PATHNAME', 'phoenix_create_publication' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.create_publication(text, text, text, jsonb) IS
  'Phoenix: send every change of a projection''s rows to a Kafka topic, keyed by event_id, at least once, in commit order per key';

CREATE FUNCTION phoenix.drop_publication(projection text, topic text, if_exists boolean DEFAULT false)
  RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_drop_publication' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.drop_publication(text, text, boolean) IS
  'Phoenix: stop publishing a projection to a topic; unsent changes are discarded';

CREATE FUNCTION phoenix.kafka_outbox_capture() RETURNS trigger
  AS 'MODULE_PATHNAME', 'phoenix_kafka_outbox_capture' LANGUAGE C;
COMMENT ON FUNCTION phoenix.kafka_outbox_capture() IS 'Phoenix: trigger writing changes of a published reporting table to the Kafka outbox';

CREATE TRIGGER kafka_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON phoenix.kafka_publications FOR EACH STATEMENT EXECUTE FUNCTION phoenix.kafka_config_changed();

SELECT pg_catalog.pg_extension_config_dump('phoenix.kafka_publications', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.kafka_outbox', '');


-- ---------------------------------------------------------------------------
-- BigQuery readiness: change numbers, the safe watermark, check_bigquery.
-- (src/changeseq.c, src/bigquery.c)
-- ---------------------------------------------------------------------------

-- Every insert or update of a reporting row takes its change_seq from here
-- (through phoenix.next_change_seq(), which also registers the writer for the
-- watermark).  CACHE 1: numbers must be handed out in the order of the calls.
CREATE SEQUENCE IF NOT EXISTS phoenix.change_seq;
ALTER SEQUENCE phoenix.change_seq CACHE 1 NO CYCLE;
COMMENT ON SEQUENCE phoenix.change_seq IS
  'Phoenix: change numbers of reporting rows (column change_seq); allocate with phoenix.next_change_seq()';

CREATE FUNCTION phoenix.next_change_seq() RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_next_change_seq'
  LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION phoenix.next_change_seq() IS
  'Phoenix: the next change number for a reporting row; registers the transaction as an in-flight writer until it ends';

CREATE FUNCTION phoenix.safe_change_seq() RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_safe_change_seq'
  LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION phoenix.safe_change_seq() IS
  'Phoenix: highest change_seq below which every writer has ended; pull change_seq <= this in a later statement and no late commit is skipped';

CREATE FUNCTION phoenix.check_bigquery(schema name DEFAULT 'reporting')
  RETURNS TABLE (table_name text, column_name text, data_type text, reason text, suggested_cast text)
  AS 'MODULE_PATHNAME', 'phoenix_check_bigquery'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION phoenix.check_bigquery(name) IS
  'Phoenix: columns of the schema''s tables and views that BigQuery federated queries cannot read, with the reason and a cast that makes them readable';

-- ---------------------------------------------------------------------------
-- Exports: files in BigQuery load formats, cursors, pg_cron schedules.
-- (src/export.c)
-- ---------------------------------------------------------------------------

-- One cursor per export target: the watermark of the last successful export.
CREATE TABLE phoenix.export_cursors (
  projection      text NOT NULL,
  directory       text NOT NULL,
  format          text NOT NULL CHECK (format IN ('ndjson', 'csv')),
  last_change_seq bigint NOT NULL DEFAULT 0,
  last_file       text,
  last_rows       bigint,
  exported_at     timestamptz,
  exports         bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (projection, directory, format)
);
COMMENT ON TABLE phoenix.export_cursors IS
  'Phoenix: per projection, directory and format, the change_seq up to which rows were exported';
SELECT pg_catalog.pg_extension_config_dump('phoenix.export_cursors', '');

CREATE FUNCTION phoenix.export(projection text, directory text, format text DEFAULT 'ndjson',
                               OUT file text, OUT manifest text, OUT rows bigint,
                               OUT from_change_seq bigint, OUT to_change_seq bigint)
  AS 'MODULE_PATHNAME', 'phoenix_export'
  LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION phoenix.export(text, text, text) IS
  'Phoenix: write the projection''s rows changed since the last export to directory as NDJSON or CSV for bq load, atomically, with a manifest';

-- pg_cron jobs made by schedule_export, so unschedule_export finds them.
CREATE TABLE phoenix.export_schedules (
  projection text NOT NULL,
  directory  text NOT NULL,
  format     text NOT NULL CHECK (format IN ('ndjson', 'csv')),
  schedule   text NOT NULL,
  jobid      bigint NOT NULL,
  PRIMARY KEY (projection, directory, format)
);
COMMENT ON TABLE phoenix.export_schedules IS 'Phoenix: pg_cron jobs that run phoenix.export';
SELECT pg_catalog.pg_extension_config_dump('phoenix.export_schedules', '');

-- DDL glue around pg_cron (an optional dependency, so called dynamically).
CREATE FUNCTION phoenix.schedule_export(projection text, schedule text, directory text,
                                        format text DEFAULT 'ndjson')
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  job bigint;
  cmd text;
BEGIN
  IF format NOT IN ('ndjson', 'csv') THEN
    RAISE EXCEPTION 'unknown export format "%"', format
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''ndjson'' or ''csv''.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM phoenix.projections p WHERE p.name = schedule_export.projection)
     AND to_regclass(format('reporting.%I', projection)) IS NULL THEN
    RAISE EXCEPTION 'projection "%" does not exist', projection
      USING ERRCODE = 'undefined_object', HINT = 'Create it with phoenix.create_projection first.';
  END IF;
  IF to_regnamespace('cron') IS NULL THEN
    RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('pg_cron runs jobs from the database named by cron.database_name (%s).',
                            coalesce(current_setting('cron.database_name', true), 'not set')),
            HINT = 'Run CREATE EXTENSION pg_cron in that database and use Phoenix there, or schedule phoenix.export with cron.schedule_in_database from it.';
  END IF;
  -- pg_cron before 1.5 (Debian 12 ships 1.4) knows only cron syntax; say so
  -- rather than pass on its "invalid schedule"
  IF schedule ~* '^\s*[0-9]+\s*seconds?\s*$' AND
     (SELECT pg_catalog.string_to_array(pg_catalog.split_part(e.extversion, '-', 1), '.')::int[] < '{1,5}'
        FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron % cannot run a job every "%"',
                    (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron'), schedule
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Schedules in seconds need pg_cron 1.5 or later; use cron syntax, e.g. ''* * * * *'' (every minute).';
  END IF;
  cmd := format('SELECT phoenix.export(%L, %L, %L)', projection, directory, format);
  -- The job runs as the calling role, never as the owner this function runs
  -- as: export then checks the caller's right to write server files.  (The
  -- calling role is the session's role, which SECURITY DEFINER leaves as is:
  -- the GetOuterUserId() of C.)
  EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, current_database(), $4)'
    INTO job USING format('phoenix_export %s %s %s', projection, format, directory), schedule, cmd,
                   coalesce(nullif(current_setting('role'), 'none'), session_user);
  INSERT INTO phoenix.export_schedules AS s (projection, directory, format, schedule, jobid)
  VALUES (projection, directory, format, schedule, job)
  ON CONFLICT ON CONSTRAINT export_schedules_pkey
  DO UPDATE SET schedule = EXCLUDED.schedule, jobid = EXCLUDED.jobid;
  RETURN job;
END
$fn$;
COMMENT ON FUNCTION phoenix.schedule_export(text, text, text, text) IS
  'Phoenix: run phoenix.export(projection, directory, format) on a pg_cron schedule; returns the cron job id';

CREATE FUNCTION phoenix.unschedule_export(projection text, directory text DEFAULT NULL,
                                          format text DEFAULT NULL)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN DELETE FROM phoenix.export_schedules s
            WHERE s.projection = unschedule_export.projection
              AND (unschedule_export.directory IS NULL OR s.directory = unschedule_export.directory)
              AND (unschedule_export.format IS NULL OR s.format = unschedule_export.format)
           RETURNING s.jobid
  LOOP
    IF to_regnamespace('cron') IS NOT NULL THEN
      EXECUTE 'SELECT cron.unschedule($1)' USING r.jobid;
    END IF;
    n := n + 1;
  END LOOP;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION phoenix.unschedule_export(text, text, text) IS
  'Phoenix: remove the pg_cron jobs made by schedule_export for the projection (optionally one directory/format); returns how many';

-- ---------------------------------------------------------------------------
-- Logical replication of the reporting schema (e.g. to a Cloud SQL replica
-- that BigQuery federates with).
-- ---------------------------------------------------------------------------

CREATE FUNCTION phoenix.publish_reporting(publication name DEFAULT 'phoenix_reporting',
                                          schema name DEFAULT 'reporting')
  RETURNS name
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  missing text;
BEGIN
  IF to_regnamespace(quote_ident(schema)) IS NULL THEN
    RAISE EXCEPTION 'schema "%" does not exist', schema USING ERRCODE = 'invalid_schema_name';
  END IF;
  -- Updates and deletes of a published table need a replica identity.
  SELECT string_agg(quote_ident(c.relname), ', ' ORDER BY c.relname) INTO missing
    FROM pg_class c
   WHERE c.relnamespace = to_regnamespace(quote_ident(schema)) AND c.relkind IN ('r', 'p')
     AND NOT c.relispartition
     AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
     AND c.relreplident IN ('d', 'n');
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'tables without a primary key cannot be published: %', missing
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Give them a primary key (projections have one: event_id, or the latest key).';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = publication) THEN
    EXECUTE format('ALTER PUBLICATION %I SET TABLES IN SCHEMA %I', publication, schema);
  ELSE
    EXECUTE format('CREATE PUBLICATION %I FOR TABLES IN SCHEMA %I', publication, schema);
  END IF;
  RETURN publication;
END
$fn$;
COMMENT ON FUNCTION phoenix.publish_reporting(name, name) IS
  'Phoenix: publish every table of the reporting schema (now and later) for logical replication; returns the publication name';
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
-- on what they call decide (90_grants.sql grants them).

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
