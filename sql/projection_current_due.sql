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

-- a name change effective in two seconds: nothing changes yet
SELECT phoenix.put('employee', 'E1', '{"name":"Ann Smith"}', now() + interval '2 seconds');
SELECT event_id, employee_name FROM reporting.bookings ORDER BY event_id;
SELECT entity, key FROM phoenix.projection_due;
SELECT phoenix.apply_due() AS applied_too_early;
SELECT pg_sleep(2.5);
-- its time has come: apply_due (what the pg_cron job runs) applies it
SELECT phoenix.apply_due() AS applied;
SELECT event_id, employee_name FROM reporting.bookings ORDER BY event_id;
SELECT count(*) AS still_due FROM phoenix.projection_due;

-- and without anyone calling apply_due: the next emit notices
SELECT phoenix.put('employee', 'E1', '{"name":"Ann S. Jones"}', now() + interval '1 second');
SELECT pg_sleep(1.5);
SELECT phoenix.emit('desk.booked', '{"employeeId":"E2","bookedFor":"2025-03-11T09:00:00Z"}', event_id => 'b2') > 0 AS ok;
SELECT event_id, employee_name FROM reporting.bookings ORDER BY event_id;

-- a bounded future correction comes and goes: due at both ends
SELECT phoenix.put('employee', 'E1', '{"name":"Temp"}', now() + interval '1 second', now() + interval '5 seconds');
SELECT count(*) AS due_entries FROM phoenix.projection_due;
SELECT pg_sleep(1.5);
SELECT phoenix.apply_due() AS applied;
SELECT event_id, employee_name FROM reporting.bookings WHERE event_id = 'b1';
SELECT pg_sleep(4);
SELECT phoenix.apply_due() AS applied;
SELECT event_id, employee_name FROM reporting.bookings WHERE event_id = 'b1';

-- scheduling with pg_cron needs pg_cron in this database
SELECT phoenix.schedule_apply_due();
