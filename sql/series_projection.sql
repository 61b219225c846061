-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_series_projection;
CREATE DATABASE regress_series_projection;
\c regress_series_projection
\set ECHO all
-- Booking series in projections: one row per occurrence, keyed by
-- occurrence_id, each enriched as of its own instant; a later event of the
-- series replaces it (lost occurrences deleted, new ones added, unchanged
-- ones untouched, change_seq included); the cascade, `current` attributes
-- and rebuilds work per occurrence.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text"}', pii => '{name}');
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}');
SELECT phoenix.create_event_type('desk.series',
       schema => '{"type":"object","required":["deskId","employeeId","firstAt"],
                   "properties":{"deskId":{"type":"string"},"employeeId":{"type":"string"},
                                 "firstAt":{"type":"string","format":"date-time"},
                                 "rrule":{"type":"string"},"tz":{"type":"string"},
                                 "skip":{"type":"array","items":{"type":"string"}},
                                 "seriesId":{"type":"string"},"note":{"type":"string","x-pii":true}}}',
       time_field => 'firstAt', refs => '{"employeeId":"employee","deskId":"desk"}',
       recurrence => '{"rule":"rrule","timezone":"tz","except":"skip","series":"seriesId"}');
SELECT phoenix.put('employee', 'E2', '{"name":"Bo Chan"}', '2025-01-01');
SELECT phoenix.put('desk', 'D2', '{"room":"Room A"}', '2025-01-01');

-- a horizon is for recurring sources only, and bounded
SELECT phoenix.create_projection('bad', source => 'desk.series', horizon => '20 years');
SELECT phoenix.create_projection('series_report', source => 'desk.series',
  columns => '{"employee_id":"employeeId","desk_id":"deskId","note":"note"}',
  enrich  => '[{"entity":"desk","key":"desk_id","attributes":{"room":"event_time"}},
               {"entity":"employee","key":"employee_id","attributes":{"name":"current"}}]',
  derive  => '{"weekday":"(ARRAY[''Mon'',''Tue'',''Wed'',''Thu'',''Fri'',''Sat'',''Sun''])[extract(isodow FROM occurrence_date)::integer]"}');
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute a WHERE a.attrelid = 'reporting.series_report'::regclass AND a.attnum > 0
 ORDER BY a.attnum;
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'reporting.series_report'::regclass;

-- Monday 2025-03-10: Bo books D2 every day this week at 09:00 New York time
SELECT phoenix.emit('desk.series', '{"seriesId":"S1","employeeId":"E2","deskId":"D2",
       "firstAt":"2025-03-10T09:00:00-04:00","rrule":"FREQ=DAILY;COUNT=5","tz":"America/New_York"}',
       event_id => 's1-v1') > 0 AS ok;
SELECT occurrence_id, event_id, series_id, effective_at, occurrence_date, weekday, desk_room, employee_name
  FROM reporting.series_report ORDER BY effective_at;
-- Tuesday: the desk moves to Room B (the cascade re-enriches Tue..Fri)
SELECT phoenix.put('desk', 'D2', '{"room":"Room B"}', '2025-03-11T00:00:00-04:00');
SELECT weekday, desk_room FROM reporting.series_report ORDER BY effective_at;
CREATE TEMP TABLE before_amend AS SELECT occurrence_id, change_seq, updated_at FROM reporting.series_report;
-- Wednesday: Bo's legal name changes; the series is amended to skip Friday
SELECT phoenix.put('employee', 'E2', '{"name":"Bo Chan-Rivera"}', '2025-03-12');
CREATE TEMP TABLE after_rename AS SELECT occurrence_id, change_seq FROM reporting.series_report;
SELECT phoenix.emit('desk.series', '{"seriesId":"S1","employeeId":"E2","deskId":"D2",
       "firstAt":"2025-03-10T09:00:00-04:00","rrule":"FREQ=DAILY;COUNT=5","tz":"America/New_York",
       "skip":["2025-03-14"]}', event_id => 's1-v2') > 0 AS ok;
-- Friday's row is gone; the other four kept their rows (event_id and change_seq unchanged)
SELECT r.weekday, r.event_id, r.desk_room, r.employee_name, r.change_seq = a.change_seq AS same_change_seq
  FROM reporting.series_report r JOIN after_rename a USING (occurrence_id) ORDER BY r.effective_at;
SELECT count(*) AS rows FROM reporting.series_report;
-- the story's reports: grouped by current name, one group; by room, Mon in A, Tue-Thu in B
SELECT employee_name, count(*) AS bookings FROM reporting.series_report GROUP BY 1 ORDER BY 1;
SELECT desk_room, string_agg(weekday, ',' ORDER BY effective_at) AS days, count(*)
  FROM reporting.series_report GROUP BY 1 ORDER BY 1;

-- an amendment that moves the series to 10:00 and ends it on Wednesday:
-- new occurrences, new rows; the 09:00 ones are gone
SELECT phoenix.emit('desk.series', '{"seriesId":"S1","employeeId":"E2","deskId":"D2",
       "firstAt":"2025-03-10T10:00:00-04:00","rrule":"FREQ=DAILY;UNTIL=20250312T235959Z","tz":"America/New_York"}',
       event_id => 's1-v3') > 0 AS ok;
SELECT occurrence_id, event_id, effective_at, desk_room FROM reporting.series_report ORDER BY effective_at;
-- two events of one series in one batch: the later one wins
SELECT * FROM phoenix.emit_batch('[
  {"type":"desk.series","event_id":"s2-v1","payload":{"seriesId":"S2","employeeId":"E2","deskId":"D2","firstAt":"2025-03-17T09:00:00Z","rrule":"FREQ=DAILY;COUNT=3","tz":"UTC"}},
  {"type":"desk.series","event_id":"s2-v2","payload":{"seriesId":"S2","employeeId":"E2","deskId":"D2","firstAt":"2025-03-17T09:00:00Z","rrule":"FREQ=DAILY;COUNT=2","tz":"UTC"}},
  {"type":"desk.series","event_id":"one-off","payload":{"employeeId":"E2","deskId":"D2","firstAt":"2025-03-20T09:00:00Z"}}]');
SELECT occurrence_id, event_id, series_id, effective_at FROM reporting.series_report
 WHERE series_id <> 'S1' ORDER BY effective_at;

-- a rebuild from the log gives the same rows
CREATE TEMP TABLE before_rebuild AS
  SELECT occurrence_id, event_id, series_id, effective_at, occurrence_date, employee_id, desk_id,
         desk_room, employee_name, weekday FROM reporting.series_report;
SELECT phoenix.rebuild_projection('series_report') >= 0 AS rebuilt;
SELECT count(*) AS differences FROM (
  (SELECT occurrence_id, event_id, series_id, effective_at, occurrence_date, employee_id, desk_id,
          desk_room, employee_name, weekday FROM reporting.series_report
   EXCEPT ALL SELECT * FROM before_rebuild)
  UNION ALL
  (SELECT * FROM before_rebuild EXCEPT ALL
   SELECT occurrence_id, event_id, series_id, effective_at, occurrence_date, employee_id, desk_id,
          desk_room, employee_name, weekday FROM reporting.series_report)) d;

-- kind 'latest' over a recurring source: the latest occurrence per key
SELECT phoenix.create_projection('desk_latest', source => 'desk.series',
  columns => '{"desk_id":"deskId","employee_id":"employeeId"}', kind => 'latest', latest_key => 'desk_id');
SELECT desk_id, occurrence_id, effective_at FROM reporting.desk_latest ORDER BY desk_id;

-- a projection created over existing series fills from the latest event of each
SELECT phoenix.create_projection('late_report', source => 'desk.series',
  columns => '{"desk_id":"deskId"}');
SELECT count(*) = (SELECT count(*) FROM reporting.series_report) AS same_count FROM reporting.late_report;

-- open-ended series: materialised up to now + horizon, listed for extension
SELECT phoenix.create_projection('near', source => 'desk.series',
  columns => '{"desk_id":"deskId"}', horizon => '10 days');
SELECT phoenix.emit('desk.series', jsonb_build_object('seriesId','OPEN','employeeId','E2','deskId','D2',
       'firstAt', date_trunc('day', now()) - interval '2 days' + interval '12 hours',
       'rrule','FREQ=DAILY','tz','UTC'), event_id => 'open-1') > 0 AS ok;
SELECT count(*) BETWEEN 402 AND 403 AS series_report_rows FROM reporting.series_report WHERE series_id = 'OPEN';
SELECT p.name, h.series_id FROM phoenix.series_horizon h JOIN phoenix.projections p USING (projection_id)
 ORDER BY 1, 2;
SELECT count(*) BETWEEN 12 AND 13 AS near_rows FROM reporting.near WHERE series_id = 'OPEN';
-- as time passes (here: the horizon grows, seen by a new session), apply_due
-- extends it once its extend_at has come
UPDATE phoenix.projections SET horizon = '20 days' WHERE name = 'near';
\c
SET timezone = 'UTC';
SELECT phoenix.apply_due() >= 0 AS applied;
SELECT count(*) BETWEEN 12 AND 13 AS not_yet FROM reporting.near WHERE series_id = 'OPEN';
UPDATE phoenix.series_horizon SET extend_at = now() - interval '1 second';
SELECT phoenix.apply_due() >= 0 AS applied;
SELECT count(*) BETWEEN 22 AND 23 AS extended FROM reporting.near WHERE series_id = 'OPEN';
SELECT count(*) AS still_listed FROM phoenix.series_horizon WHERE extend_at > now();

-- a series with a private note, amended: its kept rows are the first event's
SELECT phoenix.emit('desk.series', '{"seriesId":"S3","employeeId":"E2","deskId":"D2","note":"Bo''s private note",
       "firstAt":"2025-04-07T09:00:00Z","rrule":"FREQ=DAILY;COUNT=3","tz":"UTC"}', event_id => 's3-v1') > 0 AS ok;
SELECT phoenix.emit('desk.series', '{"seriesId":"S3","employeeId":"E2","deskId":"D2","note":"Bo''s private note",
       "firstAt":"2025-04-07T09:00:00Z","rrule":"FREQ=DAILY;COUNT=3","tz":"UTC","skip":["2025-04-08"]}',
       event_id => 's3-v2') > 0 AS ok;
SELECT occurrence_id, event_id, note FROM reporting.series_report WHERE series_id = 'S3' ORDER BY 1;
-- forget: the series' rows lose the name and the note (also the rows the
-- first event of S3 still owns), keep their count
SET phoenix.forget_secret = 'series test';
SELECT (phoenix.forget('employee', 'E2', reason => 'test')) IS NOT NULL AS forgotten;
-- (rows of the open series OPEN are left out: how many there are depends on
-- the hour the test runs)
SELECT count(*) FILTER (WHERE series_id <> 'OPEN') AS rows, count(DISTINCT employee_name) AS names, bool_and(employee_name <> 'Bo Chan-Rivera') AS scrubbed
  FROM reporting.series_report;
SELECT occurrence_id, event_id, note <> 'Bo''s private note' AS note_scrubbed
  FROM reporting.series_report WHERE series_id = 'S3' ORDER BY 1;
