
-- ---------------------------------------------------------------------------
-- Exports: files in BigQuery load formats, cursors, pg_cron schedules.
-- (src/export.c)
-- ---------------------------------------------------------------------------

-- One cursor per export target: the watermark of the last successful export.
CREATE TABLE phoenix.export_cursors (
  projection      text NOT NULL,
  directory       text NOT NULL,
  format          text NOT NULL CHECK (format IN ('ndjson', 'csv')),
  last_change_seq bigint NOT NULL DEFAULT 0,
  last_file       text,
  last_rows       bigint,
  exported_at     timestamptz,
  exports         bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (projection, directory, format)
);
COMMENT ON TABLE phoenix.export_cursors IS
  'Phoenix: per projection, directory and format, the change_seq up to which rows were exported';
SELECT pg_catalog.pg_extension_config_dump('phoenix.export_cursors', '');

CREATE FUNCTION phoenix.export(projection text, directory text, format text DEFAULT 'ndjson',
                               OUT file text, OUT manifest text, OUT rows bigint,
                               OUT from_change_seq bigint, OUT to_change_seq bigint)
  AS 'MODULE_PATHNAME', 'phoenix_export'
  LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION phoenix.export(text, text, text) IS
  'Phoenix: write the projection''s rows changed since the last export to directory as NDJSON or CSV for bq load, atomically, with a manifest';

-- pg_cron jobs made by schedule_export, so unschedule_export finds them.
CREATE TABLE phoenix.export_schedules (
  projection text NOT NULL,
  directory  text NOT NULL,
  format     text NOT NULL CHECK (format IN ('ndjson', 'csv')),
  schedule   text NOT NULL,
  jobid      bigint NOT NULL,
  PRIMARY KEY (projection, directory, format)
);
COMMENT ON TABLE phoenix.export_schedules IS 'Phoenix: pg_cron jobs that run phoenix.export';
SELECT pg_catalog.pg_extension_config_dump('phoenix.export_schedules', '');

-- DDL glue around pg_cron (an optional dependency, so called dynamically).
CREATE FUNCTION phoenix.schedule_export(projection text, schedule text, directory text,
                                        format text DEFAULT 'ndjson')
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  job bigint;
  cmd text;
BEGIN
  IF format NOT IN ('ndjson', 'csv') THEN
    RAISE EXCEPTION 'unknown export format "%"', format
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''ndjson'' or ''csv''.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM phoenix.projections p WHERE p.name = schedule_export.projection)
     AND to_regclass(format('reporting.%I', projection)) IS NULL THEN
    RAISE EXCEPTION 'projection "%" does not exist', projection
      USING ERRCODE = 'undefined_object', HINT = 'Create it with phoenix.create_projection first.';
  END IF;
  IF to_regnamespace('cron') IS NULL THEN
    RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('pg_cron runs jobs from the database named by cron.database_name (%s).',
                            coalesce(current_setting('cron.database_name', true), 'not set')),
            HINT = 'Run CREATE EXTENSION pg_cron in that database and use Phoenix there, or schedule phoenix.export with cron.schedule_in_database from it.';
  END IF;
  -- pg_cron before 1.5 (Debian 12 ships 1.4) knows only cron syntax; say so
  -- rather than pass on its "invalid schedule"
  IF schedule ~* '^\s*[0-9]+\s*seconds?\s*$' AND
     (SELECT pg_catalog.string_to_array(pg_catalog.split_part(e.extversion, '-', 1), '.')::int[] < '{1,5}'
        FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron % cannot run a job every "%"',
                    (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron'), schedule
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Schedules in seconds need pg_cron 1.5 or later; use cron syntax, e.g. ''* * * * *'' (every minute).';
  END IF;
  cmd := format('SELECT phoenix.export(%L, %L, %L)', projection, directory, format);
  EXECUTE 'SELECT cron.schedule($1, $2, $3)'
    INTO job USING format('phoenix_export %s %s %s', projection, format, directory), schedule, cmd;
  INSERT INTO phoenix.export_schedules AS s (projection, directory, format, schedule, jobid)
  VALUES (projection, directory, format, schedule, job)
  ON CONFLICT ON CONSTRAINT export_schedules_pkey
  DO UPDATE SET schedule = EXCLUDED.schedule, jobid = EXCLUDED.jobid;
  RETURN job;
END
$fn$;
COMMENT ON FUNCTION phoenix.schedule_export(text, text, text, text) IS
  'Phoenix: run phoenix.export(projection, directory, format) on a pg_cron schedule; returns the cron job id';

CREATE FUNCTION phoenix.unschedule_export(projection text, directory text DEFAULT NULL,
                                          format text DEFAULT NULL)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN DELETE FROM phoenix.export_schedules s
            WHERE s.projection = unschedule_export.projection
              AND (unschedule_export.directory IS NULL OR s.directory = unschedule_export.directory)
              AND (unschedule_export.format IS NULL OR s.format = unschedule_export.format)
           RETURNING s.jobid
  LOOP
    IF to_regnamespace('cron') IS NOT NULL THEN
      EXECUTE 'SELECT cron.unschedule($1)' USING r.jobid;
    END IF;
    n := n + 1;
  END LOOP;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION phoenix.unschedule_export(text, text, text) IS
  'Phoenix: remove the pg_cron jobs made by schedule_export for the projection (optionally one directory/format); returns how many';
