-- phoenix install script, assembled from src/sql/NN_*.sql (one fragment per concern).
\echo Use "CREATE EXTENSION phoenix" to load this file. \quit

-- Roles are cluster-wide: create them once, never as members of the extension.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phoenix_reader') THEN
    CREATE ROLE phoenix_reader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phoenix_writer') THEN
    CREATE ROLE phoenix_writer NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phoenix_admin') THEN
    CREATE ROLE phoenix_admin NOLOGIN;
  END IF;
  -- the Kafka worker's own statements run as this role (it never logs in)
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phoenix_kafka') THEN
    CREATE ROLE phoenix_kafka NOLOGIN;
  END IF;
END
$roles$;

GRANT USAGE ON SCHEMA phoenix TO phoenix_reader, phoenix_writer, phoenix_admin;

-- Per-entity history tables, current-state views and as-of functions live here.
CREATE SCHEMA phoenix_entity;
COMMENT ON SCHEMA phoenix_entity IS 'Phoenix: one typed bitemporal history table, current view and as-of functions per entity';
GRANT USAGE ON SCHEMA phoenix_entity TO phoenix_reader, phoenix_writer, phoenix_admin;

-- Reporting tables (projections) land here by default.
CREATE SCHEMA reporting;
COMMENT ON SCHEMA reporting IS 'Phoenix: reporting tables maintained by projections';
GRANT USAGE ON SCHEMA reporting TO phoenix_reader, phoenix_writer, phoenix_admin;
