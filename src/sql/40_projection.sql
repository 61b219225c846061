-- ---------------------------------------------------------------------------
-- Projections: reporting tables enriched as of each event's time, kept right
-- by the cascade (src/projection.c, src/cascade.c).
-- ---------------------------------------------------------------------------

-- One row per projection.  The generated SQL is kept beside the definition
-- so that every backend prepares the same statements without re-deriving
-- them, and so that an operator can read what runs.
CREATE TABLE phoenix.projections (
  projection_id  serial PRIMARY KEY,
  name           text NOT NULL UNIQUE,
  schema_name    text NOT NULL,
  table_name     text NOT NULL,
  source         text NOT NULL,            -- event type feeding the projection
  kind           text NOT NULL CHECK (kind IN ('events', 'latest')),
  latest_key     text,                     -- kind = 'latest': the column keeping one row per value
  fresh_for      interval,                 -- kind = 'latest': window of the companion _fresh view
  columns        jsonb NOT NULL,           -- [{"name","path","type"}]
  enrich         jsonb NOT NULL,           -- as given
  derive         jsonb NOT NULL,           -- {"column": "expression"}
  pk_column      text NOT NULL,            -- event_id, or latest_key
  src_columns    text NOT NULL,            -- columns a recomputation reads back from the table
  out_columns    text NOT NULL,            -- columns a recomputation rewrites
  row_lateral    text NOT NULL,            -- row computation over %SRC%, index lookups
  row_join       text NOT NULL,            -- row computation over %SRC%, set-based joins
  payload_src    text NOT NULL,            -- %SRC% over a batch of payloads ($1..$4 arrays)
  log_src        text NOT NULL,            -- %SRC% over a range of the event log
  horizon        interval,                 -- recurring source: series materialised up to now() + horizon
  created_at     timestamptz NOT NULL DEFAULT now(),
  rebuilt_at     timestamptz,
  UNIQUE (schema_name, table_name)
);
COMMENT ON TABLE phoenix.projections IS
  'Phoenix catalog: projections (reporting tables fed by an event type) and their generated SQL';

-- One row per enrichment step, in evaluation order: what the cascade needs to
-- find dependent rows of a changed entity key.
CREATE TABLE phoenix.projection_steps (
  projection_id   int NOT NULL REFERENCES phoenix.projections ON DELETE CASCADE,
  step            int NOT NULL,
  entity          text NOT NULL,
  prefix          text NOT NULL,           -- output columns are <prefix>_<attribute>
  key_column      text NOT NULL,           -- table column holding the key (or the by value)
  key_path        text[],                  -- payload path of key_column when it is mapped (for locks)
  by_attribute    text,                    -- match on this attribute instead of the key
  match_column    text NOT NULL,           -- table column holding the matched entity key
  event_time      text[] NOT NULL,         -- attributes as of the row's effective time
  current         text[] NOT NULL,         -- attributes valid now
  row_lateral     text NOT NULL,           -- recomputation of this step and its chain over %SRC%, lookups
  row_join        text NOT NULL,           -- the same, set-based joins
  PRIMARY KEY (projection_id, step)
);
COMMENT ON TABLE phoenix.projection_steps IS
  'Phoenix catalog: the enrichment steps of each projection, in evaluation order';

-- Future-dated changes of attributes that some projection reads as `current`:
-- applied by phoenix.apply_due() when their time comes (emit checks at most
-- once a second per backend; pg_cron runs it every minute once scheduled).
CREATE TABLE phoenix.projection_due (
  entity    text NOT NULL,
  key       text NOT NULL,
  due_at    timestamptz NOT NULL,
  PRIMARY KEY (entity, key, due_at)
);
CREATE INDEX projection_due_at ON phoenix.projection_due (due_at);
COMMENT ON TABLE phoenix.projection_due IS
  'Phoenix: future-dated changes of current-mode attributes, waiting for their time';

-- Booking series that go on past their projection's horizon: apply_due
-- expands each again from its latest event once extend_at has come
-- (src/projection/series.c).
CREATE TABLE phoenix.series_horizon (
  projection_id int NOT NULL REFERENCES phoenix.projections ON DELETE CASCADE,
  series_id     text NOT NULL,
  position      bigint NOT NULL,             -- the series' latest event in the log
  extend_at     timestamptz NOT NULL,
  PRIMARY KEY (projection_id, series_id)
);
CREATE INDEX series_horizon_extend_at ON phoenix.series_horizon (extend_at);
COMMENT ON TABLE phoenix.series_horizon IS
  'Phoenix: booking series materialised up to their projection''s horizon, waiting to be extended';

SELECT pg_catalog.pg_extension_config_dump('phoenix.projections', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.projections_projection_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.projection_steps', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.projection_due', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.series_horizon', '');

CREATE FUNCTION phoenix.create_projection(name text, source text,
    columns jsonb DEFAULT '{}', enrich jsonb DEFAULT '[]', derive jsonb DEFAULT '{}',
    schema text DEFAULT 'reporting', kind text DEFAULT 'events',
    latest_key text DEFAULT NULL, fresh_for interval DEFAULT NULL, horizon interval DEFAULT NULL,
    fillfactor integer DEFAULT 85)
  RETURNS regclass
  AS 'MODULE_PATHNAME', 'phoenix_create_projection' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.create_projection(text, text, jsonb, jsonb, jsonb, text, text, text, interval, interval, integer) IS
  'Phoenix: create a reporting table fed by an event type, enriched as of each event''s time, and fill it from the log';

CREATE FUNCTION phoenix.drop_projection(name text)
  RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_drop_projection' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION phoenix.drop_projection(text) IS
  'Phoenix: drop a projection and its reporting table';

CREATE FUNCTION phoenix.rebuild_projection(name text, batch_size integer DEFAULT 50000)
  RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_rebuild_projection' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION phoenix.rebuild_projection(text, integer) IS
  'Phoenix: recompute a projection from the event log in batches (progress: NOTICEs and phoenix.projection_progress); returns its row count';

CREATE FUNCTION phoenix.apply_due()
  RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_apply_due' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.apply_due() IS
  'Phoenix: apply future-dated changes of current-mode attributes whose time has come; returns how many were applied';

-- pg_cron is optional: schedule the due-list tick only where it is installed.
CREATE FUNCTION phoenix.schedule_apply_due(schedule text DEFAULT '* * * * *')
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in this database'
      USING ERRCODE = 'undefined_object',
            HINT = 'CREATE EXTENSION pg_cron (cron.database_name must name this database), or call phoenix.apply_due() from your own scheduler.';
  END IF;
  RETURN cron.schedule('phoenix_apply_due', schedule, 'SELECT phoenix.apply_due()');
END
$$;
COMMENT ON FUNCTION phoenix.schedule_apply_due(text) IS
  'Phoenix: schedule phoenix.apply_due() with pg_cron (job phoenix_apply_due; default every minute)';

-- The catalog as an analyst reads it.
CREATE VIEW phoenix.projection_catalog AS
SELECT p.name, format('%I.%I', p.schema_name, p.table_name) AS table_name, p.source, p.kind,
       p.latest_key, p.fresh_for, p.columns, p.enrich, p.derive,
       (SELECT array_agg(format('%s(%s%s): event_time=%s current=%s', s.entity, s.key_column,
                                coalesce(' by ' || s.by_attribute, ''), s.event_time, s.current)
                         ORDER BY s.step)
          FROM phoenix.projection_steps s WHERE s.projection_id = p.projection_id) AS steps,
       c.reltuples::bigint AS estimated_rows, p.created_at, p.rebuilt_at, p.horizon
  FROM phoenix.projections p
  LEFT JOIN pg_catalog.pg_class c
         ON c.oid = pg_catalog.to_regclass(format('%I.%I', p.schema_name, p.table_name));
COMMENT ON VIEW phoenix.projection_catalog IS
  'Phoenix: every projection, its source, columns, enrichment steps and size';

-- Rebuilds report progress through the backend progress counters (the same
-- machinery as pg_stat_progress_copy): watch from any session.
CREATE VIEW phoenix.projection_progress AS
SELECT s.pid, p.name AS projection,
       s.param3 AS events_done, s.param2 AS events_total,
       CASE WHEN s.param2 > 0 THEN round(100.0 * s.param3 / s.param2, 1) END AS percent,
       a.xact_start AS started_at
  FROM pg_catalog.pg_stat_get_progress_info('COPY') s
  JOIN phoenix.projections p
    ON s.relid = pg_catalog.to_regclass(format('%I.%I', p.schema_name, p.table_name))
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = s.pid;
COMMENT ON VIEW phoenix.projection_progress IS
  'Phoenix: running projection rebuilds: events done of total';

