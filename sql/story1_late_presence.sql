-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_story1_late_presence;
CREATE DATABASE regress_story1_late_presence;
\c regress_story1_late_presence
\set ECHO all
-- Story 1 (docs/design.md): late presence upload.  An employee is transferred
-- Finance → Accounting effective Wednesday, sent in real time; Friday's CSV
-- upload holds Mon–Fri presence: Mon/Tue say Finance, Wed–Fri Accounting.
CREATE EXTENSION phoenix CASCADE;
SET timezone = 'UTC';
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","department":"text"}', pii => '{name}');
SELECT phoenix.put('employee', 'E42', '{"name":"Ada","department":"Finance"}', valid_from => '2026-01-05');
SELECT phoenix.put('employee', 'E7', '{"name":"Bob","department":"Sales"}', valid_from => '2026-01-05');
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
                                 "detectedAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee"}');

-- Wednesday 2026-11-25: the transfer, in real time
SELECT phoenix.emit('employee.transferred',
       '{"employeeId":"E42","department":"Accounting","effectiveAt":"2026-11-25T00:00:00Z"}',
       event_id => 'hr-1001', source => 'workday') > 0 AS logged;

-- Friday: the week's badge export arrives
SELECT * FROM phoenix.ingest_csv('presence.detected', $csv$employeeId,floorId,detectedAt
E42,F1,2026-11-23T08:55:00Z
E7,F2,2026-11-23T09:10:00Z
E42,F1,2026-11-24T09:01:00Z
E42,F3,2026-11-25T08:40:00Z
E42,F3,2026-11-26T09:30:00Z
E7,F2,2026-11-26T09:00:00Z
E42,F3,2026-11-27T08:59:00Z
$csv$, source => 'badge-export-friday');

-- each presence event joined to the department as of its own time
SELECT to_char(l.effective_at, 'Dy DD') AS day, l.payload->>'employeeId' AS employee,
       l.payload->>'floorId' AS floor, e.department, l.source_position
  FROM phoenix.event_log l
  LEFT JOIN LATERAL phoenix_entity.employee_at(l.payload->>'employeeId', l.effective_at) e ON true
 WHERE l.event_type = 'presence.detected'
 ORDER BY l.effective_at, employee;

-- the same from the history table directly
SELECT h.department, count(*) AS days
  FROM phoenix.event_log l
  JOIN phoenix_entity.employee_history h
    ON h.employee_id = l.payload->>'employeeId'
   AND h.valid_from <= l.effective_at AND l.effective_at < h.valid_to
   AND h.recorded_to = 'infinity'
 WHERE l.event_type = 'presence.detected' AND l.payload->>'employeeId' = 'E42'
 GROUP BY 1 ORDER BY 1;

-- uploading the same file again (same event ids) changes nothing
SELECT * FROM phoenix.emit_batch(
  (SELECT jsonb_agg(jsonb_build_object('type', 'presence.detected', 'payload', payload, 'event_id', event_id))
     FROM phoenix.event_log WHERE event_type = 'presence.detected'));
SELECT count(*) FROM phoenix.event_log WHERE event_type = 'presence.detected';
