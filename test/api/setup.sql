-- test/api/setup.sql — the model the API tests drive (story 1's): run by
-- scripts/test.sh in a fresh database before the API server starts.
SET client_min_messages = warning;
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('employee', key => 'employee_id',
       attributes => '{"name":"text","email":"text","department":"text"}', pii => '{name,email}');
SELECT phoenix.create_entity('site', 'site_id', '{"name":"text","timezone":"text"}');
SELECT phoenix.create_entity('floor', 'floor_id', '{"site_id":"text","floor_online":"boolean"}',
       refs => '{"site_id":"site"}');
SELECT phoenix.create_event_type('employee.transferred',
       schema => '{"type":"object","required":["employeeId","department"],
                   "properties":{"employeeId":{"type":"string"},"department":{"type":"string"},
                                 "effectiveAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       entity => 'employee', key_field => 'employeeId',
       sets => '{"department":"department"}', time_field => 'effectiveAt');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","floorId","detectedAt"],
                   "properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"}}}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee","floorId":"floor"}');
SELECT phoenix.put('site', 'NYC', '{"name":"New York","timezone":"America/New_York"}', '2025-01-01'),
       phoenix.put('floor', 'F1', '{"site_id":"NYC","floor_online":true}', '2025-01-01');
SELECT phoenix.create_projection('presence_report', source => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId"}',
  enrich  => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time","name":"current"}},
               {"entity":"floor","key":"floor_id","attributes":{"site_id":"event_time"}},
               {"entity":"site","key":"floor_site_id","attributes":{"name":"event_time","timezone":"event_time"}}]',
  derive  => '{"local_date":"(effective_at AT TIME ZONE site_timezone)::date"}');
