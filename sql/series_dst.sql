-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_series_dst;
CREATE DATABASE regress_series_dst;
\c regress_series_dst
\set ECHO all
-- Booking series repeat in local wall time: 09:00 in New York stays 09:00
-- across daylight-saving changes (so its instant moves by an hour), and
-- Lord Howe Island's half-hour shift moves it by thirty minutes.  Instants
-- come from PostgreSQL's tz database, exactly as AT TIME ZONE gives them.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}');
SELECT phoenix.create_event_type('desk.series',
       schema => '{"type":"object","properties":{"deskId":{"type":"string"},
                   "firstAt":{"type":"string","format":"date-time"},
                   "rrule":{"type":"string"},"tz":{"type":"string"}}}',
       time_field => 'firstAt', recurrence => '{"rule":"rrule","timezone":"tz"}');
SELECT phoenix.create_projection('dst', source => 'desk.series', columns => '{"desk_id":"deskId"}',
  derive => '{"local_time":"left(((effective_at AT TIME ZONE ''America/New_York'')::time)::text, 5)"}');

-- spring forward (Sunday 8 March 2026): 14:00Z, 14:00Z, 13:00Z, 13:00Z, 13:00Z
SELECT phoenix.emit('desk.series', '{"deskId":"NY","firstAt":"2026-03-06T09:00:00-05:00",
       "rrule":"FREQ=DAILY;UNTIL=20260310T235959Z","tz":"America/New_York"}', event_id => 'ny-spring') > 0 AS ok;
SELECT occurrence_date, effective_at, local_time FROM reporting.dst
 WHERE series_id = 'ny-spring' ORDER BY effective_at;

-- fall back (Sunday 1 November 2026): 13:00Z until Saturday, 14:00Z from Sunday
SELECT phoenix.emit('desk.series', '{"deskId":"NY","firstAt":"2026-10-30T09:00:00-04:00",
       "rrule":"FREQ=DAILY;COUNT=5","tz":"America/New_York"}', event_id => 'ny-fall') > 0 AS ok;
SELECT occurrence_date, effective_at, local_time FROM reporting.dst
 WHERE series_id = 'ny-fall' ORDER BY effective_at;

-- a wall time the spring-forward gap skips (02:30 on 8 March) takes the
-- offset before the gap, as AT TIME ZONE does (and RFC 5545 says)
SELECT o.occurrence_local, o.occurrence_at,
       o.occurrence_at = (o.occurrence_local AT TIME ZONE 'America/New_York') AS as_at_time_zone
  FROM phoenix.recurrence_occurrences('FREQ=DAILY;COUNT=3', '2026-03-07T02:30:00-05:00',
                                      'America/New_York') o ORDER BY 1;
-- the repeated hour of 1 November (01:30 happens twice): one occurrence, at
-- the instant AT TIME ZONE picks (the second, in standard time)
SELECT o.occurrence_local, o.occurrence_at,
       o.occurrence_at = (o.occurrence_local AT TIME ZONE 'America/New_York') AS as_at_time_zone
  FROM phoenix.recurrence_occurrences('FREQ=DAILY;COUNT=3', '2026-10-31T01:30:00-04:00',
                                      'America/New_York') o ORDER BY 1;

-- Lord Howe Island: +11 in summer, +10:30 from Sunday 5 April 2026 02:00
SELECT o.occurrence_local, o.occurrence_at,
       o.occurrence_at = (o.occurrence_local AT TIME ZONE 'Australia/Lord_Howe') AS as_at_time_zone
  FROM phoenix.recurrence_occurrences('FREQ=DAILY;COUNT=4', '2026-04-03T09:00:00+11:00',
                                      'Australia/Lord_Howe') o ORDER BY 1;
-- and back on Sunday 4 October 2026
SELECT o.occurrence_local, o.occurrence_at
  FROM phoenix.recurrence_occurrences('FREQ=WEEKLY;COUNT=3', '2026-09-27T09:00:00+10:30',
                                      'Australia/Lord_Howe') o ORDER BY 1;

-- a weekly rule across the change, with an UNTIL in UTC (an instant)
SELECT o.occurrence_local, o.occurrence_at
  FROM phoenix.recurrence_occurrences('FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=20260312T130000Z',
                                      '2026-03-02T09:00:00-05:00', 'America/New_York') o ORDER BY 1;
-- every occurrence of a year of New York mornings agrees with AT TIME ZONE
SELECT count(*) AS occurrences,
       bool_and(occurrence_at = (occurrence_local AT TIME ZONE 'America/New_York')) AS all_agree,
       count(DISTINCT occurrence_local::time) AS wall_times
  FROM phoenix.recurrence_occurrences('FREQ=DAILY;COUNT=366', '2026-01-01T09:00:00-05:00',
                                      'America/New_York');
