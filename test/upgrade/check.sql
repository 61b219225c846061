-- test/upgrade/check.sql — what the data must still say after the update,
-- and what writing on top of it does (the same after an update as after a
-- fresh install).
SELECT phoenix.get('employee', 'E1', valid_at => '2026-11-24') ->> 'department' AS e1_tuesday,
       phoenix.get('employee', 'E1', valid_at => '2026-11-26') ->> 'department' AS e1_thursday,
       phoenix.get('employee', 'E2', valid_at => '2026-12-01') IS NULL AS e2_gone_in_december;
SELECT event_id, event_type, schema_version FROM phoenix.event_log ORDER BY position;
SELECT event_id, reason IS NOT NULL AS has_reason, replayable FROM phoenix.dead_letters ORDER BY dead_letter_id;
SELECT event_id, employee_id, room, employee_department, employee_name FROM reporting.bookings ORDER BY event_id;
SELECT name, topic, enabled FROM phoenix.kafka_subscriptions ORDER BY name;
-- writes after the update: a correction cascades into the projection, a new
-- event arrives enriched, a new schema version registers, the key is forgotten
SELECT phoenix.put('employee', 'E1', '{"department":"Audit"}', valid_from => '2026-11-24', valid_to => '2026-11-25');
SELECT phoenix.emit('desk.booked', '{"employeeId":"E1","at":"2026-11-27T09:00:00Z","room":"C"}', event_id => 'b3') > 0 AS emitted;
SELECT event_id, employee_id, room, employee_department, employee_name FROM reporting.bookings ORDER BY event_id;
SELECT phoenix.create_event_type('desk.booked',
       schema => '{"type":"object","required":["employeeId","at"],
                   "properties":{"employeeId":{"type":"string"},"at":{"type":"string","format":"date-time"},
                                 "room":{"type":"string"},"seat":{"type":"integer"}}}',
       time_field => 'at', refs => '{"employeeId":"employee"}', compatibility => 'none') AS new_version;
SET phoenix.forget_secret = 'upgrade test secret';
SELECT phoenix.forget('employee', 'E2', 'upgrade test') ->> 'phoenix_entity.employee_history' AS e2_versions_scrubbed;
SELECT employee_id, employee_name IS DISTINCT FROM 'Grace' AS name_scrubbed FROM reporting.bookings WHERE event_id = 'b2';
SELECT phoenix.rebuild_projection('bookings') AS rebuilt_rows;
SELECT event_id, employee_id, room, employee_department, employee_name FROM reporting.bookings ORDER BY event_id;
