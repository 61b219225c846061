
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
