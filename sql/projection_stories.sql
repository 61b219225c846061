-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_stories;
CREATE DATABASE regress_projection_stories;
\c regress_projection_stories
\set ECHO all
-- docs/design.md's acceptance stories 1–3 as projections, plus the extras:
-- UTC → a site's local calendar day (across a DST change), floor → site
-- rollup with the floor moved mid-week.  The week is Mon 2025-03-10 .. Fri
-- 2025-03-14; every fact is sent "in real time" unless the story says late.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('employee', key => 'employee_id',
       attributes => '{"name":"text","email":"text","department":"text"}', pii => '{name,email}');
SELECT phoenix.create_entity('site',  'site_id',  '{"name":"text","timezone":"text"}');
SELECT phoenix.create_entity('floor', 'floor_id', '{"site_id":"text","floor_online":"boolean"}',
       refs => '{"site_id":"site"}');
SELECT phoenix.create_entity('desk',  'desk_id',  '{"room":"text","floor_id":"text"}',
       refs => '{"floor_id":"floor"}');
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
SELECT phoenix.create_event_type('desk.booked',
       schema => '{"type":"object","required":["employeeId","deskId","bookedFor"],
                   "properties":{"employeeId":{"type":"string"},"deskId":{"type":"string"},
                                 "bookedFor":{"type":"string","format":"date-time"}}}',
       time_field => 'bookedFor', refs => '{"employeeId":"employee","deskId":"desk"}');

SELECT phoenix.put('site', 'NYC', '{"name":"New York","timezone":"America/New_York"}', '2025-01-01');
SELECT phoenix.put('site', 'TYO', '{"name":"Tokyo","timezone":"Asia/Tokyo"}', '2025-01-01');
SELECT phoenix.put('floor', 'F1', '{"site_id":"NYC","floor_online":true}', '2025-01-01');
SELECT phoenix.put('floor', 'F2', '{"site_id":"TYO","floor_online":true}', '2025-01-01');
SELECT phoenix.put('employee', 'E1', '{"name":"Ann Lee","email":"ann@x.com","department":"Finance"}', '2025-01-01');
SELECT phoenix.put('employee', 'E2', '{"name":"Bo Chan","email":"bo@x.com","department":"Sales"}', '2025-01-01');

SELECT phoenix.create_projection('presence_report',
  source  => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId"}',
  enrich  => '[{"entity":"employee","key":"employee_id",
                "attributes":{"department":"event_time","name":"current"}},
               {"entity":"floor","key":"floor_id","attributes":{"site_id":"event_time"}},
               {"entity":"site","key":"floor_site_id","attributes":{"name":"event_time","timezone":"event_time"}}]',
  derive  => '{"local_date":"(effective_at AT TIME ZONE site_timezone)::date"}');

-- the table: fixed columns, mapped, enriched, derived, updated_at, change_seq
SELECT attname, format_type(atttypid, atttypmod), attnotnull
  FROM pg_attribute WHERE attrelid = 'reporting.presence_report'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid = 'reporting.presence_report'::regclass ORDER BY 1;

-- Story 1 — late presence upload.  Wednesday, in real time: transferred.
SELECT phoenix.emit('employee.transferred',
       '{"employeeId":"E1","department":"Accounting","effectiveAt":"2025-03-12T00:00:00-04:00"}',
       event_id => 'transfer-1') > 0 AS emitted;
-- Friday: the week's upload (CSV-like batch of five days).
SELECT * FROM phoenix.emit_batch('[
  {"type":"presence.detected","event_id":"p-mon","payload":{"employeeId":"E1","floorId":"F1","detectedAt":"2025-03-10T13:00:00Z"}},
  {"type":"presence.detected","event_id":"p-tue","payload":{"employeeId":"E1","floorId":"F1","detectedAt":"2025-03-11T13:00:00Z"}},
  {"type":"presence.detected","event_id":"p-wed","payload":{"employeeId":"E1","floorId":"F1","detectedAt":"2025-03-12T13:00:00Z"}},
  {"type":"presence.detected","event_id":"p-thu","payload":{"employeeId":"E1","floorId":"F1","detectedAt":"2025-03-13T13:00:00Z"}},
  {"type":"presence.detected","event_id":"p-fri","payload":{"employeeId":"E1","floorId":"F1","detectedAt":"2025-03-14T13:00:00Z"}}]');
SELECT event_id, local_date, employee_department, site_name FROM reporting.presence_report ORDER BY effective_at;

-- ...and if the transfer itself had come late (after the upload), the cascade
-- fixes exactly the rows from its effective time on: E2 moves Thursday.
SELECT * FROM phoenix.emit_batch('[
  {"type":"presence.detected","event_id":"q-mon","payload":{"employeeId":"E2","floorId":"F1","detectedAt":"2025-03-10T13:00:00Z"}},
  {"type":"presence.detected","event_id":"q-thu","payload":{"employeeId":"E2","floorId":"F1","detectedAt":"2025-03-13T13:00:00Z"}},
  {"type":"presence.detected","event_id":"q-fri","payload":{"employeeId":"E2","floorId":"F1","detectedAt":"2025-03-14T13:00:00Z"}}]');
CREATE TEMP TABLE before AS SELECT event_id, change_seq FROM reporting.presence_report;
SELECT phoenix.emit('employee.transferred',
       '{"employeeId":"E2","department":"Marketing","effectiveAt":"2025-03-13T00:00:00-04:00"}') > 0 AS emitted;
SELECT r.event_id, r.employee_department, r.change_seq > b.change_seq AS rewritten
  FROM reporting.presence_report r JOIN before b USING (event_id)
 WHERE r.employee_id = 'E2' ORDER BY r.effective_at;
-- rows of other keys were not touched
SELECT count(*) AS untouched_e1 FROM reporting.presence_report r JOIN before b USING (event_id)
 WHERE r.employee_id = 'E1' AND r.change_seq = b.change_seq;
-- a correction over [Tue, Wed) changes exactly that period
SELECT phoenix.put('employee', 'E1', '{"department":"Audit"}', '2025-03-11', '2025-03-12');
SELECT event_id, employee_department FROM reporting.presence_report WHERE employee_id = 'E1' ORDER BY effective_at;

-- Story 2 — future desk booking, no event on the booking's day.
SELECT phoenix.put('desk', 'D1', '{"room":"Room A","floor_id":"F1"}', '2025-03-03');   -- last week
SELECT phoenix.create_projection('desk_bookings', source => 'desk.booked',
  columns => '{"employee_id":"employeeId","desk_id":"deskId"}',
  enrich  => '[{"entity":"desk","key":"desk_id","attributes":{"room":"event_time"}}]');
-- Monday: booked for Wednesday
SELECT phoenix.emit('desk.booked', '{"employeeId":"E1","deskId":"D1","bookedFor":"2025-03-12T09:00:00-04:00"}',
                    event_id => 'booking-1') > 0 AS emitted;
SELECT event_id, desk_room FROM reporting.desk_bookings;
-- Tuesday: desk moved to Room B (real time); Thursday: to Room C
SELECT phoenix.put('desk', 'D1', '{"room":"Room B"}', '2025-03-11T09:00:00-04:00');
SELECT event_id, desk_room FROM reporting.desk_bookings;
SELECT phoenix.put('desk', 'D1', '{"room":"Room C"}', '2025-03-13T09:00:00-04:00');
-- Friday's report, grouped by room: Room B
SELECT desk_room, count(*) FROM reporting.desk_bookings
 WHERE effective_at >= '2025-03-10' AND effective_at < '2025-03-15' GROUP BY desk_room ORDER BY 1;

-- Story 3 — booking series and a legal name change on Wednesday.
SELECT phoenix.create_projection('booking_series', source => 'desk.booked',
  columns => '{"employee_id":"employeeId","desk_id":"deskId"}',
  enrich  => '[{"entity":"employee","key":"employee_id","attributes":{"name":"current"}}]');
SELECT * FROM phoenix.emit_batch(jsonb_build_array(
  jsonb_build_object('type','desk.booked','payload',jsonb_build_object('employeeId','E2','deskId','D2','bookedFor','2025-03-10T09:00:00-04:00')),
  jsonb_build_object('type','desk.booked','payload',jsonb_build_object('employeeId','E2','deskId','D2','bookedFor','2025-03-11T09:00:00-04:00')),
  jsonb_build_object('type','desk.booked','payload',jsonb_build_object('employeeId','E2','deskId','D2','bookedFor','2025-03-12T09:00:00-04:00')),
  jsonb_build_object('type','desk.booked','payload',jsonb_build_object('employeeId','E2','deskId','D2','bookedFor','2025-03-13T09:00:00-04:00')),
  jsonb_build_object('type','desk.booked','payload',jsonb_build_object('employeeId','E2','deskId','D2','bookedFor','2025-03-14T09:00:00-04:00'))));
SELECT phoenix.put('employee', 'E2', '{"name":"Bo Chan-Rivera"}', '2025-03-12');
SELECT employee_name, count(*) FROM reporting.booking_series WHERE employee_id = 'E2'
 GROUP BY employee_name ORDER BY 1;

-- Extra — UTC → the site's local calendar day.  Tokyo's day is ahead of
-- UTC's; New York changed to daylight time on Sunday 2025-03-09 02:00.
SELECT * FROM phoenix.emit_batch('[
  {"type":"presence.detected","event_id":"tz-tyo","payload":{"employeeId":"E2","floorId":"F2","detectedAt":"2025-03-10T20:30:00Z"}},
  {"type":"presence.detected","event_id":"tz-nyc-est","payload":{"employeeId":"E2","floorId":"F1","detectedAt":"2025-03-09T04:30:00Z"}},
  {"type":"presence.detected","event_id":"tz-nyc-edt","payload":{"employeeId":"E2","floorId":"F1","detectedAt":"2025-03-10T03:30:00Z"}},
  {"type":"presence.detected","event_id":"tz-nyc-edt2","payload":{"employeeId":"E2","floorId":"F1","detectedAt":"2025-03-10T04:30:00Z"}}]');
SELECT event_id, effective_at, site_name, site_timezone, local_date
  FROM reporting.presence_report WHERE event_id LIKE 'tz-%' ORDER BY event_id;

-- Extra — floor → site rollup; floor F1 moves to Tokyo's site on Wednesday.
SELECT phoenix.put('floor', 'F1', '{"site_id":"TYO"}', '2025-03-12');
SELECT local_date, site_name, count(*) FROM reporting.presence_report
 WHERE floor_id = 'F1' AND effective_at >= '2025-03-10' GROUP BY 1, 2 ORDER BY 1, 2;
-- a site's own change reaches the rows through the floor (chained key)
SELECT phoenix.put('site', 'TYO', '{"name":"Tokyo Shinagawa"}', '2025-03-14');
SELECT local_date, site_name, count(*) FROM reporting.presence_report
 WHERE floor_id = 'F1' AND effective_at >= '2025-03-10' GROUP BY 1, 2 ORDER BY 1, 2;

-- every row equals a from-scratch recomputation over the entity history
CREATE VIEW presence_expected AS
SELECT p.event_id, e.department AS employee_department, en.name AS employee_name,
       f.site_id AS floor_site_id, s.name AS site_name, s.timezone AS site_timezone,
       (p.effective_at AT TIME ZONE s.timezone)::date AS local_date
  FROM reporting.presence_report p
  LEFT JOIN LATERAL phoenix_entity.employee_at(p.employee_id, p.effective_at) e ON true
  LEFT JOIN LATERAL phoenix_entity.employee_at(p.employee_id, now()) en ON true
  LEFT JOIN LATERAL phoenix_entity.floor_at(p.floor_id, p.effective_at) f ON true
  LEFT JOIN LATERAL phoenix_entity.site_at(f.site_id, p.effective_at) s ON true;
SELECT count(*) AS differences FROM (
  (SELECT event_id, employee_department, employee_name, floor_site_id, site_name, site_timezone, local_date
     FROM reporting.presence_report EXCEPT ALL SELECT * FROM presence_expected)
  UNION ALL
  (SELECT * FROM presence_expected EXCEPT ALL
   SELECT event_id, employee_department, employee_name, floor_site_id, site_name, site_timezone, local_date
     FROM reporting.presence_report)) d;

-- rebuild from the log gives the same rows, with progress NOTICEs
CREATE TEMP TABLE snapshot AS SELECT * FROM reporting.presence_report;
SELECT phoenix.rebuild_projection('presence_report', batch_size => 8);
SELECT count(*) AS differences FROM (
  (SELECT event_id, employee_department, employee_name, site_name, local_date FROM reporting.presence_report
   EXCEPT ALL SELECT event_id, employee_department, employee_name, site_name, local_date FROM snapshot)
  UNION ALL
  (SELECT event_id, employee_department, employee_name, site_name, local_date FROM snapshot
   EXCEPT ALL SELECT event_id, employee_department, employee_name, site_name, local_date FROM reporting.presence_report)) d;

SELECT name, table_name, source, kind, steps FROM phoenix.projection_catalog ORDER BY name;
SELECT phoenix.drop_projection('booking_series');
SELECT to_regclass('reporting.booking_series') IS NULL AS dropped, count(*) AS left
  FROM phoenix.projections;
