-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_schema_compatibility;
CREATE DATABASE regress_schema_compatibility;
\c regress_schema_compatibility
\set ECHO all
-- Schema evolution: phoenix.schema_compatibility, Confluent's JSON Schema rules.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse

-- One row per rule: old schema, new schema, and the verdict in each mode.
CREATE TEMP TABLE rule (n int, what text, old jsonb, new jsonb);
INSERT INTO rule VALUES
 (1,  'identical',
      '{"type":"object","properties":{"a":{"type":"string"}}}',
      '{"type":"object","properties":{"a":{"type":"string"}}}'),
 (2,  'optional property added to a closed model',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}'),
 (3,  'property added to an open model',
      '{"type":"object","properties":{"a":{"type":"string"}}}',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}'),
 (4,  'property with an empty schema added to an open model',
      '{"type":"object","properties":{"a":{"type":"string"}}}',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{}}}'),
 (5,  'required property added without a default (closed model)',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["b"],"additionalProperties":false}'),
 (6,  'required property added with a default (closed model)',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer","default":0}},"required":["b"],"additionalProperties":false}'),
 (7,  'existing property becomes required',
      '{"type":"object","properties":{"a":{"type":"string"}}}',
      '{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}'),
 (8,  'required removed',
      '{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}',
      '{"type":"object","properties":{"a":{"type":"string"}}}'),
 (9,  'property removed from an open model',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}',
      '{"type":"object","properties":{"a":{"type":"string"}}}'),
 (10, 'property removed from a closed model',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}'),
 (11, 'property with false schema removed from a closed model',
      '{"type":"object","properties":{"a":{"type":"string"},"b":false},"additionalProperties":false}',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}'),
 (12, 'property added, covered by a partially open model',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":{"type":"string"}}'),
 (13, 'property added, not covered by a partially open model',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":{"type":"string"}}'),
 (14, 'property removed, covered by a partially open model',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string","maxLength":3}},"additionalProperties":{"type":"string"}}',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}'),
 (15, 'property removed, not covered by a partially open model',
      '{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":{"type":"string"}}',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}'),
 (16, 'model closed (additionalProperties false added)',
      '{"type":"object","properties":{"a":{"type":"string"}}}',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}'),
 (17, 'model opened (additionalProperties false removed)',
      '{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}',
      '{"type":"object","properties":{"a":{"type":"string"}}}'),
 (18, 'type narrowed (number to integer)',
      '{"type":"object","properties":{"n":{"type":"number"}}}',
      '{"type":"object","properties":{"n":{"type":"integer"}}}'),
 (19, 'type extended (integer to number, string to string or null)',
      '{"type":"object","properties":{"n":{"type":"integer"},"s":{"type":"string"}}}',
      '{"type":"object","properties":{"n":{"type":"number"},"s":{"type":["string","null"]}}}'),
 (20, 'type changed (string to integer)',
      '{"type":"object","properties":{"n":{"type":"string"}}}',
      '{"type":"object","properties":{"n":{"type":"integer"}}}'),
 (21, 'enum extended',
      '{"type":"object","properties":{"d":{"enum":["in","out"]}}}',
      '{"type":"object","properties":{"d":{"enum":["in","out","unknown"]}}}'),
 (22, 'enum narrowed',
      '{"type":"object","properties":{"d":{"enum":["in","out"]}}}',
      '{"type":"object","properties":{"d":{"enum":["in"]}}}'),
 (23, 'enum added',
      '{"type":"object","properties":{"d":{"type":"string"}}}',
      '{"type":"object","properties":{"d":{"type":"string","enum":["in","out"]}}}'),
 (24, 'maxLength decreased',
      '{"properties":{"s":{"type":"string","maxLength":10}}}',
      '{"properties":{"s":{"type":"string","maxLength":5}}}'),
 (25, 'maxLength increased, minLength decreased',
      '{"properties":{"s":{"type":"string","maxLength":5,"minLength":3}}}',
      '{"properties":{"s":{"type":"string","maxLength":10,"minLength":1}}}'),
 (26, 'minLength added',
      '{"properties":{"s":{"type":"string"}}}',
      '{"properties":{"s":{"type":"string","minLength":1}}}'),
 (27, 'pattern added',
      '{"properties":{"s":{"type":"string"}}}',
      '{"properties":{"s":{"type":"string","pattern":"^E[0-9]+$"}}}'),
 (28, 'pattern removed',
      '{"properties":{"s":{"type":"string","pattern":"^E[0-9]+$"}}}',
      '{"properties":{"s":{"type":"string"}}}'),
 (29, 'format added',
      '{"properties":{"t":{"type":"string"}}}',
      '{"properties":{"t":{"type":"string","format":"date-time"}}}'),
 (30, 'minimum increased',
      '{"properties":{"x":{"type":"number","minimum":0}}}',
      '{"properties":{"x":{"type":"number","minimum":1}}}'),
 (31, 'maximum increased, minimum decreased, exclusive bound replaced by an inclusive one',
      '{"properties":{"x":{"type":"number","minimum":0,"exclusiveMaximum":10}}}',
      '{"properties":{"x":{"type":"number","minimum":-1,"maximum":10}}}'),
 (32, 'maximum added',
      '{"properties":{"x":{"type":"integer"}}}',
      '{"properties":{"x":{"type":"integer","maximum":100}}}'),
 (33, 'items narrowed',
      '{"properties":{"tags":{"type":"array","items":{"type":["string","integer"]}}}}',
      '{"properties":{"tags":{"type":"array","items":{"type":"string"}}}}'),
 (34, 'items constrained where any were allowed',
      '{"properties":{"tags":{"type":"array"}}}',
      '{"properties":{"tags":{"type":"array","items":{"type":"string"}}}}'),
 (35, 'nested object: property removed from a closed inner model',
      '{"properties":{"where":{"type":"object","properties":{"floor":{"type":"string"},"desk":{"type":"string"}},"additionalProperties":false}}}',
      '{"properties":{"where":{"type":"object","properties":{"floor":{"type":"string"}},"additionalProperties":false}}}'),
 (36, '$ref to $defs, the target narrowed',
      '{"$defs":{"id":{"type":"string"}},"properties":{"a":{"$ref":"#/$defs/id"}}}',
      '{"$defs":{"id":{"type":"string","maxLength":8}},"properties":{"a":{"$ref":"#/$defs/id"}}}'),
 (37, 'recursive schema, unchanged',
      '{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#"}}}}',
      '{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#"}}}}'),
 (38, 'const changed',
      '{"properties":{"v":{"const":1}}}',
      '{"properties":{"v":{"const":2}}}'),
 (39, 'const to an enum that contains it',
      '{"properties":{"v":{"const":1}}}',
      '{"properties":{"v":{"enum":[1.0,2]}}}'),
 (40, 'schema becomes true / false',
      '{"properties":{"a":{"type":"string"},"b":{"type":"string"}}}',
      '{"properties":{"a":true,"b":false}}'),
 (41, 'annotations changed (title, description, x-pii, default)',
      '{"properties":{"a":{"type":"string","title":"A","x-pii":false}}}',
      '{"properties":{"a":{"type":"string","title":"B","description":"d","x-pii":true,"default":"x"}}}'),
 (42, '$ref with sibling keywords in the old schema, inlined in the new one',
      '{"$defs":{"s":{"type":"string"}},"properties":{"a":{"$ref":"#/$defs/s","maxLength":5}}}',
      '{"properties":{"a":{"type":"string","maxLength":5}}}'),
 (43, 'recursive schema through $ref with sibling keywords, a nested field narrowed',
      '{"$defs":{"n":{"type":"object","properties":{"v":{"type":"number"},"kid":{"$ref":"#/$defs/n","required":["v"]}}}},"$ref":"#/$defs/n"}',
      '{"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer"},"kid":{"$ref":"#/$defs/n","required":["v"]}}}},"$ref":"#/$defs/n"}');

SELECT r.n, r.what, m.mode, c.compatible, c.message
  FROM rule r
 CROSS JOIN (VALUES ('backward'), ('forward'), ('full')) m(mode)
 CROSS JOIN LATERAL phoenix.schema_compatibility(r.old, r.new, m.mode) c
 ORDER BY r.n, m.mode;

-- field names that are not identifiers are quoted in the path
SELECT * FROM phoenix.schema_compatibility('{"properties":{"a \"b\"":{"type":"string"}},"additionalProperties":false}', '{"additionalProperties":false}');

-- none accepts anything; modes are case-insensitive
SELECT * FROM phoenix.schema_compatibility('{"type":"string"}', '{"type":"integer"}', 'none');
SELECT * FROM phoenix.schema_compatibility('{"type":"string"}', '{"type":"integer"}', 'BACKWARD');
-- the default mode is backward
SELECT * FROM phoenix.schema_compatibility('{"properties":{"a":{}}}', '{"properties":{"a":{}},"required":["a"]}');

-- transitive modes: old may be an array of older schemas, newest first.
-- v1 open with "a" (string), v2 drops "a" (fine for v2 -> v3), v3 re-adds "a" as an integer.
CREATE TEMP TABLE hist AS SELECT
  '[{"type":"object","properties":{"b":{"type":"string"}},"additionalProperties":false},
    {"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}}]'::jsonb AS older,
  '{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"additionalProperties":false}'::jsonb AS new;
SELECT m.mode, c.* FROM hist, (VALUES ('backward'), ('backward_transitive'), ('forward_transitive'), ('full_transitive')) m(mode),
  LATERAL phoenix.schema_compatibility(hist.older, hist.new, m.mode) c ORDER BY m.mode;

-- bad input
SELECT * FROM phoenix.schema_compatibility('{}', '{}', 'sideways');
SELECT * FROM phoenix.schema_compatibility('[]', '{}', 'backward');
SELECT * FROM phoenix.schema_compatibility('{}', '{"type":"nope"}', 'backward');
SELECT * FROM phoenix.schema_compatibility('{"allOf":[{}]}', '{}', 'backward');
