-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_forget_escaped;
CREATE DATABASE regress_forget_escaped;
\c regress_forget_escaped
\set ECHO all
-- forget finds a forgotten value in raw text also as JSON writes it (quotes
-- and backslashes escaped): a dead letter's raw JSON holds the name as
-- Ann \"Nan\" O\\Neil, which must be scrubbed like the plain form.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SET phoenix.forget_secret = 'forget_escaped test secret';
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text"}', pii => '{name}');
SELECT phoenix.create_event_type('badge.scanned',
       schema => '{"type":"object","required":["employeeId"],"properties":{"employeeId":{"type":"string"},
                   "name":{"type":"string"}},"additionalProperties":false}',
       refs => '{"employeeId":"employee"}');
SELECT phoenix.put('employee', 'E1', jsonb_build_object('name', E'Ann "Nan" O\\Neil'), '2025-01-01');
-- refused (an unknown property): the raw payload text is kept in the dead letter
SELECT * FROM phoenix.emit_batch(jsonb_build_array(jsonb_build_object('type', 'badge.scanned',
         'payload', jsonb_build_object('employeeId', 'E1', 'name', E'Ann "Nan" O\\Neil', 'extra', 1))));
SELECT raw LIKE '%Nan%' AS names_nan FROM phoenix.dead_letters;
SELECT phoenix.forget('employee', 'E1', 'ticket 1') ->> 'phoenix.dead_letters' AS dead_letters_scrubbed;
SELECT raw LIKE '%Nan%' AS still_names_nan, raw LIKE '%forgotten-%' AS has_pseudonym FROM phoenix.dead_letters;
