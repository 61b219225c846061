-- scripts/demo.sql — the tour: the four stories of docs/design.md, then the extras
-- (UTC → local day, floor → site rollup, a stale burst vs the floor plan).
-- Run by `make demo` (psql -v fixtures=<dir>).  The week is Mon 2025-03-10 ..
-- Fri 2025-03-14; "real time" facts are effective when they are sent.
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET timezone = 'UTC';
CREATE EXTENSION IF NOT EXISTS phoenix CASCADE;

\echo
\echo '== Setup: reference data as bitemporal entities, event types with schemas'
SELECT phoenix.create_entity('employee', key => 'employee_id',
       attributes => '{"name":"text","email":"text","department":"text"}', pii => '{name,email}') \gset
SELECT phoenix.create_entity('site',  'site_id',  '{"name":"text","timezone":"text"}') \gset
SELECT phoenix.create_entity('floor', 'floor_id', '{"site_id":"text","floor_online":"boolean"}',
       refs => '{"site_id":"site"}') \gset
SELECT phoenix.create_entity('desk',  'desk_id',  '{"room":"text","floor_id":"text"}',
       refs => '{"floor_id":"floor"}') \gset
SELECT phoenix.create_entity('greetly_location', 'location_id', '{"label":"text","site_id":"text"}',
       refs => '{"site_id":"site"}') \gset
SELECT phoenix.create_event_type('employee.transferred',
       schema => '{"type":"object","required":["employeeId","department"],
                   "properties":{"employeeId":{"type":"string"},"department":{"type":"string"},
                                 "effectiveAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       entity => 'employee', key_field => 'employeeId',
       sets => '{"department":"department"}', time_field => 'effectiveAt') \gset
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","floorId","detectedAt"],
                   "properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"}}}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee","floorId":"floor"}') \gset
SELECT phoenix.create_event_type('desk.booked',
       schema => '{"type":"object","required":["employeeId","deskId","bookedFor"],
                   "properties":{"employeeId":{"type":"string"},"deskId":{"type":"string"},
                                 "bookedFor":{"type":"string","format":"date-time"}}}',
       time_field => 'bookedFor', refs => '{"employeeId":"employee","deskId":"desk"}') \gset
SELECT phoenix.create_event_type('desk.series-booked',
       schema => '{"type":"object","required":["seriesId","employeeId","deskId","firstDay","rrule","tz"],
                   "properties":{"seriesId":{"type":"string"},"employeeId":{"type":"string"},
                                 "deskId":{"type":"string"},
                                 "firstDay":{"type":"string","format":"date-time"},
                                 "rrule":{"type":"string"},"tz":{"type":"string"},
                                 "skip":{"type":"array","items":{"type":"string","format":"date"}}}}',
       time_field => 'firstDay', refs => '{"employeeId":"employee","deskId":"desk"}',
       recurrence => '{"rule":"rrule","timezone":"tz","except":"skip","series":"seriesId"}') \gset
SELECT phoenix.create_event_type('visitor.checked-in',
       schema => '{"type":"object","required":["visitorName","hostEmail","locationId","checkedInAt"],
                   "properties":{"visitorName":{"type":"string","x-pii":true},
                                 "hostEmail":{"type":"string","format":"email"},
                                 "locationId":{"type":"string"},
                                 "checkedInAt":{"type":"string","format":"date-time"}}}',
       time_field => 'checkedInAt', refs => '{"hostEmail":"employee.email","locationId":"greetly_location"}') \gset
SELECT phoenix.put('site', 'NYC', '{"name":"New York","timezone":"America/New_York"}', '2025-01-01'),
       phoenix.put('site', 'TYO', '{"name":"Tokyo","timezone":"Asia/Tokyo"}', '2025-01-01'),
       phoenix.put('floor', 'F1', '{"site_id":"NYC","floor_online":true}', '2025-01-01'),
       phoenix.put('floor', 'F2', '{"site_id":"TYO","floor_online":true}', '2025-01-01'),
       phoenix.put('greetly_location', 'L1', '{"label":"Lobby","site_id":"NYC"}', '2025-01-01'),
       phoenix.put('employee', 'E1', '{"name":"Ann Lee","email":"ann@x.com","department":"Finance"}', '2025-01-01'),
       phoenix.put('employee', 'E2', '{"name":"Bo Chan","email":"bo@x.com","department":"Sales"}', '2025-01-01'),
       phoenix.put('desk', 'D1', '{"room":"Room A","floor_id":"F1"}', '2025-03-03'),
       phoenix.put('desk', 'D2', '{"room":"Room A","floor_id":"F1"}', '2025-03-03') \gset

\echo '== Projections: declared once by the consumers (producers know nothing of them)'
SELECT phoenix.create_projection('presence_report', source => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId"}',
  enrich  => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time","name":"current"}},
               {"entity":"floor","key":"floor_id","attributes":{"site_id":"event_time"}},
               {"entity":"site","key":"floor_site_id","attributes":{"name":"event_time","timezone":"event_time"}}]',
  derive  => '{"local_date":"(effective_at AT TIME ZONE site_timezone)::date"}') \gset
SELECT phoenix.create_projection('desk_bookings', source => 'desk.booked',
  columns => '{"employee_id":"employeeId","desk_id":"deskId"}',
  enrich  => '[{"entity":"desk","key":"desk_id","attributes":{"room":"event_time"}},
               {"entity":"employee","key":"employee_id","attributes":{"name":"current"}}]') \gset
SELECT phoenix.create_projection('desk_series', source => 'desk.series-booked',
  columns => '{"employee_id":"employeeId","desk_id":"deskId"}',
  enrich  => '[{"entity":"desk","key":"desk_id","attributes":{"room":"event_time"}},
               {"entity":"employee","key":"employee_id","attributes":{"name":"current"}}]',
  derive  => '{"weekday":"(ARRAY[''Mon'',''Tue'',''Wed'',''Thu'',''Fri'',''Sat'',''Sun''])[extract(isodow FROM occurrence_date)::integer]"}', horizon => '400 days') \gset
SELECT phoenix.create_projection('visits', source => 'visitor.checked-in',
  columns => '{"visitor":"visitorName","host_email":"hostEmail","location_id":"locationId"}',
  enrich  => '[{"entity":"employee","key":"host_email","by":"email","as":"host","attributes":{"name":"event_time","department":"event_time"}},
               {"entity":"greetly_location","key":"location_id","as":"location","attributes":{"site_id":"event_time"}},
               {"entity":"site","key":"location_site_id","attributes":{"name":"event_time"}}]') \gset
SELECT phoenix.create_projection('floor_plan', source => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId"}',
  enrich  => '[{"entity":"floor","key":"floor_id","attributes":{"site_id":"event_time"}}]',
  kind => 'latest', latest_key => 'employee_id', fresh_for => '2 hours') \gset
\echo
\echo 'The catalog of projections:'
SELECT name, table_name, source, kind, steps FROM phoenix.projection_catalog ORDER BY name;

\echo
\echo '== Story 1 — late presence upload'
\echo 'Wednesday, real time: Ann is transferred Finance → Accounting.'
SELECT phoenix.emit('employee.transferred',
       '{"employeeId":"E1","department":"Accounting","effectiveAt":"2025-03-12T00:00:00-04:00"}') \gset
\echo 'Friday: the facility manager uploads the week''s badge CSV (Mon–Fri).'
SELECT * FROM phoenix.ingest_csv('presence.detected', $csv$employeeId,floorId,detectedAt
E1,F1,2025-03-10T13:00:00Z
E1,F1,2025-03-11T13:00:00Z
E1,F1,2025-03-12T13:00:00Z
E1,F1,2025-03-13T13:00:00Z
E1,F1,2025-03-14T13:00:00Z
$csv$, source => 'badge-upload');
\echo 'Report: Mon/Tue say Finance, Wed–Fri Accounting.'
SELECT local_date, employee_name, employee_department, site_name
  FROM reporting.presence_report WHERE employee_id = 'E1' ORDER BY effective_at;

\echo
\echo '== Story 2 — future desk booking (no event at all on the booking''s day)'
\echo 'Monday: desk D1 (Room A) booked for Wednesday.  Tuesday: moved to Room B.  Thursday: to Room C.'
SELECT phoenix.emit('desk.booked', '{"employeeId":"E1","deskId":"D1","bookedFor":"2025-03-12T09:00:00-04:00"}') \gset
SELECT phoenix.put('desk', 'D1', '{"room":"Room B"}', '2025-03-11T09:00:00-04:00') \gset
SELECT phoenix.put('desk', 'D1', '{"room":"Room C"}', '2025-03-13T09:00:00-04:00') \gset
\echo 'Friday''s report of last week''s bookings, grouped by room: Room B.'
SELECT desk_room, count(*) AS bookings FROM reporting.desk_bookings
 WHERE desk_id = 'D1' GROUP BY desk_room ORDER BY 1;

\echo
\echo '== Story 3 — booking series and a legal name change'
\echo 'Monday: Bo books desk D2 (Room A) every day this week at 09:00 New York time: one event, one rule.'
SELECT phoenix.emit('desk.series-booked', '{"seriesId":"bo-week-11","employeeId":"E2","deskId":"D2",
       "firstDay":"2025-03-10T09:00:00-04:00","rrule":"FREQ=DAILY;COUNT=5","tz":"America/New_York"}') \gset
\echo 'Tuesday: desk D2 moves to Room B.  Wednesday: Bo''s legal name changes, and Bo skips Friday'
\echo '(a second event of the same series: Friday''s occurrence goes, Mon–Thu keep their rows).'
SELECT phoenix.put('desk', 'D2', '{"room":"Room B"}', '2025-03-11T00:00:00-04:00') \gset
SELECT phoenix.put('employee', 'E2', '{"name":"Bo Chan-Rivera"}', '2025-03-12') \gset
SELECT phoenix.emit('desk.series-booked', '{"seriesId":"bo-week-11","employeeId":"E2","deskId":"D2",
       "firstDay":"2025-03-10T09:00:00-04:00","rrule":"FREQ=DAILY;COUNT=5","tz":"America/New_York",
       "skip":["2025-03-14"]}') \gset
\echo 'One row per occurrence, each enriched as of its own day:'
SELECT occurrence_id, weekday, effective_at, desk_room, employee_name
  FROM reporting.desk_series ORDER BY effective_at;
\echo 'Friday''s report grouped by employee: one group, the new name, the four days booked.'
SELECT employee_name, count(*) AS bookings FROM reporting.desk_series GROUP BY employee_name ORDER BY 1;
\echo 'Grouped by room: Monday in Room A, Tuesday–Thursday in Room B.'
SELECT desk_room, string_agg(weekday, ', ' ORDER BY effective_at) AS days, count(*) AS bookings
  FROM reporting.desk_series GROUP BY desk_room ORDER BY 1;

\echo
\echo '== Story 4 — a forgotten employee'
SET phoenix.forget_secret = 'demo secret';
\echo 'Monday: Bo leaves and asks to be forgotten.'
SELECT phoenix.forget('employee', 'E2', reason => 'erasure request 2025-117') \gset
\echo 'Tuesday: presence from before Bo left is uploaded.'
SELECT * FROM phoenix.emit_batch('[
  {"type":"presence.detected","payload":{"employeeId":"E2","floorId":"F1","detectedAt":"2025-03-06T13:00:00Z"}},
  {"type":"presence.detected","payload":{"employeeId":"E2","floorId":"F1","detectedAt":"2025-03-07T13:00:00Z"}}]');
\echo 'Friday: the aggregate still counts those presences ...'
SELECT local_date, employee_department, count(*) AS presences
  FROM reporting.presence_report WHERE local_date < '2025-03-10' GROUP BY 1, 2 ORDER BY 1, 2;
\echo '... and the drill-down shows no name or email.'
SELECT local_date, employee_id, employee_name FROM reporting.presence_report
 WHERE local_date < '2025-03-10' ORDER BY 1;

\echo
\echo '== Notes, Example 2 — Greetly visits: host by email as of the visit, location → site'
SELECT * FROM phoenix.emit_batch('[
  {"type":"visitor.checked-in","event_id":"v1","payload":{"visitorName":"V. One","hostEmail":"ann@x.com","locationId":"L1","checkedInAt":"2025-03-03T15:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"v2","payload":{"visitorName":"V. Two","hostEmail":"ann@x.com","locationId":"L1","checkedInAt":"2025-03-20T15:00:00Z"}}]');
\echo 'March 5: Ann''s address becomes ann.lee@x.com; March 15: another employee (E3) takes ann@x.com.'
SELECT phoenix.put('employee', 'E1', '{"email":"ann.lee@x.com"}', '2025-03-05'),
       phoenix.put('employee', 'E3', '{"name":"Cy Diaz","email":"ann@x.com","department":"Legal"}', '2025-03-15') \gset
\echo 'The early visit keeps Ann as its host; the late one is Cy''s.'
SELECT event_id, host_email, host_employee_id, host_name, host_department, site_name
  FROM reporting.visits ORDER BY event_id;

\echo
\echo '== Extra — UTC timestamps land on the site''s local calendar day'
SELECT * FROM phoenix.emit_batch('[
  {"type":"presence.detected","event_id":"tz-tokyo","payload":{"employeeId":"E1","floorId":"F2","detectedAt":"2025-03-10T20:30:00Z"}},
  {"type":"presence.detected","event_id":"tz-ny-est","payload":{"employeeId":"E1","floorId":"F1","detectedAt":"2025-03-09T04:30:00Z"}},
  {"type":"presence.detected","event_id":"tz-ny-edt","payload":{"employeeId":"E1","floorId":"F1","detectedAt":"2025-03-10T03:30:00Z"}}]');
\echo '(Tokyo is a day ahead of UTC; New York switched to daylight time on 2025-03-09.)'
SELECT event_id, effective_at AS utc, site_name, local_date
  FROM reporting.presence_report WHERE event_id LIKE 'tz-%' ORDER BY event_id;

\echo
\echo '== Extra — floor → site rollup; floor F1 moves to the Tokyo site on Wednesday'
SELECT phoenix.put('floor', 'F1', '{"site_id":"TYO"}', '2025-03-12') \gset
SELECT site_name, count(*) AS presences FROM reporting.presence_report
 WHERE effective_at >= '2025-03-10' AND effective_at < '2025-03-15' GROUP BY 1 ORDER BY 1;

\echo
\echo '== Extra — a burst of hours-old sensor data never makes the floor plan stale'
SELECT phoenix.emit('presence.detected', jsonb_build_object('employeeId','E1','floorId','F2',
         'detectedAt', now() - interval '5 minutes')) \gset
SELECT * FROM phoenix.emit_batch((SELECT jsonb_agg(jsonb_build_object('type','presence.detected',
         'payload', jsonb_build_object('employeeId','E' || (1 + i % 2),'floorId','F1',
                                       'detectedAt', now() - interval '4 hours' + i * interval '1 minute')))
    FROM generate_series(1, 120) i));
\echo 'The floor plan (fresh view): Ann is where she was seen five minutes ago; the old burst does not show.'
SELECT employee_id, floor_id, floor_site_id, now() - effective_at < interval '10 minutes' AS recent
  FROM reporting.floor_plan_fresh ORDER BY employee_id;
