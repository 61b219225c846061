-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_story4_forgotten_employee;
CREATE DATABASE regress_story4_forgotten_employee;
\c regress_story4_forgotten_employee
\set ECHO all
-- Story 4 (docs/design.md): a forgotten employee.  Monday: Ada (E42) leaves and
-- asks to be forgotten.  Tuesday: presence from before she left is uploaded.
-- Friday: the week's aggregate still counts those events; the drill-down
-- shows pseudonyms only — and nothing Phoenix stored anywhere holds her
-- name or email.
CREATE EXTENSION phoenix CASCADE;
SET timezone = 'UTC';
SET phoenix.forget_secret = 'story 4 secret';

-- every table Phoenix owns, found in pg_catalog (new tables are covered
-- automatically), searched for the needles in any column, jsonb included
CREATE FUNCTION pg_temp.pii_hits(needles text[])
RETURNS TABLE (relation text, hits bigint) LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel, coalesce(pg_partition_root(c.oid), c.oid)::regclass AS root
             FROM pg_class c
            WHERE c.relnamespace::regnamespace::text IN ('phoenix', 'phoenix_entity', 'reporting')
              AND c.relkind = 'r' ORDER BY 1
  LOOP
    EXECUTE format('SELECT count(*) FROM %s t WHERE EXISTS (SELECT 1 FROM unnest($1) n '
                   'WHERE strpos(lower(t::text), lower(n)) > 0)', r.rel)
      INTO hits USING needles;
    IF hits > 0 THEN relation := r.root::text; RETURN NEXT; END IF;
  END LOOP;
END $$;

SELECT phoenix.create_entity('employee', 'employee_id',
       '{"name":"text","email":"text","department":"text"}', pii => '{name,email}');
SELECT phoenix.create_entity('site', 'site_id', '{"name":"text","timezone":"text"}');
SELECT phoenix.create_entity('floor', 'floor_id', '{"site_id":"text"}', refs => '{"site_id":"site"}');
SELECT phoenix.put('site', 'S1', '{"name":"Zurich","timezone":"Europe/Zurich"}', valid_from => '2026-01-01');
SELECT phoenix.put('floor', 'F1', '{"site_id":"S1"}', valid_from => '2026-01-01');
SELECT phoenix.put('floor', 'F2', '{"site_id":"S1"}', valid_from => '2026-01-01');

SELECT phoenix.create_event_type('employee.updated',
       schema => '{"type":"object","required":["employeeId"],
                   "properties":{"employeeId":{"type":"string"},"fullName":{"type":"string"},
                                 "email":{"type":"string"},"department":{"type":"string"},
                                 "effectiveAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       entity => 'employee', key_field => 'employeeId',
       sets => '{"fullName":"name","email":"email","department":"department"}', time_field => 'effectiveAt');
-- the badge system also writes the name printed on the badge (PII)
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","floorId","detectedAt"],
                   "properties":{"employeeId":{"type":"string"},"floorId":{"type":"string"},
                                 "badgeName":{"type":"string","x-pii":true},
                                 "detectedAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee","floorId":"floor"}');
-- Greetly knows the host by email only
SELECT phoenix.create_event_type('visitor.checked-in',
       schema => '{"type":"object","required":["visitorName","hostEmail","checkedInAt"],
                   "properties":{"visitorName":{"type":"string","x-pii":true},
                                 "hostEmail":{"type":"string"},
                                 "checkedInAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       time_field => 'checkedInAt', refs => '{"hostEmail":"employee.email"}');

SELECT phoenix.create_projection('presence_report',
  source  => 'presence.detected',
  columns => '{"employee_id":"employeeId","floor_id":"floorId","badge_name":"badgeName"}',
  enrich  => '[{"entity":"employee","key":"employee_id",
                "attributes":{"department":"event_time","name":"current","email":"event_time"}},
               {"entity":"floor","key":"floor_id","attributes":{"site_id":"event_time"}},
               {"entity":"site","key":"floor_site_id","attributes":{"timezone":"event_time"}}]',
  derive  => '{"local_date":"(effective_at AT TIME ZONE site_timezone)::date",
               "display_name":"upper(employee_name)"}');
SELECT phoenix.create_projection('visits',
  source  => 'visitor.checked-in',
  columns => '{"visitor_name":"visitorName","host_email":"hostEmail"}',
  enrich  => '[{"entity":"employee","key":"host_email","by":"email",
                "attributes":{"name":"event_time","department":"event_time"}}]');

-- the week before: Ada and Grace work in Finance
SELECT phoenix.emit('employee.updated',
       '{"employeeId":"E42","fullName":"Ada Lovelace","email":"ada@example.com","department":"Finance","effectiveAt":"2026-11-01T00:00:00Z"}',
       event_id => 'hr-1') > 0 AS ok;
SELECT phoenix.emit('employee.updated',
       '{"employeeId":"E7","fullName":"Grace Hopper","email":"grace@example.com","department":"Finance","effectiveAt":"2026-11-01T00:00:00Z"}',
       event_id => 'hr-2') > 0 AS ok;

-- Monday, real time: badges and a visitor for Ada
SELECT * FROM phoenix.emit_batch('[
  {"type":"presence.detected","event_id":"b-1","payload":{"employeeId":"E42","floorId":"F1","badgeName":"Ada Lovelace","detectedAt":"2026-11-23T08:05:00Z"}},
  {"type":"presence.detected","event_id":"b-2","payload":{"employeeId":"E7","floorId":"F1","badgeName":"Grace Hopper","detectedAt":"2026-11-23T08:10:00Z"}},
  {"type":"presence.detected","event_id":"b-3","payload":{"employeeId":"E7","floorId":"F2","badgeName":"Grace Hopper","detectedAt":"2026-11-23T13:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"g-1","payload":{"visitorName":"Charles Babbage","hostEmail":"ada@example.com","checkedInAt":"2026-11-23T09:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"g-2","payload":{"visitorName":"Alan Turing","hostEmail":"grace@example.com","checkedInAt":"2026-11-23T10:00:00Z"}}
]', source => 'realtime');
-- a refused badge line naming Ada (bad time) sits in the dead letters
SELECT * FROM phoenix.ingest_csv('presence.detected', $csv$employeeId,floorId,badgeName,detectedAt
E42,F1,Ada Lovelace,yesterday morning
$csv$, source => 'badge-export-monday');
SELECT count(*) AS dead_letters_naming_ada FROM phoenix.dead_letters WHERE raw LIKE '%Ada Lovelace%';

-- Monday noon: Ada leaves, and asks to be forgotten
SELECT phoenix.emit('employee.updated',
       '{"employeeId":"E42","department":"(left)","effectiveAt":"2026-11-23T12:00:00Z"}', event_id => 'hr-3') > 0 AS ok;

CREATE TEMP TABLE aggregate_before AS
  SELECT local_date, floor_id, employee_department, count(*) AS presences
    FROM reporting.presence_report GROUP BY 1, 2, 3;
CREATE TEMP TABLE visits_before AS
  SELECT employee_department, count(*) AS visits FROM reporting.visits GROUP BY 1;

SELECT jsonb_pretty(phoenix.forget('employee', 'E42', reason => 'erasure request 2026-117'));

-- the aggregates are unchanged by the erasure
SELECT count(*) AS aggregate_differences FROM (
  (SELECT local_date, floor_id, employee_department, count(*) FROM reporting.presence_report GROUP BY 1, 2, 3
   EXCEPT SELECT * FROM aggregate_before)
  UNION ALL
  (SELECT * FROM aggregate_before
   EXCEPT SELECT local_date, floor_id, employee_department, count(*) FROM reporting.presence_report GROUP BY 1, 2, 3)) d;
SELECT count(*) AS visit_differences FROM (
  (SELECT employee_department, count(*) FROM reporting.visits GROUP BY 1 EXCEPT SELECT * FROM visits_before)
  UNION ALL
  (SELECT * FROM visits_before EXCEPT SELECT employee_department, count(*) FROM reporting.visits GROUP BY 1)) d;

-- Tuesday: the badge export of Monday morning arrives late (CSV), and
-- Greetly resends a Monday visit for Ada's email (emit)
SELECT * FROM phoenix.ingest_csv('presence.detected', $csv$employeeId,floorId,badgeName,detectedAt
E42,F2,Ada Lovelace,2026-11-23T10:30:00Z
E7,F2,Grace Hopper,2026-11-23T10:35:00Z
E42,F1,Ada Lovelace,not a time
$csv$, source => 'badge-export-tuesday');
SELECT phoenix.emit('visitor.checked-in',
       '{"visitorName":"Ada Lovelace","hostEmail":"ada@example.com","checkedInAt":"2026-11-23T11:00:00Z"}',
       event_id => 'g-3') > 0 AS ok;
-- HR sends a late change of her email; a visit naming the new address after
-- the change, and one naming the old address before it, are recognised as
-- about her (values match exactly and only in the periods she held them,
-- as enrichment matches them)
SELECT phoenix.emit('employee.updated',
       '{"employeeId":"E42","email":"ada.king@example.com","effectiveAt":"2026-11-23T11:30:00Z"}',
       event_id => 'hr-4') > 0 AS ok;
SELECT * FROM phoenix.emit_batch('[
  {"type":"visitor.checked-in","event_id":"g-4","payload":{"visitorName":"Mary Somerville","hostEmail":"ada.king@example.com","checkedInAt":"2026-11-23T11:45:00Z"}},
  {"type":"visitor.checked-in","event_id":"g-5","payload":{"visitorName":"Mary Somerville","hostEmail":"ada@example.com","checkedInAt":"2026-11-23T11:20:00Z"}}
]', source => 'greetly');
-- a resend of an event logged before the erasure is still the same event
SELECT phoenix.emit('visitor.checked-in',
       '{"visitorName":"Charles Babbage","hostEmail":"ada@example.com","checkedInAt":"2026-11-23T09:00:00Z"}',
       event_id => 'g-1') > 0 AS idempotent_repeat;

-- Friday: the week's aggregate counts Ada's presences, late ones included
SELECT local_date, employee_department, count(*) AS presences
  FROM reporting.presence_report
 WHERE local_date BETWEEN '2026-11-23' AND '2026-11-27'
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT employee_department, count(*) AS visits FROM reporting.visits GROUP BY 1 ORDER BY 1;

-- the drill-down: Ada's rows show only pseudonyms, the same one for her
-- name everywhere (history, badge, enrichment)
SELECT effective_at, employee_id, floor_id, employee_department,
       employee_name ~ '^forgotten-[0-9a-f]{20}$' AS name_is_pseudonym,
       badge_name = employee_name AS badge_is_same_pseudonym,
       employee_name = (SELECT DISTINCT name FROM phoenix_entity.employee_history WHERE employee_id = 'E42') AS as_in_history,
       employee_email ~ '^[0-9a-f]{20}@forgotten\.invalid$' AS email_is_pseudonym,
       display_name = upper(employee_name) AS derived_recomputed
  FROM reporting.presence_report WHERE employee_id = 'E42' ORDER BY effective_at;
SELECT event_id, host_email, employee_name, employee_department, visitor_name
  FROM reporting.visits ORDER BY event_id;
-- Grace is untouched
SELECT DISTINCT employee_name, employee_email, badge_name, display_name
  FROM reporting.presence_report WHERE employee_id = 'E7';

-- nothing anywhere holds Ada's name or email (nor her visitor's name on
-- events about her); Grace's data is all still there
SELECT * FROM pg_temp.pii_hits('{Ada Lovelace,Lovelace,ada@example.com,ada.king@example.com,Charles Babbage,Mary Somerville}');
SELECT * FROM pg_temp.pii_hits('{Grace Hopper,grace@example.com,Alan Turing}');

-- the event log and the dead letters, as stored
SELECT CASE WHEN source LIKE 'badge-export%' THEN '(generated)' ELSE event_id END AS event_id, payload
  FROM phoenix.event_log ORDER BY position;
SELECT source, source_position, raw, reason FROM phoenix.dead_letters ORDER BY dead_letter_id;
SELECT entity, erased_by, reason, scrubbed FROM phoenix.erasures ORDER BY erasure_id;
