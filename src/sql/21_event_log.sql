
-- ---------------------------------------------------------------------------
-- The event log, idempotency keys and dead letters (src/eventlog.c, src/emit.c).
-- ---------------------------------------------------------------------------

-- Global order of accepted events.  CACHE keeps concurrent writers off the
-- sequence's buffer lock; gaps are harmless.
CREATE SEQUENCE phoenix.event_log_position_seq CACHE 64;

-- Raw, append-only history of every accepted event.  Partitioned by the month
-- the event was received; emit creates partitions as needed
-- (phoenix.event_log_pYYYYMM).
CREATE TABLE phoenix.event_log (
  position        bigint NOT NULL,
  event_id        text COLLATE "C" NOT NULL,
  event_type      text COLLATE "C" NOT NULL,
  schema_version  integer NOT NULL,
  payload         jsonb NOT NULL,
  effective_at    timestamptz NOT NULL,
  received_at     timestamptz NOT NULL,
  source          text,
  source_position text
) PARTITION BY RANGE (received_at);
-- Readers by position: projection rebuilds walk one type's events in
-- position order (an ordered scan of this index, filtered by type, stops
-- after each batch, so a rebuild reads the log once whatever the mix of
-- types); an idempotency check reads an event by position; forget scans a
-- type's events whole.  An integer key appended at
-- the right end is the cheapest index to maintain: (event_type, position)
-- cost a text comparison per step of every insertion, 17% of ingest_csv.
-- Positions are unique: deduplication would only be tried in vain.
-- The index is made on each partition when emit creates it
-- (phoenix.event_log_pYYYYMM_position), not on the partitioned table: an
-- index of the extension's table would be created again, under the
-- partition's index name, by the ATTACH PARTITION of a restore, before the
-- dump's own CREATE INDEX of that name.
COMMENT ON TABLE phoenix.event_log IS 'Phoenix: raw append-only history of accepted events, partitioned by received month';

-- Idempotency keys: one row per event_id (given or generated), unique, so a repeat
-- is found by one index probe instead of a scan of the partitioned log.
-- Ids and type names compare byte-wise (COLLATE "C"): they are identifiers,
-- and a locale-aware comparison per index probe costs several times as much.
CREATE TABLE phoenix.event_ids (
  event_id      text COLLATE "C" PRIMARY KEY,
  position      bigint NOT NULL,
  payload_hash  bigint NOT NULL      -- of the type and the payload's jsonb bytes (src/emit.c)
);
COMMENT ON TABLE phoenix.event_ids IS 'Phoenix: every event id a producer gave, and the log position it was accepted at (idempotency)';

-- The nodes of the ids this database generates (src/ingest/eventid.c).  An
-- event sent without an id gets one that names its log position, received
-- millisecond and a node of this table: unique by construction, so it is not
-- claimed in phoenix.event_ids, and a repeat of it is found in the log.
-- Install draws a node; a restore brings the dumped database's nodes too, so
-- the ids in its log stay recognised.  Do not edit: an id whose node is
-- removed would be taken as a producer's, and a repeat of it as new.
CREATE TABLE phoenix.generated_id_nodes (
  node integer NOT NULL CHECK (node >= 0 AND node < 67108864)
);
COMMENT ON TABLE phoenix.generated_id_nodes IS 'Phoenix: nodes of the event ids this database generates (do not edit)';
INSERT INTO phoenix.generated_id_nodes
  SELECT pg_catalog.floor(pg_catalog.random() * 67108864)::integer % 67108864;
CREATE FUNCTION phoenix.generated_id_nodes_changed() RETURNS trigger
  AS 'MODULE_PATHNAME', 'phoenix_generated_id_nodes_changed' LANGUAGE C;
COMMENT ON FUNCTION phoenix.generated_id_nodes_changed() IS 'Phoenix: every session reads the generated ids'' nodes again at commit';
CREATE TRIGGER generated_id_nodes_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON phoenix.generated_id_nodes FOR EACH STATEMENT EXECUTE FUNCTION phoenix.generated_id_nodes_changed();

-- What bulk paths refused: the raw input, why, and where it came from.
CREATE TABLE phoenix.dead_letters (
  dead_letter_id    bigserial PRIMARY KEY,
  event_type        text,
  event_id          text,
  raw               text NOT NULL,
  reason            text NOT NULL,
  sqlstate          text,
  source            text,
  source_position   text,
  effective_at      timestamptz,       -- the explicit effective time given, if any
  replayable        boolean NOT NULL DEFAULT true,  -- false: raw is a CSV line or batch element, not a payload
  received_at       timestamptz NOT NULL DEFAULT now(),
  attempts          integer NOT NULL DEFAULT 1,
  replayed_at       timestamptz,
  replayed_position bigint
);
CREATE INDEX dead_letters_pending ON phoenix.dead_letters (event_type, dead_letter_id) WHERE replayed_at IS NULL AND replayable;
COMMENT ON TABLE phoenix.dead_letters IS 'Phoenix: refused events with reason and source position; replay with phoenix.replay_dead_letters';

SELECT pg_catalog.pg_extension_config_dump('phoenix.event_ids', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.generated_id_nodes', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.dead_letters', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.event_log_position_seq', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.dead_letters_dead_letter_id_seq', '');

