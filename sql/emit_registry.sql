-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_emit_registry;
CREATE DATABASE regress_emit_registry;
\c regress_emit_registry
\set ECHO all
-- The schema registry: create_event_type, versions, refs, single source of truth.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","email":"text","department":"text"}',
       pii => '{name,email}');
SELECT phoenix.create_entity('site',  'site_id',  '{"name":"text","timezone":"text"}');
SELECT phoenix.create_entity('floor', 'floor_id', '{"site_id":"text","floor_online":"boolean"}',
       refs => '{"site_id":"site"}');
SELECT phoenix.create_entity('desk',  'desk_id',  '{"room":"text","floor_id":"text"}',
       refs => '{"floor_id":"floor"}');

-- an entity event type (docs/design.md's example)
SELECT phoenix.create_event_type('employee.transferred',
       schema => '{"type":"object","required":["employeeId","department"],
                   "properties":{"employeeId":{"type":"string"},"department":{"type":"string"},
                                 "effectiveAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       entity => 'employee', key_field => 'employeeId',
       sets => '{"department":"department"}', time_field => 'effectiveAt');
-- refs by key and by a unique attribute
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","floorId","detectedAt"],
                   "properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"}}}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee","floorId":"floor"}');
SELECT phoenix.create_event_type('visitor.checked-in',
       schema => '{"type":"object","properties":{"hostEmail":{"type":"string","format":"email"},
                                                 "visitor":{"type":"string","x-pii":true}},"additionalProperties":false}',
       refs => '{"hostEmail":"employee.email"}');

-- the same definition again is not a new version
SELECT phoenix.create_event_type('visitor.checked-in',
       schema => '{"type":"object","properties":{"hostEmail":{"type":"string","format":"email"},
                                                 "visitor":{"type":"string","x-pii":true}},"additionalProperties":false}',
       refs => '{"hostEmail":"employee.email"}');
-- a compatible change is version 2
SELECT phoenix.create_event_type('visitor.checked-in',
       schema => '{"type":"object","properties":{"hostEmail":{"type":"string","format":"email"},
                                                 "visitor":{"type":"string","x-pii":true},
                                                 "badge":{"type":"string"}},"additionalProperties":false}',
       refs => '{"hostEmail":"employee.email"}');

SELECT event_type, version, is_current, entity, key_field, sets, time_field, refs, compatibility
  FROM phoenix.event_types_v ORDER BY event_type, version;

-- single source of truth: desk events cannot set the floor's attribute
SELECT phoenix.create_event_type('desk.updated',
       schema => '{"type":"object","properties":{"deskId":{"type":"string"},"floorOnline":{"type":"boolean"}}}',
       entity => 'desk', key_field => 'deskId', sets => '{"floorOnline":"floor_online"}');
\set VERBOSITY default
SELECT phoenix.create_event_type('desk.updated',
       schema => '{"type":"object","properties":{"deskId":{"type":"string"},"floorOnline":{"type":"boolean"}}}',
       entity => 'desk', key_field => 'deskId', sets => '{"floorOnline":"floor_online"}');
\set VERBOSITY terse
-- ... but may set its own
SELECT phoenix.create_event_type('desk.updated',
       schema => '{"type":"object","properties":{"deskId":{"type":"string"},"room":{"type":"string"}}}',
       entity => 'desk', key_field => 'deskId', sets => '{"room":"room"}');

-- registration errors name what is wrong
SELECT phoenix.create_event_type('desk.moved', '{"type":"object"}', entity => 'desk', key_field => 'deskId',
       sets => '{"room":"nope"}');
SELECT phoenix.create_event_type('desk.moved', '{"type":"object"}', entity => 'nosuch', key_field => 'k',
       sets => '{"a":"b"}');
SELECT phoenix.create_event_type('desk.moved', '{"type":"object"}', key_field => 'deskId');
SELECT phoenix.create_event_type('desk.moved', '{"type":"object"}', entity => 'desk');
SELECT phoenix.create_event_type('visit.x', '{"type":"object"}', refs => '{"hostEmail":"employee.phone"}');
SELECT phoenix.create_event_type('visit.x', '{"type":"object"}', refs => '{"hostEmail":"visitor"}');
SELECT phoenix.create_event_type('visit.x', '{"type":"object","properties":{"a":{}}}', refs => '{"b":"employee"}');
SELECT phoenix.create_event_type('visit.x', '{"type":"object","properties":{"a":{}}}', time_field => 'at');
SELECT phoenix.create_event_type('Bad Name', '{"type":"object"}');
SELECT phoenix.create_event_type('visit.x', '[]');
SELECT phoenix.create_event_type('visit.x', '{"type":"object"}', compatibility => 'sideways');
SELECT phoenix.create_event_type('presence.detected', '{"type":"object"}', entity => 'employee',
       key_field => 'employeeId', sets => '{"department":"department"}');

-- an incompatible version is refused, naming the field; compatibility => 'none' allows it
\set VERBOSITY default
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","floorId","detectedAt","deskId"],
                   "properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"},"deskId":{"type":"string"}}}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee","floorId":"floor"}');
\set VERBOSITY terse
-- what the hint offers for an open schema: the property with an empty schema is compatible
SELECT (phoenix.schema_compatibility(schema,
          jsonb_set(schema, '{properties,deskId}', '{}'))).compatible AS empty_schema_compatible,
       (phoenix.schema_compatibility(schema,
          jsonb_set(schema, '{properties,deskId}', '{"type":"string"}'))).compatible AS typed_compatible
  FROM phoenix.event_type_versions WHERE event_type = 'presence.detected' ORDER BY version DESC LIMIT 1;
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","detectedAt"],
                   "properties":{"employeeId":{"type":"integer"},"floorId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"}}}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee","floorId":"floor"}');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","floorId","detectedAt","deskId"],
                   "properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"},"deskId":{"type":"string"}}}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee","floorId":"floor"}',
       compatibility => 'none');
SELECT event_type, version, compatibility FROM phoenix.event_types_v WHERE event_type = 'presence.detected' ORDER BY version;

-- drop
SELECT phoenix.drop_event_type('visitor.checked-in');
SELECT phoenix.drop_event_type('visitor.checked-in');
SELECT event_type, count(*) FROM phoenix.event_types_v GROUP BY 1 ORDER BY 1;
