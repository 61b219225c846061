
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

