-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_entity_bulk_load;
CREATE DATABASE regress_entity_bulk_load;
\c regress_entity_bulk_load
\set ECHO all
-- A bulk load of 20,000 keys of one entity in one transaction.  Each key
-- written used to hold its own entry in the shared lock table to the end of
-- the transaction, and the table (max_locks_per_transaction × connections,
-- shared by every session) ran out: "out of shared memory".  After 1,000 keys
-- the transaction locks the whole entity instead (test/isolation/specs/
-- entity_lock_escalation.spec shows who waits for whom).
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","department":"text"}');
SELECT phoenix.create_event_type('employee.changed',
  schema => '{"type":"object","properties":{"employeeId":{"type":"string"},"name":{"type":"string"},
              "department":{"type":"string"},"at":{"type":"string","format":"date-time"}}}',
  entity => 'employee', key_field => 'employeeId', sets => '{"name":"name","department":"department"}',
  time_field => 'at');
BEGIN;
SELECT sum((phoenix.emit_batch(b)).accepted) FROM (
  SELECT jsonb_agg(jsonb_build_object('type', 'employee.changed', 'payload', jsonb_build_object(
           'employeeId', 'E' || e, 'name', 'Name ' || e, 'department', 'D' || e % 7, 'at', '2025-01-01T00:00:00Z'))) b
    FROM generate_series(1, 20000) e GROUP BY e / 1000) x;
-- the advisory locks this transaction holds: 1,000 keys (tagged 0x5048)
-- and the entity (0x5049), in both modes
SELECT to_hex(objsubid::int) AS tag, mode, count(*) FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND objsubid::int IN (x'5048'::int, x'5049'::int)
 GROUP BY 1, 2 ORDER BY 1, 2;
COMMIT;
SELECT count(*), count(DISTINCT employee_id) FROM phoenix_entity.employee_history WHERE recorded_to = 'infinity';
SELECT phoenix.get('employee', 'E12345', '2025-06-01');
