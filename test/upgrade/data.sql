-- test/upgrade/data.sql — data put in place with the previous version, before
-- ALTER EXTENSION phoenix UPDATE (uses only API every release has had).
SELECT phoenix.create_entity('employee', key => 'employee_id',
       attributes => '{"name":"text","department":"text"}', pii => '{name}');
SELECT phoenix.put('employee', 'E1', '{"name":"Ada","department":"Finance"}', valid_from => '2026-11-23');
SELECT phoenix.put('employee', 'E1', '{"department":"Accounting"}', valid_from => '2026-11-25');
SELECT phoenix.put('employee', 'E2', '{"name":"Grace","department":"Sales"}', valid_from => '2026-11-23',
                   valid_to => '2026-11-30');
-- the log, a projection reading it with enrichment, a dead letter, a paused
-- Kafka subscription (no broker is contacted while it is paused)
SELECT phoenix.create_event_type('desk.booked',
       schema => '{"type":"object","required":["employeeId","at"],
                   "properties":{"employeeId":{"type":"string"},"at":{"type":"string","format":"date-time"},
                                 "room":{"type":"string"}}}',
       time_field => 'at', refs => '{"employeeId":"employee"}');
SELECT phoenix.emit('desk.booked', '{"employeeId":"E1","at":"2026-11-24T09:00:00Z","room":"A"}', event_id => 'b1');
SELECT phoenix.emit('desk.booked', '{"employeeId":"E2","at":"2026-11-26T09:00:00Z","room":"B"}', event_id => 'b2');
SELECT * FROM phoenix.emit_batch('[{"type":"desk.booked","payload":{"employeeId":"E1"},"event_id":"bad1"}]');
SELECT phoenix.create_projection('bookings', source => 'desk.booked',
       columns => '{"employee_id":"employeeId","room":"room"}',
       enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time","name":"current"}}]');
SELECT phoenix.create_subscription('bookings_in', 'bookings', 'desk.booked', '127.0.0.1:9', enabled => false);
