-- test/upgrade/data.sql — data put in place with the previous version, before
-- ALTER EXTENSION phoenix UPDATE (uses only API every release has had; run
-- as well on a fresh install of the current version, the reference).  Dates
-- are fixed and in the past; the only clock-relative values are two
-- future-dated `current` changes (one comes due before the update, one in a
-- week).
SET phoenix.forget_secret = 'upgrade test secret';   -- the same pseudonyms in both databases

-- entities, with history: open and bounded assertions, a correction, a retraction
SELECT phoenix.create_entity('employee', key => 'employee_id',
       attributes => '{"name":"text","department":"text"}', pii => '{name}');
SELECT phoenix.put('employee', 'E1', '{"name":"Ada","department":"Finance"}', valid_from => '2026-11-23');
SELECT phoenix.put('employee', 'E1', '{"department":"Accounting"}', valid_from => '2026-11-25');
SELECT phoenix.put('employee', 'E2', '{"name":"Grace","department":"Sales"}', valid_from => '2026-11-23',
                   valid_to => '2026-11-30');
SELECT phoenix.put('employee', 'E3', '{"name":"Linus","department":"Ops"}', valid_from => '2025-01-01');
SELECT phoenix.put('employee', 'E4', '{"name":"Barbara","department":"Research"}', valid_from => '2025-01-01');
SELECT phoenix.put('employee', 'E4', '{"department":"Labs"}', valid_from => '2025-03-11', valid_to => '2025-03-13');
SELECT phoenix.retract('employee', 'E4', valid_from => '2025-06-01');
SELECT phoenix.create_entity('site', key => 'site_id', attributes => '{"city":"text"}');
SELECT phoenix.put('site', 'S1', '{"city":"Paris"}', valid_from => '2025-01-01');
SELECT phoenix.put('site', 'S2', '{"city":"Lyon"}', valid_from => '2025-01-01');
SELECT phoenix.create_entity('desk', key => 'desk_id', attributes => '{"room":"text","floor":"integer","site_id":"text"}');
SELECT phoenix.put('desk', 'D1', '{"room":"Room A","floor":1,"site_id":"S1"}', valid_from => '2025-01-01');
SELECT phoenix.put('desk', 'D2', '{"room":"Room B","floor":2,"site_id":"S2"}', valid_from => '2025-01-01');
SELECT phoenix.put('desk', 'D1', '{"room":"Room C"}', valid_from => '2025-03-12');   -- the desk moves mid-week

-- the log: several event types (one sets entity attributes, one recurs), a
-- projection of each kind with enrichment (the series one with a chained
-- step: the site of the desk; visits with a by-step), dead letters
SELECT phoenix.create_event_type('desk.booked',
       schema => '{"type":"object","required":["employeeId","at"],
                   "properties":{"employeeId":{"type":"string"},"at":{"type":"string","format":"date-time"},
                                 "room":{"type":"string"}}}',
       time_field => 'at', refs => '{"employeeId":"employee"}');
SELECT phoenix.create_event_type('employee.moved',
       schema => '{"type":"object","required":["employeeId","department","at"],
                   "properties":{"employeeId":{"type":"string"},"department":{"type":"string"},
                                 "at":{"type":"string","format":"date-time"}}}',
       entity => 'employee', key_field => 'employeeId', sets => '{"department":"department"}', time_field => 'at');
SELECT phoenix.create_event_type('desk.series-booked',
       schema => '{"type":"object","required":["seriesId","employeeId","deskId","firstDay","rrule","tz"],
                   "properties":{"seriesId":{"type":"string"},"employeeId":{"type":"string"},
                                 "deskId":{"type":"string"},
                                 "firstDay":{"type":"string","format":"date-time"},
                                 "rrule":{"type":"string"},"tz":{"type":"string"},
                                 "skip":{"type":"array","items":{"type":"string","format":"date"}}}}',
       time_field => 'firstDay', refs => '{"employeeId":"employee","deskId":"desk"}',
       recurrence => '{"rule":"rrule","timezone":"tz","except":"skip","series":"seriesId"}');
SELECT phoenix.create_event_type('visitor.checked-in',
       schema => '{"type":"object","required":["hostName","at"],
                   "properties":{"hostName":{"type":"string"},"at":{"type":"string","format":"date-time"}}}',
       time_field => 'at');
SELECT phoenix.emit('visitor.checked-in', '{"hostName":"Linus","at":"2025-03-11T10:00:00Z"}', event_id => 'v1');
SELECT phoenix.emit('visitor.checked-in', '{"hostName":"Ada","at":"2026-11-24T10:00:00Z"}', event_id => 'v2');
SELECT phoenix.emit('desk.booked', '{"employeeId":"E1","at":"2026-11-24T09:00:00Z","room":"A"}', event_id => 'b1');
SELECT phoenix.emit('desk.booked', '{"employeeId":"E2","at":"2026-11-26T09:00:00Z","room":"B"}', event_id => 'b2');
SELECT phoenix.emit('desk.booked', '{"employeeId":"E3","at":"2025-03-10T09:00:00Z","room":"A"}', event_id => 'b4');
SELECT phoenix.emit('desk.booked', '{"employeeId":"E4","at":"2025-03-12T09:00:00Z","room":"B"}', event_id => 'b5');
SELECT phoenix.emit('employee.moved', '{"employeeId":"E3","department":"Platform","at":"2025-03-11T00:00:00Z"}',
                    event_id => 'm1');
SELECT * FROM phoenix.emit_batch('[{"type":"desk.booked","payload":{"employeeId":"E1"},"event_id":"bad1"},
                                   {"type":"desk.cancelled","payload":{"bookingId":"b1"},"event_id":"bad2"},
                                   {"type":"desk.booked","payload":{"employeeId":"E4","at":"2025-03-13T09:00:00Z"},"event_id":"b6"}]');
SELECT phoenix.emit('desk.series-booked', '{"seriesId":"s1","employeeId":"E3","deskId":"D1",
       "firstDay":"2025-03-10T09:00:00-04:00","rrule":"FREQ=DAILY;COUNT=5","tz":"America/New_York"}', event_id => 's1a');
SELECT phoenix.emit('desk.series-booked', '{"seriesId":"s2","employeeId":"E4","deskId":"D2",
       "firstDay":"2025-03-10T08:00:00+01:00","rrule":"FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6","tz":"Europe/Paris"}',
       event_id => 's2a');
-- an amendment: s1 skips Friday
SELECT phoenix.emit('desk.series-booked', '{"seriesId":"s1","employeeId":"E3","deskId":"D1",
       "firstDay":"2025-03-10T09:00:00-04:00","rrule":"FREQ=DAILY;COUNT=5","tz":"America/New_York",
       "skip":["2025-03-14"]}', event_id => 's1b');
SELECT phoenix.create_projection('bookings', source => 'desk.booked',
       columns => '{"employee_id":"employeeId","room":"room"}',
       enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time","name":"current"}}]');
SELECT phoenix.create_projection('last_booking', source => 'desk.booked', kind => 'latest', latest_key => 'employee_id',
       columns => '{"employee_id":"employeeId","room":"room"}',
       enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time"}}]');
SELECT phoenix.create_projection('desk_series', source => 'desk.series-booked',
       columns => '{"employee_id":"employeeId","desk_id":"deskId"}',
       enrich => '[{"entity":"desk","key":"desk_id","attributes":{"room":"event_time","floor":"current","site_id":"event_time"}},
                   {"entity":"site","key":"desk_site_id","attributes":{"city":"event_time"}},
                   {"entity":"employee","key":"employee_id","attributes":{"name":"current","department":"event_time"}}]',
       derive => '{"weekday":"extract(isodow FROM occurrence_date)::integer"}');
-- a by-step: the host matched by name as of the visit
SELECT phoenix.create_projection('visits', source => 'visitor.checked-in', columns => '{"host_name":"hostName"}',
       enrich => '[{"entity":"employee","key":"host_name","by":"name","as":"host","attributes":{"department":"event_time"}}]');
-- events after the projections exist (arrival path, not the initial fill)
SELECT phoenix.emit('desk.booked', '{"employeeId":"E4","at":"2025-03-11T09:00:00Z","room":"C"}', event_id => 'b7');
SELECT phoenix.emit('desk.series-booked', '{"seriesId":"s3","employeeId":"E1","deskId":"D2",
       "firstDay":"2026-11-23T09:00:00Z","rrule":"FREQ=DAILY;COUNT=3","tz":"UTC"}', event_id => 's3a');

-- Kafka: a paused subscription and a disabled publication (catalog rows; no
-- broker is contacted while they are off)
SELECT phoenix.create_subscription('bookings_in', 'bookings', 'desk.booked', '127.0.0.1:9', enabled => false);
-- what its worker writes as it consumes (no broker here): offsets and counters
INSERT INTO phoenix.kafka_offsets (group_id, topic, partition, next_offset)
  SELECT group_id, topic, 0, 42 FROM phoenix.kafka_subscriptions WHERE name = 'bookings_in';
INSERT INTO phoenix.kafka_partition_stats (subscription, partition, high_watermark, accepted, dead_lettered)
  VALUES ('bookings_in', 0, 45, 40, 2);
BEGIN;
SELECT phoenix.create_publication('bookings', 'bookings-out', '127.0.0.1:9');
UPDATE phoenix.kafka_publications SET enabled = false WHERE projection = 'bookings';
COMMIT;
SELECT phoenix.emit('desk.booked', '{"employeeId":"E3","at":"2025-03-14T09:00:00Z","room":"B"}', event_id => 'b8');

-- an export (its cursor: the next export sends only what changed since)
SELECT rows, from_change_seq, to_change_seq FROM phoenix.export('bookings', :'exportdir', 'ndjson');

-- a forget before the update
SELECT phoenix.forget('employee', 'E4', 'upgrade test, before the update') IS NOT NULL AS forgotten;

-- future-dated changes of a `current` attribute: one due in a week (still
-- waiting after the stories), one due in a moment, awaited here so that it
-- waits, due, across the update (apply_due applies it in the stories)
SELECT phoenix.put('employee', 'E3', '{"name":"Linus T."}', valid_from => now() + interval '7 days');
SELECT now() + interval '1 second' AS due \gset
SELECT phoenix.put('employee', 'E1', '{"name":"Ada L."}', valid_from => :'due');
DO $$ BEGIN WHILE clock_timestamp() <= now() + interval '1 second' LOOP PERFORM pg_sleep(0.05); END LOOP; END $$;
