-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_current_due;
CREATE DATABASE regress_projection_current_due;
\c regress_projection_current_due
\set ECHO all
-- `current` attributes show the value valid now; a change effective in the
-- future takes effect in the projection when its time comes, without another
-- write to that entity (the due list: phoenix.apply_due, also checked by
-- emit at most once a second per backend).
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","department":"text"}');
SELECT phoenix.create_event_type('desk.booked',
       schema => '{"type":"object","properties":{"employeeId":{"type":"string"},
                   "bookedFor":{"type":"string","format":"date-time"}}}',
       time_field => 'bookedFor');
SELECT phoenix.put('employee', 'E1', '{"name":"Ann","department":"Finance"}', '2025-01-01');
SELECT phoenix.create_projection('bookings', source => 'desk.booked',
  columns => '{"employee_id":"employeeId"}',
  enrich  => '[{"entity":"employee","key":"employee_id",
                "attributes":{"name":"current","department":"event_time"}}]');
SELECT phoenix.emit('desk.booked', jsonb_build_object('employeeId','E1','bookedFor', now() + interval '3 days'),
                    event_id => 'b1') > 0 AS ok;
SELECT phoenix.emit('desk.booked', '{"employeeId":"E1","bookedFor":"2025-03-10T09:00:00Z"}', event_id => 'b0') > 0 AS ok;

-- Time passing is awaited, never assumed: wait_until(t) returns once the
-- clock has passed t, and the next statement's now() is later still.  A
-- change "not yet due" is due in a week, so a slow machine cannot reach it.
CREATE PROCEDURE wait_until(t timestamptz) LANGUAGE plpgsql AS $$
BEGIN
  WHILE clock_timestamp() <= t LOOP PERFORM pg_sleep(0.05); END LOOP;
END $$;

-- a name change effective in a week: nothing changes yet
SELECT phoenix.put('employee', 'E1', '{"name":"Ann Later"}', now() + interval '7 days');
SELECT event_id, employee_name FROM reporting.bookings ORDER BY event_id;
SELECT entity, key FROM phoenix.projection_due;
SELECT phoenix.apply_due() AS applied_too_early;

-- a name change effective in a second: once its time has come, apply_due
-- (what the pg_cron job runs) applies it; the week's change stays due
SELECT now() + interval '1 second' AS due \gset
SELECT phoenix.put('employee', 'E1', '{"name":"Ann Smith"}', :'due');
SELECT count(*) AS due_entries FROM phoenix.projection_due;
CALL wait_until(:'due');
SELECT phoenix.apply_due() AS applied;
SELECT event_id, employee_name FROM reporting.bookings ORDER BY event_id;
SELECT count(*) AS still_due FROM phoenix.projection_due;

-- and without anyone calling apply_due: the next emit notices (emit looks at
-- most once a second, and more than a second has passed since apply_due)
SELECT now() + interval '1.1 seconds' AS due \gset
SELECT phoenix.put('employee', 'E1', '{"name":"Ann S. Jones"}', :'due');
CALL wait_until(:'due');
SELECT phoenix.emit('desk.booked', '{"employeeId":"E2","bookedFor":"2025-03-11T09:00:00Z"}', event_id => 'b2') > 0 AS ok;
SELECT event_id, employee_name FROM reporting.bookings ORDER BY event_id;

-- a bounded future correction comes and goes: due at both ends.  The check
-- in between needs an apply_due whose now() falls inside the window: when a
-- slow machine overshoots it, the procedure tries again with a window twice
-- as long (the outcome is the same, only the number of tries differs).
CREATE PROCEDURE temp_window(INOUT due_entries bigint DEFAULT NULL, INOUT during text DEFAULT NULL,
                             INOUT after text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  w interval := '1 second';
  s timestamptz;
  e timestamptz;
BEGIN
  LOOP
    s := clock_timestamp() + w;
    e := s + w;
    PERFORM phoenix.put('employee', 'E1', '{"name":"Temp"}', s, e);
    due_entries := (SELECT count(*) FROM phoenix.projection_due WHERE due_at IN (s, e));
    COMMIT;
    CALL wait_until(s);
    COMMIT;                                   -- now() is past s from here
    IF now() < e THEN
      PERFORM phoenix.apply_due();
      during := (SELECT employee_name FROM reporting.bookings WHERE event_id = 'b1');
      COMMIT;
      EXIT;
    END IF;
    w := w * 2;
  END LOOP;
  CALL wait_until(e);
  COMMIT;
  PERFORM phoenix.apply_due();
  after := (SELECT employee_name FROM reporting.bookings WHERE event_id = 'b1');
END $$;
CALL temp_window();
SELECT count(*) AS still_due FROM phoenix.projection_due;

-- scheduling with pg_cron needs pg_cron in this database
SELECT phoenix.schedule_apply_due();
