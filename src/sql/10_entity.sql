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
