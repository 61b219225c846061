-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_entity_read_roles;
CREATE DATABASE regress_entity_read_roles;
\c regress_entity_read_roles
\set ECHO all
-- A reader reads entities (get, history) in a session of its own: the
-- entity catalog is loaded for it although it may not read Phoenix's catalog
-- tables (the Universal API's entityAsOf and entityHistory run as the
-- token's role on pooled connections; before, a reader's first get in a
-- session failed with "permission denied for table entities").  A writer may
-- not read entity history (README's role table): refused on the history
-- table itself, not on the catalog.
\set VERBOSITY terse
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('employee', key => 'employee_id',
       attributes => '{"name":"text","department":"text"}') IS NOT NULL AS created;
SELECT phoenix.put('employee', 'E1', '{"name":"Ann","department":"Finance"}', '2025-01-01') IS NOT NULL AS put;
-- a new session: nothing cached
\c
SET ROLE phoenix_reader;
SELECT phoenix.get('employee', 'E1', valid_at => '2025-02-01');
SELECT valid_from, valid_to, attributes FROM phoenix.history('employee', 'E1') ORDER BY valid_from;
SELECT has_table_privilege('phoenix.entities', 'SELECT') AS reader_reads_entities;
\c
SET ROLE phoenix_writer;
SELECT phoenix.get('employee', 'E1', valid_at => '2025-02-01');
SELECT valid_from, valid_to, attributes FROM phoenix.history('employee', 'E1') ORDER BY valid_from;
\c
SET ROLE phoenix_reader;
SELECT phoenix.get('no_such_entity', 'E1');
