-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_errors;
CREATE DATABASE regress_projection_errors;
\c regress_projection_errors
\set ECHO all
-- Bad projection definitions: each a clear error with a SQLSTATE, naming
-- what is wrong, and nothing created (no catalog row, no table).
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","email":"text","badge":"integer"}');
SELECT phoenix.create_entity('zone', 'zone_id', '{"parent_id":"text","label":"text"}');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                   "badge":{"type":"integer"},"meta":{"type":"object","properties":{"zone":{"type":"string"}}},
                   "tags":{"type":"array"},"detectedAt":{"type":"string","format":"date-time"}}}',
       time_field => 'detectedAt');
SELECT phoenix.emit('presence.detected', '{"employeeId":"E1","detectedAt":"2025-03-10T09:00:00Z"}') > 0 AS ok;
CREATE FUNCTION public.write_something(t text) RETURNS text LANGUAGE sql AS
  $$ INSERT INTO phoenix.projection_due VALUES ('x', t, now()) RETURNING key $$;

-- unknown event type
SELECT phoenix.create_projection('p', source => 'no.such.type', columns => '{"e":"employeeId"}');
-- a path missing from the schema, nested and top-level
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeID"}');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"z":"meta.room"}');
-- not a scalar
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"t":"tags"}');
-- unsupported explicit type
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":{"path":"employeeId","type":"jsonb"}}');
-- unknown entity, attribute, mode, by-attribute
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  enrich => '[{"entity":"nobody","key":"e","attributes":{"name":"event_time"}}]');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  enrich => '[{"entity":"employee","key":"e","attributes":{"salary":"event_time"}}]');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  enrich => '[{"entity":"employee","key":"e","attributes":{"name":"yesterday"}}]');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  enrich => '[{"entity":"employee","key":"e","by":"phone","attributes":{"name":"event_time"}}]');
-- an enrichment key that names nothing
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  enrich => '[{"entity":"employee","key":"employee","attributes":{"name":"event_time"}}]');
-- a key whose type cannot match (badge is bigint in the payload, integer in the entity)
SELECT phoenix.create_projection('p', source => 'presence.detected',
  columns => '{"b":{"path":"badge","type":"bigint"}}',
  enrich => '[{"entity":"employee","key":"b","by":"badge","attributes":{"name":"event_time"}}]');
-- a cycle in chained keys: zone a keyed by b's parent, b keyed by a's parent
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"z":"meta.zone"}',
  enrich => '[{"entity":"zone","as":"a","key":"b_parent_id","attributes":{"parent_id":"event_time"}},
              {"entity":"zone","as":"b","key":"a_parent_id","attributes":{"parent_id":"event_time"}}]');
-- a step keyed by its own output
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"z":"meta.zone"}',
  enrich => '[{"entity":"zone","key":"zone_parent_id","attributes":{"parent_id":"event_time"}}]');
-- the same column twice
SELECT phoenix.create_projection('p', source => 'presence.detected',
  columns => '{"employee_name":"employeeId"}',
  enrich => '[{"entity":"employee","key":"employee_name","attributes":{"name":"event_time"}}]');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"change_seq":"badge"}');
-- derive: not an expression, unknown column, two expressions, a subquery,
-- a write (volatile), an aggregate, a failure on the existing events, an
-- array (the context line names the derived column)
\set VERBOSITY default
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  derive => '{"d":"(e ||"}');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  derive => '{"d":"upper(employee)"}');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  derive => '{"d":"1), (2"}');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  derive => '{"d":"(SELECT count(*) FROM pg_class)"}');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  derive => '{"d":"public.write_something(e)"}');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  derive => '{"d":"nextval(''phoenix.change_seq'')"}');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  derive => '{"d":"count(e)"}');
-- (its context names the event being computed, whose id is generated)
\set SHOW_CONTEXT never
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  derive => '{"d":"1 / (length(e) - 2)"}');
\set SHOW_CONTEXT errors
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  derive => '{"d":"ARRAY[e]"}');
\set VERBOSITY terse
-- kind and latest_key
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}', kind => 'newest');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}', kind => 'latest');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}',
  kind => 'latest', latest_key => 'floor');
-- bad names and schemas
SELECT phoenix.create_projection('Bad Name', source => 'presence.detected');
SELECT phoenix.create_projection('p', source => 'presence.detected', schema => 'nowhere');
-- malformed arguments
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '["employeeId"]');
SELECT phoenix.create_projection('p', source => 'presence.detected', enrich => '{"entity":"employee"}');

-- nothing was created
SELECT count(*) AS projections FROM phoenix.projections;
SELECT count(*) AS tables FROM pg_tables WHERE schemaname = 'reporting';
SELECT count(*) AS write_something_ran FROM phoenix.projection_due WHERE entity = 'x';

-- a good one, then a duplicate; unknown names for drop/rebuild
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}');
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}');
CREATE TABLE reporting.taken (x int);
SELECT phoenix.create_projection('taken', source => 'presence.detected', columns => '{"e":"employeeId"}');
SELECT phoenix.drop_projection('nope');
SELECT phoenix.rebuild_projection('nope');
SELECT phoenix.rebuild_projection('p', batch_size => 0);
SELECT name FROM phoenix.projections ORDER BY 1;
-- its fill waits for concurrent writers and must then see what they did
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT phoenix.create_projection('p', source => 'presence.detected', columns => '{"e":"employeeId"}');
ROLLBACK;
