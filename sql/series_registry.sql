-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_series_registry;
CREATE DATABASE regress_series_registry;
\c regress_series_registry
\set ECHO all
-- Booking series: an event type with a recurrence names the payload fields of
-- its RRULE, time zone, skipped dates and series identity; the registry checks
-- them, emit refuses (single) or dead-letters (bulk) what libical or
-- PostgreSQL cannot read, with the reason and a SQLSTATE.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SET timezone = 'UTC';
CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- the registry: every named field must be a property of the schema
SELECT pg_temp.outcome($$SELECT phoenix.create_event_type('desk.series',
       schema => '{"type":"object","properties":{"deskId":{"type":"string"},
                   "firstAt":{"type":"string","format":"date-time"},"rrule":{"type":"string"}}}',
       time_field => 'firstAt',
       recurrence => '{"rule":"rrule","timezone":"tz"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.create_event_type('desk.series',
       schema => '{"type":"object","properties":{"firstAt":{"type":"string"},"rrule":{"type":"string"},
                   "tz":{"type":"string"}}}',
       recurrence => '{"rule":"rrule","timezone":"tz"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.create_event_type('desk.series',
       schema => '{"type":"object","properties":{"firstAt":{"type":"string"},"rrule":{"type":"string"},
                   "tz":{"type":"string"}}}',
       time_field => 'firstAt', recurrence => '{"rule":"rrule","timezone":"tz","every":"x"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.create_event_type('desk.series',
       schema => '{"type":"object","properties":{"firstAt":{"type":"string"},"rrule":{"type":"string"}}}',
       time_field => 'firstAt', recurrence => '{"rule":"rrule"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.create_event_type('desk.series',
       schema => '{"type":"object","properties":{"firstAt":{"type":"string"},"rrule":{"type":"string"},
                   "tz":{"type":"string"}}}',
       time_field => 'firstAt', recurrence => '["rrule"]')$$);

SELECT phoenix.create_event_type('desk.series',
       schema => '{"type":"object","required":["deskId","firstAt"],
                   "properties":{"deskId":{"type":"string"},"employeeId":{"type":"string"},
                                 "firstAt":{"type":"string","format":"date-time"},
                                 "rrule":{"type":"string"},"tz":{"type":"string"},
                                 "skip":{"type":"array","items":{"type":"string"}},
                                 "seriesId":{"type":"string"}}}',
       time_field => 'firstAt',
       recurrence => '{"rule":"rrule","timezone":"tz","except":"skip","series":"seriesId"}');
SELECT event_type, version, recurrence FROM phoenix.event_types_v WHERE event_type = 'desk.series';
-- the same definition again: the same version; another recurrence: refused
SELECT phoenix.create_event_type('desk.series',
       schema => '{"type":"object","required":["deskId","firstAt"],
                   "properties":{"deskId":{"type":"string"},"employeeId":{"type":"string"},
                                 "firstAt":{"type":"string","format":"date-time"},
                                 "rrule":{"type":"string"},"tz":{"type":"string"},
                                 "skip":{"type":"array","items":{"type":"string"}},
                                 "seriesId":{"type":"string"}}}',
       time_field => 'firstAt',
       recurrence => '{"rule":"rrule","timezone":"tz","except":"skip","series":"seriesId"}');
SELECT pg_temp.outcome($$SELECT phoenix.create_event_type('desk.series',
       schema => '{"type":"object","required":["deskId","firstAt"],
                   "properties":{"deskId":{"type":"string"},"employeeId":{"type":"string"},
                                 "firstAt":{"type":"string","format":"date-time"},
                                 "rrule":{"type":"string"},"tz":{"type":"string"},
                                 "skip":{"type":"array","items":{"type":"string"}},
                                 "seriesId":{"type":"string"}}}',
       time_field => 'firstAt', recurrence => '{"rule":"rrule","timezone":"tz"}')$$);

-- single emits: a clear error with a SQLSTATE
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series',
       '{"deskId":"D1","firstAt":"2026-03-02T09:00:00-05:00","rrule":"FREQ=SOMETIMES","tz":"America/New_York"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series',
       '{"deskId":"D1","firstAt":"2026-03-02T09:00:00-05:00","rrule":"RRULE:FREQ=DAILY","tz":"America/New_York"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series',
       '{"deskId":"D1","firstAt":"2026-03-02T09:00:00-05:00","rrule":"FREQ=DAILY;COUNT=3","tz":"Mars/Olympus_Mons"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series',
       '{"deskId":"D1","firstAt":"2026-03-02T09:00:00-05:00","rrule":"FREQ=DAILY;COUNT=3"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series',
       '{"deskId":"D1","firstAt":"2026-03-02T09:00:00-05:00","rrule":"FREQ=DAILY;COUNT=100000000","tz":"UTC"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series',
       '{"deskId":"D1","firstAt":"2026-03-02T09:00:00-05:00","rrule":"FREQ=SECONDLY","tz":"UTC"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series',
       '{"deskId":"D1","firstAt":"2026-03-02T09:00:00-05:00","rrule":"FREQ=DAILY;COUNT=3","tz":"UTC",
         "skip":["2026-02-30"]}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series',
       '{"deskId":"D1","firstAt":"2026-03-02T09:00:00-05:00","rrule":"FREQ=DAILY;COUNT=3","tz":"UTC",
         "skip":"2026-03-03"}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series',
       '{"deskId":"D1","firstAt":"1066-10-14T09:00:00Z","rrule":"FREQ=YEARLY","tz":"UTC"}')$$);
-- a valid series, and an event without a rule (a single occurrence)
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series',
       '{"deskId":"D1","firstAt":"2026-03-02T09:00:00-05:00","rrule":"FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4",
         "tz":"America/New_York","skip":["2026-03-04"]}')$$);
SELECT pg_temp.outcome($$SELECT phoenix.emit('desk.series', '{"deskId":"D1","firstAt":"2026-03-02T09:00:00Z"}')$$);
SELECT count(*) AS logged FROM phoenix.event_log WHERE event_type = 'desk.series';

-- bulk: each bad element dead-lettered with its reason, the good ones logged
SELECT * FROM phoenix.emit_batch('[
  {"type":"desk.series","event_id":"ok-1","payload":{"deskId":"D1","firstAt":"2026-03-02T09:00:00Z","rrule":"FREQ=DAILY;COUNT=2","tz":"Europe/Paris"}},
  {"type":"desk.series","event_id":"bad-rule","payload":{"deskId":"D1","firstAt":"2026-03-02T09:00:00Z","rrule":"FREQ=DAILY;BYHOUR=99","tz":"Europe/Paris"}},
  {"type":"desk.series","event_id":"bad-zone","payload":{"deskId":"D1","firstAt":"2026-03-02T09:00:00Z","rrule":"FREQ=DAILY","tz":"Europe/Atlantis"}},
  {"type":"desk.series","event_id":"absurd","payload":{"deskId":"D1","firstAt":"2026-03-02T09:00:00Z","rrule":"FREQ=DAILY;COUNT=100000000","tz":"UTC"}},
  {"type":"desk.series","event_id":"too-dense","payload":{"deskId":"D1","firstAt":"2026-03-02T09:00:00Z","rrule":"FREQ=MINUTELY;UNTIL=20270101T000000Z","tz":"UTC"}},
  {"type":"desk.series","event_id":"ok-2","payload":{"deskId":"D1","firstAt":"2026-03-02T09:00:00Z","rrule":"FREQ=HOURLY;COUNT=24","tz":"UTC"}}]');
SELECT event_id, sqlstate, reason FROM phoenix.dead_letters ORDER BY dead_letter_id;
SELECT event_id FROM phoenix.event_log WHERE event_id LIKE 'ok-%' ORDER BY 1;

-- trying rules interactively: the same expansion, as a table
SELECT * FROM phoenix.recurrence_occurrences('FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4',
       '2026-03-02T09:00:00-05:00', 'America/New_York', skip => '{2026-03-04}');
SELECT pg_temp.outcome($$SELECT * FROM phoenix.recurrence_occurrences('FREQ=DAILY;INTERVAL=0', now(), 'UTC')$$);
SELECT pg_temp.outcome($$SELECT * FROM phoenix.recurrence_occurrences('FREQ=DAILY', now(), 'Nowhere/Land')$$);
SELECT pg_temp.outcome($$SELECT * FROM phoenix.recurrence_occurrences('FREQ=SECONDLY', '2026-03-02', 'UTC',
                                                                    until => '2026-03-03')$$);
