
-- ---------------------------------------------------------------------------
-- Emitting (src/emit.c, src/csv.c).
-- ---------------------------------------------------------------------------

CREATE FUNCTION phoenix.emit(event_type text, payload jsonb, effective_at timestamptz DEFAULT NULL,
    event_id text DEFAULT NULL, source text DEFAULT NULL)
  RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_emit' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.emit(text, jsonb, timestamptz, text, text) IS
  'Phoenix: validate and log one event, apply it to its entity and projections; returns its log position';

CREATE FUNCTION phoenix.emit(event_type text, payload text, effective_at timestamptz DEFAULT NULL,
    event_id text DEFAULT NULL, source text DEFAULT NULL)
  RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_emit_text' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.emit(text, text, timestamptz, text, text) IS
  'Phoenix: emit for a payload sent as JSON text (a literal): read in one pass, then as the jsonb form';

CREATE FUNCTION phoenix.emit_batch(events jsonb, source text DEFAULT NULL,
    OUT accepted bigint, OUT rejected bigint)
  AS 'MODULE_PATHNAME', 'phoenix_emit_batch' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.emit_batch(jsonb, text) IS
  'Phoenix: emit an array of {"type","payload","event_id","effective_at"} objects; bad ones go to phoenix.dead_letters';

CREATE FUNCTION phoenix.emit_batch(events text, source text DEFAULT NULL,
    OUT accepted bigint, OUT rejected bigint)
  AS 'MODULE_PATHNAME', 'phoenix_emit_batch_text' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.emit_batch(text, text) IS
  'Phoenix: emit_batch for a batch sent as JSON text (a literal): parsed element by element, never as one jsonb value';

CREATE FUNCTION phoenix.ingest_csv(event_type text, csv text, source text DEFAULT NULL,
    delimiter text DEFAULT ',', id_field text DEFAULT NULL, OUT accepted bigint, OUT rejected bigint)
  AS 'MODULE_PATHNAME', 'phoenix_ingest_csv' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.ingest_csv(text, text, text, text, text) IS
  'Phoenix: emit one event per CSV row (header names payload fields; id_field: the column holding event ids); csv is a server file path or CSV text';

CREATE FUNCTION phoenix.replay_dead_letters(event_type text DEFAULT NULL, dead_letter_ids bigint[] DEFAULT NULL,
    OUT replayed bigint, OUT rejected bigint)
  AS 'MODULE_PATHNAME', 'phoenix_replay_dead_letters' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.replay_dead_letters(text, bigint[]) IS
  'Phoenix: re-emit pending dead letters (e.g. after a schema fix); accepted ones are marked replayed';

-- Booking series: what a recurring event expands to (src/ingest/recurrence.c),
-- for trying rules.  libical iterates the rule in local wall time from
-- first_at read in timezone; PostgreSQL turns each occurrence into an instant.
CREATE FUNCTION phoenix.recurrence_occurrences(rule text, first_at timestamptz, timezone text,
    skip date[] DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE(occurrence_at timestamptz, occurrence_local timestamp, occurrence_date date)
AS 'MODULE_PATHNAME', 'phoenix_recurrence_occurrences'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION phoenix.recurrence_occurrences(text, timestamptz, text, date[], timestamptz) IS
  'Phoenix: the occurrences of an RFC 5545 RRULE starting at first_at in timezone (skipping local dates in skip, instants from until on), as a recurring event type expands them';
