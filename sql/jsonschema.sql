-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_jsonschema;
CREATE DATABASE regress_jsonschema;
\c regress_jsonschema
\set ECHO all
-- JSON Schema validator: phoenix.schema_errors / phoenix.schema_valid.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse

-- The docs/design.md example schema, valid and with one error of each kind.
CREATE TEMP TABLE s AS SELECT '{"type":"object","required":["employeeId","department"],
  "properties":{"employeeId":{"type":"string"},"department":{"type":"string","minLength":2},
                "effectiveAt":{"type":"string","format":"date-time"}},
  "additionalProperties":false}'::jsonb AS schema;
SELECT * FROM phoenix.schema_errors((SELECT schema FROM s),
  '{"employeeId":"E1","department":"Finance","effectiveAt":"2026-11-25T09:00:00+01:00"}');
SELECT * FROM phoenix.schema_errors((SELECT schema FROM s),
  '{"employeeId":7,"department":"F","effectiveAt":"2026-02-30T00:00:00Z","x y":1,"extra":[1]}')
  ORDER BY path, keyword;
SELECT * FROM phoenix.schema_errors((SELECT schema FROM s), '{}') ORDER BY message;
SELECT * FROM phoenix.schema_errors((SELECT schema FROM s), '[1]');
SELECT phoenix.schema_valid((SELECT schema FROM s), '{"employeeId":"E1","department":"Fi"}'),
       phoenix.schema_valid((SELECT schema FROM s), '{"employeeId":"E1"}');

-- type: integer is a number without fraction (1.0 counts); lists of types
SELECT v, phoenix.schema_valid('{"type":"integer"}', v::jsonb) FROM (VALUES ('1'), ('1.0'), ('-0'), ('1.5'), ('"1"'), ('1e3')) t(v) ORDER BY v;
SELECT * FROM phoenix.schema_errors('{"type":["string","null"]}', '3');
SELECT * FROM phoenix.schema_errors('{"type":["integer","boolean"]}', '2.5');

-- numbers: inclusive and exclusive bounds, exact decimal comparison
SELECT * FROM phoenix.schema_errors('{"minimum":1.5,"maximum":3}', '1.49999999999999999999');
SELECT * FROM phoenix.schema_errors('{"exclusiveMinimum":0,"exclusiveMaximum":10}', '10');
SELECT * FROM phoenix.schema_errors('{"exclusiveMinimum":0,"exclusiveMaximum":10}', '0') ;
SELECT phoenix.schema_valid('{"minimum":1,"maximum":1}', '1.000');

-- strings: lengths count code points, not bytes
SELECT * FROM phoenix.schema_errors('{"maxLength":2}', '"äöü"');
SELECT phoenix.schema_valid('{"maxLength":2,"minLength":2}', '"😀😀"'), phoenix.schema_valid('{"minLength":3}', '"😀😀"');
-- huge limits are clamped, never overflow
SELECT * FROM phoenix.schema_errors('{"minLength":1e30}', '"abc"');
SELECT phoenix.schema_valid('{"minLength":4611686018427387904}', '"abc"'), phoenix.schema_valid('{"maxLength":1e30}', '"abc"');

-- pattern: not anchored; ECMA-262 escapes \d \w \p{Letter}
SELECT * FROM phoenix.schema_errors('{"pattern":"^[A-Z]{2}-\\d+$"}', '"AB-12x"');
SELECT phoenix.schema_valid('{"pattern":"b"}', '"abc"'),
       phoenix.schema_valid('{"pattern":"^\\w+$"}', '"straße"'),
       phoenix.schema_valid('{"pattern":"^\\p{Letter}+$"}', '"straße"'),
       phoenix.schema_valid('{"pattern":"^\\d$"}', '"৪"');

-- enum and const: JSON equality (1 = 1.0, key order irrelevant, false <> 0)
SELECT * FROM phoenix.schema_errors('{"enum":["a",1,{"k":[1,2]}]}', '{"k":[1,2.0]}');
SELECT * FROM phoenix.schema_errors('{"enum":["a",1,{"k":[1,2]}]}', '"b"');
SELECT * FROM phoenix.schema_errors('{"const":false}', '0');
SELECT phoenix.schema_valid('{"const":{"a":1,"b":[true,null]}}', '{"b":[true,null],"a":1.0}');

-- items, nested paths, additionalProperties as a schema
SELECT * FROM phoenix.schema_errors('{"type":"array","items":{"type":"object","properties":{"tags":{"items":{"type":"string"}}}}}',
  '[{"tags":["a"]},{"tags":["b",2]},{"tags":[3]}]') ORDER BY path;
SELECT * FROM phoenix.schema_errors('{"properties":{"a":true},"additionalProperties":{"type":"integer"}}', '{"a":"x","b":1,"c":"no"}');
SELECT * FROM phoenix.schema_errors('{"properties":{"a":false}}', '{"a":1}');
SELECT * FROM phoenix.schema_errors('false', 'null');
SELECT * FROM phoenix.schema_errors('true', '{"anything":[1,2,3]}');

-- formats: date-time (RFC 3339, also a timestamptz), date, email, uuid
SELECT v, phoenix.schema_valid('{"format":"date-time"}', to_jsonb(v)) FROM (VALUES
  ('2026-11-25T09:00:00Z'), ('2026-11-25t09:00:00.123456789z'), ('2026-11-25T09:00:00+15:59'),
  ('2026-11-25T09:00:00+16:00'), ('2026-11-25 09:00:00Z'), ('2026-11-25T09:00:00'),
  ('1998-12-31T23:59:60Z'), ('1998-12-31T22:59:60Z'), ('0000-01-01T00:00:00Z'), ('2024-02-29T00:00:00Z'),
  ('2023-02-29T00:00:00Z')) t(v) ORDER BY v;
SELECT v, phoenix.schema_valid('{"format":"date"}', to_jsonb(v)) FROM (VALUES
  ('2026-11-25'), ('2026-11-31'), ('2026-1-25'), ('0001-01-01'), ('0000-01-01')) t(v) ORDER BY v;
SELECT v, phoenix.schema_valid('{"format":"email"}', to_jsonb(v)) FROM (VALUES
  ('a@x.com'), ('"a b"@x.com'), ('a..b@x.com'), ('a@-x.com'), ('a@[127.0.0.1]'), ('a@[IPv6:::1]'), ('a@'), ('@x')) t(v) ORDER BY v;
SELECT v, phoenix.schema_valid('{"format":"uuid"}', to_jsonb(v)) FROM (VALUES
  ('2eb8aa08-aa98-11ea-b4aa-73b441d16380'), ('2eb8aa08aa9811eab4aa73b441d16380'), ('2eb8aa08-aa98-11ea-b4aa-73b441d1638g')) t(v) ORDER BY v;
SELECT phoenix.schema_valid('{"format":"hostname"}', '"not checked"'), phoenix.schema_valid('{"format":"date"}', '12');

-- $defs and $ref: JSON-pointer escapes, percent-encoding, recursion, refs outside $defs
SELECT * FROM phoenix.schema_errors('{"$defs":{"a/b":{"type":"integer"},"c~d":{"type":"string"},"e%f":{"minimum":5}},
  "properties":{"x":{"$ref":"#/$defs/a~1b"},"y":{"$ref":"#/$defs/c~0d"},"z":{"$ref":"#/$defs/e%25f"}}}',
  '{"x":"1","y":2,"z":4}') ORDER BY path;
SELECT * FROM phoenix.schema_errors('{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}}}',
  '{"name":"a","children":[{"name":"b","children":[{"name":3}]}]}');
SELECT * FROM phoenix.schema_errors('{"definitions":{"n":{"type":"null"}},"properties":{"a":{"$ref":"#/definitions/n"},"b":{"$ref":"#/properties/a"}}}',
  '{"a":null,"b":1}');
SELECT * FROM phoenix.schema_errors('{"$ref":"#/$defs/t","$defs":{"t":{"type":"string"}},"maxLength":1}', '"ab"');

-- paths quote keys that are not identifiers, as jsonpath does
SELECT * FROM phoenix.schema_errors('{"properties":{"a b":{"properties":{"\"q\"":{"type":"string"}}}}}', '{"a b":{"\"q\"":1}}');

-- x-pii and default are annotations
SELECT phoenix.schema_valid('{"properties":{"email":{"type":"string","x-pii":true,"default":"x"}},"title":"t","x-other":{"type":"integer"}}', '{"email":"e"}');

-- malformed schemas: an ERROR naming the place in the schema
SELECT * FROM phoenix.schema_errors('{"type":"text"}', '1');
SELECT * FROM phoenix.schema_errors('{"properties":{"a":{"minLength":-1}}}', '1');
SELECT * FROM phoenix.schema_errors('{"properties":{"a":{"minLength":1.5}}}', '1');
SELECT * FROM phoenix.schema_errors('{"required":"a"}', '1');
SELECT * FROM phoenix.schema_errors('{"items":[{"type":"string"}]}', '1');
SELECT * FROM phoenix.schema_errors('{"properties":{"a":{"pattern":"(("}}}', '1');
SELECT * FROM phoenix.schema_errors('{"properties":{"a":{"minItems":1}}}', '1');
SELECT * FROM phoenix.schema_errors('{"$ref":"https://example.com/s.json"}', '1');
SELECT * FROM phoenix.schema_errors('{"$ref":"#/$defs/missing"}', '1');
SELECT * FROM phoenix.schema_errors('{"$ref":"#foo"}', '1');
SELECT * FROM phoenix.schema_errors('{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}', '1');
SELECT * FROM phoenix.schema_errors('{"properties":{"a":{"$id":"x"}}}', '1');
SELECT * FROM phoenix.schema_errors('[]', '1');
SELECT * FROM phoenix.schema_errors('{"type":["string","string"]}', '1');
SELECT * FROM phoenix.schema_errors('{"x-pii":"yes"}', '1');
-- their SQLSTATEs: invalid_parameter_value, invalid_regular_expression, feature_not_supported
\set VERBOSITY sqlstate
SELECT * FROM phoenix.schema_errors('{"type":"text"}', '1');
SELECT * FROM phoenix.schema_errors('{"pattern":"(("}', '1');
SELECT * FROM phoenix.schema_errors('{"allOf":[]}', '1');
SELECT * FROM phoenix.schema_errors('{"$ref":"other.json#/x"}', '1');
\set VERBOSITY terse
-- a root "$id" is fine
SELECT phoenix.schema_valid('{"$id":"https://example.com/p.json","type":"object"}', '{}');

-- deep nesting: a clean invalid result or a clean error, never a crash.
-- 100,000 levels do not even parse (the server's JSON parser checks the stack
-- too); 30,000 do with a bigger stack, and are then validated with a small one.
SELECT ('{"a":' || repeat('[', 100000) || repeat(']', 100000) || '}')::jsonb IS NULL;
SET max_stack_depth = '7MB';
CREATE TEMP TABLE deep AS SELECT (repeat('[', 30000) || repeat(']', 30000))::jsonb AS v,
  ('{"properties":{"a":' || repeat('{"items":', 30000) || '{}' || repeat('}', 30000) || '}}')::jsonb AS schema;
RESET max_stack_depth;
CREATE TEMP TABLE recursive AS SELECT '{"$defs":{"n":{"type":"array","items":{"$ref":"#/$defs/n"}}},"$ref":"#/$defs/n"}'::jsonb AS schema;
SELECT keyword, message, path ~ '^\$(\[0\]){32}\.\.\.(\[0\]){32}$' AS elided_path
  FROM phoenix.schema_errors((SELECT schema FROM recursive), (SELECT v FROM deep));
SELECT phoenix.schema_valid((SELECT schema FROM recursive), (SELECT v FROM deep));
SET max_stack_depth = '200kB';
SELECT keyword, message FROM phoenix.schema_errors((SELECT schema FROM recursive), (SELECT v FROM deep));
SELECT phoenix.schema_valid((SELECT schema FROM recursive), '[[[[]]]]');
RESET max_stack_depth;
-- a schema nested 30,000 levels deep: compiling it is a clean error
SELECT * FROM phoenix.schema_errors((SELECT schema FROM deep), '1');
SELECT 'still up' AS server;

-- the compiled schema is cached per call site: changing schemas are recompiled
SELECT s, phoenix.schema_valid(s, '1') FROM (VALUES ('{"type":"integer"}'::jsonb), ('{"type":"string"}'), ('{"type":"integer"}')) t(s) ORDER BY 1;
PREPARE sv(jsonb) AS SELECT phoenix.schema_valid($1, '1');
EXECUTE sv('{"type":"integer"}');
EXECUTE sv('{"type":"string"}');
DEALLOCATE sv;
DO $$
DECLARE s jsonb; r text := '';
BEGIN
  FOREACH s IN ARRAY ARRAY['{"type":"integer"}'::jsonb, '{"type":"string"}', '{"const":1}', '{"maximum":0}'] LOOP
    r := r || phoenix.schema_valid(s, '1')::text || ' ';
  END LOOP;
  RAISE NOTICE 'plpgsql: %', r;
END $$;

-- "pattern" answers are remembered per compiled schema for short strings:
-- 300 strings (more than the memo's 64 slots, so slots are shared and
-- replaced), each validated twice in one call, answer as the regex does,
-- long strings (not remembered) too
WITH strs AS (SELECT CASE WHEN i % 3 = 0 THEN 'F' || i WHEN i % 3 = 1 THEN 'G' || i
                          ELSE 'F' || repeat('7', i % 50) END AS s FROM generate_series(1, 300) i),
     inst AS (SELECT jsonb_agg(to_jsonb(s)) || jsonb_agg(to_jsonb(s)) AS a FROM strs),
     errs AS (SELECT path FROM phoenix.schema_errors('{"items":{"pattern":"^F[0-9]+$"}}', (SELECT a FROM inst)))
SELECT (SELECT count(*) FROM errs) AS rejected,
       2 * (SELECT count(*) FROM strs WHERE s !~ '^F[0-9]+$') AS expected,
       (SELECT count(*) FROM errs e JOIN LATERAL (SELECT (SELECT a FROM inst) ->> (substring(e.path FROM '[0-9]+')::int) AS s) x ON true
         WHERE x.s ~ '^F[0-9]+$') AS wrongly_rejected;

-- many errors are capped at 1000 rows
SELECT count(*) FROM phoenix.schema_errors('{"items":{"type":"string"}}', (SELECT jsonb_agg(i) FROM generate_series(1, 5000) i));

-- NULL in, nothing out (STRICT)
SELECT count(*) FROM phoenix.schema_errors(NULL, '1');
