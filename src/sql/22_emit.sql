
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

