-- test/upgrade/check.sql — what the data put in by data.sql says right after
-- the update, read through the API (reads only: test/upgrade/stories.sql
-- writes).  The same output is required from a fresh install given the same
-- steps.
SELECT phoenix.get('employee', 'E1', valid_at => '2026-11-24') ->> 'department' AS e1_tuesday,
       phoenix.get('employee', 'E1', valid_at => '2026-11-26') ->> 'department' AS e1_thursday,
       phoenix.get('employee', 'E2', valid_at => '2026-12-01') IS NULL AS e2_gone_in_december,
       phoenix.get('employee', 'E4', valid_at => '2025-03-12') ->> 'department' AS e4_labs,
       phoenix.get('employee', 'E4', valid_at => '2025-07-01') IS NULL AS e4_retracted;
SELECT valid_from, CASE WHEN valid_to < '2026-01-01' THEN valid_to::text ELSE 'in a week' END AS valid_to, attributes
  FROM phoenix.history('employee', 'E3') WHERE valid_from < '2026-01-01';
SELECT valid_from, valid_to, attributes FROM phoenix.history('desk', 'D1');
SELECT entity, key, history_table, attribute, type, pii, ref_entity FROM phoenix.entity_catalog ORDER BY 1, 4;
SELECT event_type, version, is_current, entity, key_field, sets, time_field, refs, recurrence
  FROM phoenix.event_types_v ORDER BY 1, 2;
SELECT position, event_id, event_type, schema_version, effective_at, source FROM phoenix.event_log ORDER BY position;
SELECT event_id, event_type, reason, sqlstate, replayable, replayed_at IS NULL AS pending
  FROM phoenix.dead_letters ORDER BY dead_letter_id;
SELECT event_id, employee_id, room, employee_department, employee_name, change_seq FROM reporting.bookings ORDER BY event_id;
SELECT employee_id, event_id, room, employee_department FROM reporting.last_booking ORDER BY employee_id;
SELECT event_id, host_name, host_employee_id, host_department FROM reporting.visits ORDER BY event_id;
SELECT occurrence_id, event_id, occurrence_date, desk_room, desk_floor, desk_site_id, site_city, employee_name,
       employee_department, weekday
  FROM reporting.desk_series ORDER BY occurrence_id;
SELECT name, table_name, source, kind, latest_key, columns, enrich, derive, steps, horizon
  FROM phoenix.projection_catalog ORDER BY name;
SELECT subscription, topic, group_id, state, partition, committed_offset, high_watermark, lag, accepted, dead_lettered
  FROM phoenix.subscription_status ORDER BY subscription;
SELECT projection, topic, state, pending, sent FROM phoenix.publication_status ORDER BY projection;
SELECT key, op, row ->> 'employee_name' AS employee_name FROM phoenix.kafka_outbox ORDER BY position;
SELECT projection, format, last_change_seq, last_rows, exports FROM phoenix.export_cursors ORDER BY projection;
SELECT entity, reason, scrubbed FROM phoenix.erasures ORDER BY erasure_id;
SELECT entity, key FROM phoenix.projection_due ORDER BY entity, key;
SELECT * FROM phoenix.forget_vacuum_commands();
