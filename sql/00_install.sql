-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_00_install;
CREATE DATABASE regress_00_install;
\c regress_00_install
\set ECHO all
-- The extension installs (with btree_gist) and its schemas and roles exist.
CREATE EXTENSION phoenix CASCADE;
SELECT nspname FROM pg_namespace WHERE nspname IN ('api', 'phoenix', 'phoenix_entity', 'reporting') ORDER BY 1;
SELECT rolname FROM pg_roles WHERE rolname LIKE 'phoenix\_%' ORDER BY 1;
