-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_entity_time_travel;
CREATE DATABASE regress_entity_time_travel;
\c regress_entity_time_travel
\set ECHO all
-- known_at: what was believed at any past moment.  Superseded versions are
-- closed in recorded time, never overwritten.
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","department":"text"}', pii => '{name}');
SELECT phoenix.put('employee', 'E1', '{"name":"Ann","department":"Finance"}', '2026-11-23');
SELECT clock_timestamp() AS k1 \gset
SELECT pg_sleep(0.01);
SELECT phoenix.put('employee', 'E1', '{"department":"Accounting"}', '2026-11-25');
SELECT clock_timestamp() AS k2 \gset
SELECT pg_sleep(0.01);
SELECT phoenix.put('employee', 'E1', '{"department":"Audit"}', '2026-11-24', '2026-11-25');

-- valid on Tuesday, as known at each moment
SELECT phoenix.get('employee', 'E1', '2026-11-24 12:00', :'k1') AS tue_as_of_k1;
SELECT phoenix.get('employee', 'E1', '2026-11-26 12:00', :'k1') AS thu_as_of_k1;
SELECT phoenix.get('employee', 'E1', '2026-11-26 12:00', :'k2') AS thu_as_of_k2;
SELECT phoenix.get('employee', 'E1', '2026-11-24 12:00', :'k2') AS tue_as_of_k2;
SELECT phoenix.get('employee', 'E1', '2026-11-24 12:00') AS tue_now;
SELECT phoenix.get('employee', 'E1', '2026-11-20') AS before_it_existed;
SELECT phoenix.get('employee', 'E1', '2026-11-24 12:00', '2020-01-01') AS before_anything_was_known;
SELECT phoenix.get('employee', 'nobody', '2026-11-24') AS unknown_key;

SELECT valid_from, valid_to, attributes FROM phoenix.history('employee', 'E1', :'k1') ORDER BY 1;
SELECT valid_from, valid_to, attributes FROM phoenix.history('employee', 'E1', :'k2') ORDER BY 1;
SELECT valid_from, valid_to, attributes FROM phoenix.history('employee', 'E1') ORDER BY 1;

-- the typed as-of function agrees with get()
SELECT employee_id, name, department FROM phoenix_entity.employee_asof('E1', '2026-11-24 12:00', :'k1');
SELECT employee_id, name, department FROM phoenix_entity.employee_at('E1', '2026-11-24 12:00');

-- nothing is overwritten: every version ever current is still there, and
-- recorded periods of one valid period never overlap
SELECT count(*) AS all_versions, count(*) FILTER (WHERE recorded_to = 'infinity') AS current_versions
  FROM phoenix_entity.employee_history;
SELECT count(*) AS overlapping_recorded_periods
  FROM phoenix_entity.employee_history a JOIN phoenix_entity.employee_history b
    ON a.employee_id = b.employee_id AND a.ctid <> b.ctid
   AND tstzrange(a.valid_from, a.valid_to) && tstzrange(b.valid_from, b.valid_to)
   AND tstzrange(a.recorded_from, a.recorded_to) && tstzrange(b.recorded_from, b.recorded_to);

-- every assertion is kept, in recorded order
SELECT key, valid_from, valid_to, is_open, attributes, origin FROM phoenix.assertions ORDER BY assertion_id;
