-- test/upgrade/stories.sql — the stories, played on the data data.sql put in
-- place (with the previous version, then updated): new events, late
-- corrections cascading into rows made before the update, a change coming
-- due, series amendments, dead letters replayed, a forget, a new schema
-- version, rebuilds, Kafka catalog changes, an incremental export.  Every
-- answer must equal a fresh install's given the same steps
-- (test/shell/upgrade.sh compares them), and a few are asserted outright.
SET phoenix.forget_secret = 'upgrade test secret';
\set ON_ERROR_STOP 1
CREATE FUNCTION pg_temp.expect(ok boolean, what text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF ok IS NOT TRUE THEN RAISE EXCEPTION 'upgrade story: %', what; END IF;
  RETURN 'ok: ' || what;
END $$;

-- 1. the change that came due before the update (E1's name, read `current`)
SELECT phoenix.apply_due() AS applied;
SELECT event_id, employee_name FROM reporting.bookings WHERE employee_id = 'E1' ORDER BY event_id;
SELECT occurrence_id, employee_name FROM reporting.desk_series WHERE employee_id = 'E1' ORDER BY occurrence_id;
SELECT pg_temp.expect((SELECT employee_name FROM reporting.bookings WHERE event_id = 'b1') = 'Ada L.',
                      'a change due before the update is applied to a row made before it');

-- 2. late corrections cascading into rows made before the update
SELECT phoenix.put('employee', 'E3', '{"department":"Security"}', valid_from => '2025-03-10', valid_to => '2025-03-12');
SELECT phoenix.put('desk', 'D2', '{"room":"Room D"}', valid_from => '2025-03-17');
SELECT phoenix.retract('desk', 'D1', valid_from => '2025-03-13');
SELECT phoenix.put('site', 'S2', '{"city":"Marseille"}', valid_from => '2025-03-18');   -- through the chain
SELECT phoenix.put('desk', 'D2', '{"site_id":"S1"}', valid_from => '2025-03-24');      -- the chain moves
SELECT phoenix.emit('employee.moved', '{"employeeId":"E1","department":"Treasury","at":"2026-11-24T00:00:00Z"}',
                    event_id => 'm2') > 0 AS emitted;
SELECT event_id, employee_id, employee_department FROM reporting.bookings ORDER BY event_id;
SELECT employee_id, event_id, employee_department FROM reporting.last_booking ORDER BY employee_id;
SELECT occurrence_id, desk_room, desk_floor, desk_site_id, site_city, employee_department
  FROM reporting.desk_series ORDER BY occurrence_id;
SELECT pg_temp.expect((SELECT employee_department FROM reporting.bookings WHERE event_id = 'b4') = 'Security',
                      'a late correction reaches a booking made before the update');
SELECT pg_temp.expect((SELECT host_department FROM reporting.visits WHERE event_id = 'v1') = 'Security',
                      'a late correction reaches a by-step row made before the update');
SELECT pg_temp.expect((SELECT desk_room FROM reporting.desk_series WHERE occurrence_id = 's2@2025-03-19T08:00:00') = 'Room D',
                      'a late correction reaches a series occurrence made before the update');
SELECT pg_temp.expect((SELECT desk_room FROM reporting.desk_series WHERE occurrence_id = 's1@2025-03-13T09:00:00') IS NULL,
                      'a retraction reaches a series occurrence made before the update');
SELECT pg_temp.expect((SELECT string_agg(site_city, ',' ORDER BY occurrence_id) FROM reporting.desk_series
                        WHERE series_id = 's2') = 'Lyon,Lyon,Lyon,Marseille,Paris,Paris',
                      'a site''s correction and a desk''s move reach series occurrences through the chain');

-- 3. new events: single, batch (with dead letters), series and an amendment
SELECT phoenix.emit('desk.booked', '{"employeeId":"E3","at":"2025-03-15T09:00:00Z","room":"D"}', event_id => 'b9') > 0 AS emitted;
SELECT phoenix.emit('visitor.checked-in', '{"hostName":"Ada","at":"2026-11-25T10:00:00Z"}', event_id => 'v3') > 0 AS emitted;
SELECT * FROM phoenix.emit_batch('[{"type":"desk.booked","payload":{"employeeId":"E1","at":"2026-11-25T10:00:00Z","room":"E"},"event_id":"b10"},
                                   {"type":"desk.booked","payload":{"employeeId":7,"at":"2026-11-25T10:00:00Z"},"event_id":"bad3"},
                                   {"type":"desk.booked","payload":{"employeeId":"E1","at":"2026-11-24T09:00:00Z","room":"A"},"event_id":"b1"}]');
SELECT phoenix.emit('desk.series-booked', '{"seriesId":"s2","employeeId":"E4","deskId":"D2",
       "firstDay":"2025-03-10T08:00:00+01:00","rrule":"FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4","tz":"Europe/Paris"}',
       event_id => 's2b') > 0 AS amended;
SELECT phoenix.emit('desk.series-booked', '{"seriesId":"s4","employeeId":"E1","deskId":"D1",
       "firstDay":"2025-03-03T09:00:00-05:00","rrule":"FREQ=DAILY;COUNT=3","tz":"America/New_York"}',
       event_id => 's4a') > 0 AS emitted;
SELECT event_id, employee_id, room, employee_department, employee_name FROM reporting.bookings ORDER BY event_id;
SELECT employee_id, event_id, room FROM reporting.last_booking ORDER BY employee_id;
SELECT occurrence_id, event_id, desk_room, employee_name, employee_department, weekday
  FROM reporting.desk_series ORDER BY occurrence_id;
SELECT pg_temp.expect((SELECT count(*) FROM reporting.desk_series WHERE series_id = 's2') = 4,
                      'an amendment after the update shortens a series made before it');

-- 4. dead letters: one from before the update replayed once its type exists
SELECT phoenix.create_event_type('desk.cancelled',
       schema => '{"type":"object","required":["bookingId"],"properties":{"bookingId":{"type":"string"}}}');
SELECT * FROM phoenix.replay_dead_letters('desk.cancelled');
SELECT event_id, reason IS NOT NULL AS has_reason, replayable, replayed_at IS NOT NULL AS replayed
  FROM phoenix.dead_letters ORDER BY dead_letter_id;

-- 5. a new schema version, and an event of it
SELECT phoenix.create_event_type('desk.booked',
       schema => '{"type":"object","required":["employeeId","at"],
                   "properties":{"employeeId":{"type":"string"},"at":{"type":"string","format":"date-time"},
                                 "room":{"type":"string"},"seat":{"type":"integer"}}}',
       time_field => 'at', refs => '{"employeeId":"employee"}', compatibility => 'none') AS new_version;
SELECT phoenix.emit('desk.booked', '{"employeeId":"E2","at":"2026-11-27T09:00:00Z","room":"C","seat":4}',
                    event_id => 'b11') > 0 AS emitted;

-- 6. forget: a person with rows before and after the update, pending
-- changes and a series; then a key forgotten before the update reappears
SELECT phoenix.forget('employee', 'E3', 'upgrade test') AS e3_scrubbed;
SELECT phoenix.forget('employee', 'E2', 'upgrade test') ->> 'phoenix_entity.employee_history' AS e2_versions_scrubbed;
SELECT phoenix.emit('desk.booked', '{"employeeId":"E4","at":"2025-03-20T09:00:00Z","room":"A"}', event_id => 'b12') > 0 AS emitted;
SELECT event_id, employee_id, employee_name IS NULL OR employee_name LIKE 'forgotten-%' AS no_name
  FROM reporting.bookings ORDER BY event_id;
SELECT pg_temp.expect(NOT EXISTS (SELECT 1 FROM reporting.desk_series WHERE employee_name IN ('Linus', 'Linus T.')),
                      'forget scrubs series rows made before the update');
SELECT pg_temp.expect(NOT EXISTS (SELECT 1 FROM phoenix.event_log WHERE payload::text LIKE '%Grace%'),
                      'forget scrubs the log');
SELECT event_id, host_name, host_employee_id, host_department FROM reporting.visits ORDER BY event_id;  -- v1: its host forgotten
SELECT entity, reason FROM phoenix.erasures ORDER BY erasure_id;
SELECT entity, key FROM phoenix.projection_due ORDER BY entity, key;

-- 7. Kafka catalog changes and an incremental export
SELECT projection, topic, state, pending FROM phoenix.publication_status ORDER BY projection;
SELECT phoenix.drop_publication('bookings', 'bookings-out');
SELECT phoenix.drop_subscription('bookings_in');
SELECT count(*) AS kafka_rows_left FROM phoenix.kafka_outbox;
SELECT rows, from_change_seq, to_change_seq FROM phoenix.export('bookings', :'exportdir', 'ndjson');

-- 8. rebuilds agree with the rows the cascade kept (but a series occurrence an
-- amendment left unchanged keeps its event_id, where a rebuild writes the
-- latest: docs/series.md); a new projection over the whole log, and a
-- projection dropped
CREATE TEMP TABLE before_rebuild AS
  SELECT 'bookings' AS p, to_jsonb(b) - 'received_at' - 'updated_at' - 'change_seq' AS r FROM reporting.bookings b
  UNION ALL SELECT 'last_booking', to_jsonb(b) - 'received_at' - 'updated_at' - 'change_seq' FROM reporting.last_booking b
  UNION ALL SELECT 'desk_series', to_jsonb(b) - 'received_at' - 'updated_at' - 'change_seq' - 'event_id' FROM reporting.desk_series b
  UNION ALL SELECT 'visits', to_jsonb(b) - 'received_at' - 'updated_at' - 'change_seq' FROM reporting.visits b;
SELECT phoenix.rebuild_projection('bookings') AS bookings, phoenix.rebuild_projection('last_booking') AS last_booking,
       phoenix.rebuild_projection('desk_series') AS desk_series, phoenix.rebuild_projection('visits') AS visits;
CREATE TEMP TABLE after_rebuild AS
  SELECT 'bookings' AS p, to_jsonb(b) - 'received_at' - 'updated_at' - 'change_seq' AS r FROM reporting.bookings b
  UNION ALL SELECT 'last_booking', to_jsonb(b) - 'received_at' - 'updated_at' - 'change_seq' FROM reporting.last_booking b
  UNION ALL SELECT 'desk_series', to_jsonb(b) - 'received_at' - 'updated_at' - 'change_seq' - 'event_id' FROM reporting.desk_series b
  UNION ALL SELECT 'visits', to_jsonb(b) - 'received_at' - 'updated_at' - 'change_seq' FROM reporting.visits b;
SELECT pg_temp.expect(NOT EXISTS ((SELECT * FROM before_rebuild EXCEPT ALL SELECT * FROM after_rebuild)
                                  UNION ALL (SELECT * FROM after_rebuild EXCEPT ALL SELECT * FROM before_rebuild)),
                      'rebuilt projections equal the rows the cascade kept');
SELECT phoenix.create_projection('rooms', source => 'desk.booked', columns => '{"employee_id":"employeeId","room":"room"}',
       enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time"}}]',
       fillfactor => 50);
SELECT reloptions FROM pg_class WHERE oid = 'reporting.rooms'::regclass;
SELECT event_id, employee_id, room, employee_department FROM reporting.rooms ORDER BY event_id;
SELECT phoenix.drop_projection('last_booking');
SELECT name FROM phoenix.projections ORDER BY projection_id;
SELECT phoenix.get('employee', 'E1', valid_at => '2026-11-24T12:00:00Z') ->> 'department' AS e1_corrected,
       phoenix.get('desk', 'D1', valid_at => '2025-03-14') IS NULL AS d1_retracted;
