-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_greetly;
CREATE DATABASE regress_projection_greetly;
\c regress_projection_greetly
\set ECHO all
-- The notes' Example 2 (Greetly visits): a visitor checks in for a host known
-- only by email, at a Greetly location.  The visit is enriched with the
-- employee who had that email at the visit's time (by-attribute match) and
-- with the site the location maps to (chained key).  Then the host's email
-- changes, and later another employee takes the old address: earlier visits
-- keep the right host.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('employee', key => 'employee_id',
       attributes => '{"name":"text","email":"text","department":"text"}', pii => '{name,email}');
SELECT phoenix.create_entity('site', 'site_id', '{"name":"text","timezone":"text"}');
SELECT phoenix.create_entity('greetly_location', 'location_id', '{"label":"text","site_id":"text"}',
       refs => '{"site_id":"site"}');
SELECT phoenix.create_event_type('visitor.checked-in',
       schema => '{"type":"object","required":["visitorName","hostEmail","locationId","checkedInAt"],
                   "properties":{"visitorName":{"type":"string","x-pii":true},
                                 "hostEmail":{"type":"string","format":"email"},
                                 "locationId":{"type":"string"},
                                 "checkedInAt":{"type":"string","format":"date-time"}}}',
       time_field => 'checkedInAt',
       refs => '{"hostEmail":"employee.email","locationId":"greetly_location"}');

SELECT phoenix.put('site', 'S1', '{"name":"Boston","timezone":"America/New_York"}', '2025-01-01');
SELECT phoenix.put('site', 'S2', '{"name":"Cambridge","timezone":"America/New_York"}', '2025-01-01');
SELECT phoenix.put('greetly_location', 'L1', '{"label":"Lobby","site_id":"S1"}', '2025-01-01');
SELECT phoenix.put('employee', 'E1', '{"name":"Ann Lee","email":"ann@x.com","department":"Finance"}', '2025-01-01');
SELECT phoenix.put('employee', 'E2', '{"name":"Bo Chan","email":"bo@x.com","department":"Sales"}', '2025-01-01');

SELECT phoenix.create_projection('visits', source => 'visitor.checked-in',
  columns => '{"visitor":"visitorName","host_email":"hostEmail","location_id":"locationId"}',
  enrich  => '[{"entity":"employee","key":"host_email","by":"email","as":"host",
                "attributes":{"name":"event_time","department":"event_time"}},
               {"entity":"greetly_location","key":"location_id","as":"location","attributes":{"site_id":"event_time"}},
               {"entity":"site","key":"location_site_id","attributes":{"name":"event_time"}}]');
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'reporting.visits'::regclass AND attnum > 0 ORDER BY attnum;

SELECT * FROM phoenix.emit_batch('[
  {"type":"visitor.checked-in","event_id":"v-mar03","payload":{"visitorName":"V. One","hostEmail":"ann@x.com","locationId":"L1","checkedInAt":"2025-03-03T15:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"v-mar10","payload":{"visitorName":"V. Two","hostEmail":"ann@x.com","locationId":"L1","checkedInAt":"2025-03-10T15:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"v-mar20","payload":{"visitorName":"V. Three","hostEmail":"ann@x.com","locationId":"L1","checkedInAt":"2025-03-20T15:00:00Z"}}]');
SELECT event_id, host_email, host_employee_id, host_name, site_name FROM reporting.visits ORDER BY event_id;

-- March 5: Ann's address becomes ann.lee@x.com.
SELECT phoenix.put('employee', 'E1', '{"email":"ann.lee@x.com"}', '2025-03-05');
SELECT event_id, host_email, host_employee_id, host_name FROM reporting.visits ORDER BY event_id;
-- March 15: Bo takes over the old address ann@x.com.
SELECT phoenix.put('employee', 'E2', '{"email":"ann@x.com"}', '2025-03-15');
SELECT event_id, host_email, host_employee_id, host_name, host_department FROM reporting.visits ORDER BY event_id;

-- A visit for Ann's new address, and a late one (uploaded now) for the old
-- address on March 1: both land on Ann.
SELECT * FROM phoenix.emit_batch('[
  {"type":"visitor.checked-in","event_id":"v-mar12","payload":{"visitorName":"V. Four","hostEmail":"ann.lee@x.com","locationId":"L1","checkedInAt":"2025-03-12T15:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"v-mar01","payload":{"visitorName":"V. Zero","hostEmail":"ann@x.com","locationId":"L1","checkedInAt":"2025-03-01T15:00:00Z"}}]');
-- Ann's department changes from March 2: rows matched to her by either
-- address follow, Bo's do not.
SELECT phoenix.put('employee', 'E1', '{"department":"Treasury"}', '2025-03-02');
SELECT event_id, host_email, host_employee_id, host_name, host_department FROM reporting.visits ORDER BY event_id;

-- The location is remapped to another site from March 18 (location → site).
SELECT phoenix.put('greetly_location', 'L1', '{"site_id":"S2"}', '2025-03-18');
SELECT event_id, location_site_id, site_name FROM reporting.visits ORDER BY event_id;

-- the same rows as a from-scratch query over entity history
SELECT count(*) AS differences FROM (
  (SELECT event_id, host_employee_id, host_name, host_department, site_name FROM reporting.visits
   EXCEPT ALL
   SELECT v.event_id, h.employee_id, h.name, h.department, s.name
     FROM reporting.visits v
     LEFT JOIN LATERAL (SELECT * FROM phoenix_entity.employee_history h
                         WHERE h.email = v.host_email AND h.recorded_to = 'infinity'
                           AND h.valid_from <= v.effective_at AND h.valid_to > v.effective_at
                         ORDER BY h.employee_id LIMIT 1) h ON true
     LEFT JOIN LATERAL phoenix_entity.greetly_location_at(v.location_id, v.effective_at) l ON true
     LEFT JOIN LATERAL phoenix_entity.site_at(l.site_id, v.effective_at) s ON true)) d;
