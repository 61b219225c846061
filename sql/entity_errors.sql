-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_entity_errors;
CREATE DATABASE regress_entity_errors;
\c regress_entity_errors
\set ECHO all
-- Bad input: each a clear error with a SQLSTATE, and nothing half-written.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY sqlstate
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text","floor_id":"text","seats":"integer","active":"boolean"}');
\set VERBOSITY default
-- unknown entity
SELECT phoenix.put('nosuch', 'K', '{"room":"A"}');
SELECT phoenix.get('nosuch', 'K');
-- unknown attribute
SELECT phoenix.put('desk', 'D1', '{"rooom":"A"}');
-- the key is not an attribute
SELECT phoenix.put('desk', 'D1', '{"desk_id":"D2"}');
-- value of the wrong type
SELECT phoenix.put('desk', 'D1', '{"seats":"many"}');
SELECT phoenix.put('desk', 'D1', '{"seats":1.5}');
SELECT phoenix.put('desk', 'D1', '{"active":"yes"}');
SELECT phoenix.put('desk', 'D1', '{"room":{"nested":1}}');
SELECT phoenix.put('desk', 'D1', '["room"]');
-- empty assertion
SELECT phoenix.put('desk', 'D1', '{}');
-- valid_from >= valid_to
SELECT phoenix.put('desk', 'D1', '{"room":"A"}', '2026-11-25', '2026-11-25');
SELECT phoenix.put('desk', 'D1', '{"room":"A"}', '2026-11-26', '2026-11-25');
SELECT phoenix.retract('desk', 'D1', '2026-11-26', '2026-11-25');
SELECT phoenix.put('desk', 'D1', '{"room":"A"}', 'infinity');
-- NULLs
SELECT phoenix.put('desk', NULL, '{"room":"A"}');
SELECT phoenix.put('desk', 'D1', NULL);
SELECT phoenix.put(NULL, 'D1', '{"room":"A"}');
SELECT phoenix.put('desk', 'D1', '{"room":"A"}', NULL);
SELECT phoenix.create_entity('x', 'k', NULL);
-- hostile and odd names
SELECT phoenix.create_entity('x; drop table y', 'k', '{"a":"text"}');
SELECT phoenix.create_entity('x', 'k; drop table y', '{"a":"text"}');
SELECT phoenix.create_entity('x', 'k', '{"a\"; drop table y; --":"text"}');
SELECT phoenix.create_entity('Desk', 'k', '{"a":"text"}');
SELECT phoenix.create_entity('select', 'k', '{"a":"text"}');
SELECT phoenix.create_entity('x', 'k', '{"table":"text"}');
SELECT phoenix.create_entity(repeat('x', 200), 'k', '{"a":"text"}');
SELECT phoenix.create_entity('x', 'k', jsonb_build_object(repeat('a', 200), 'text'));
SELECT phoenix.create_entity('x', 'k', '{"valid_from":"text"}');
SELECT phoenix.create_entity('x', 'k', '{"k":"text"}');
-- unsupported types, and types that hide SQL
SELECT phoenix.create_entity('x', 'k', '{"a":"jsonb"}');
SELECT phoenix.create_entity('x', 'k', '{"a":"int4range"}');
SELECT phoenix.create_entity('x', 'k', '{"a":"text[]"}');
SELECT phoenix.create_entity('x', 'k', '{"a":"nosuchtype"}');
SELECT phoenix.create_entity('x', 'k', '{"a":"text); drop table y; --"}');
SELECT phoenix.create_entity('x', 'k', '{"a":42}');
SELECT phoenix.create_entity('x', 'k', '[]');
SELECT phoenix.create_entity('x', 'k', '{}');
-- pii and refs must name attributes and entities
SELECT phoenix.create_entity('x', 'k', '{"a":"text"}', pii => '{b}');
SELECT phoenix.create_entity('x', 'k', '{"a":"text"}', refs => '{"a":"nosuch"}');
SELECT phoenix.create_entity('x', 'k', '{"a":"text"}', refs => '{"b":"desk"}');
-- duplicates
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}');
-- nothing was half-written by any of the failures above
SELECT name FROM phoenix.entities ORDER BY 1;
SELECT count(*) AS assertions, (SELECT count(*) FROM phoenix_entity.desk_history) AS versions FROM phoenix.assertions;
SELECT relname FROM pg_class WHERE relnamespace = 'phoenix_entity'::regnamespace AND relkind IN ('r', 'v') ORDER BY 1;
-- overlapping current versions are impossible whatever writes them
INSERT INTO phoenix_entity.desk_history (desk_id, room, valid_from, valid_to, recorded_from)
VALUES ('D9', 'A', '2026-11-01', '2026-11-10', now()), ('D9', 'B', '2026-11-05', '2026-11-12', now());
-- drop: refused while referenced, then clean
SELECT phoenix.create_entity('chair', 'chair_id', '{"desk_id":"text"}', refs => '{"desk_id":"desk"}');
SELECT phoenix.drop_entity('desk');
SELECT phoenix.drop_entity('chair');
SELECT phoenix.drop_entity('desk');
SELECT phoenix.drop_entity('desk');
SELECT count(*) AS leftovers FROM pg_class WHERE relnamespace = 'phoenix_entity'::regnamespace;
SELECT count(*) AS leftover_functions FROM pg_proc WHERE pronamespace = 'phoenix_entity'::regnamespace;

-- the SQLSTATE of each kind of mistake
CREATE FUNCTION sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text","seats":"integer"}');
SELECT q, sqlstate_of(q) FROM (VALUES
  ($$SELECT phoenix.put('nosuch', 'K', '{"room":"A"}')$$),
  ($$SELECT phoenix.put('desk', 'D1', '{"rooom":"A"}')$$),
  ($$SELECT phoenix.put('desk', 'D1', '{"seats":"many"}')$$),
  ($$SELECT phoenix.put('desk', 'D1', '{"room":"A"}', '2026-11-26', '2026-11-25')$$),
  ($$SELECT phoenix.put('desk', NULL, '{"room":"A"}')$$),
  ($$SELECT phoenix.put('desk', 'D1', NULL)$$),
  ($$SELECT phoenix.create_entity('x; drop table y', 'k', '{"a":"text"}')$$),
  ($$SELECT phoenix.create_entity('select', 'k', '{"a":"text"}')$$),
  ($$SELECT phoenix.create_entity(repeat('x', 200), 'k', '{"a":"text"}')$$),
  ($$SELECT phoenix.create_entity('x', 'k', '{"a":"int4range"}')$$),
  ($$SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}')$$)
) t(q) ORDER BY q;
