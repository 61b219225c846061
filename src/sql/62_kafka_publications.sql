-- Kafka publications: projection changes to a topic through an outbox
-- (src/kafka_publish.c).

CREATE TABLE phoenix.kafka_publications (
  publication_id  serial PRIMARY KEY,
  projection      text NOT NULL,
  table_name      regclass NOT NULL,    -- the reporting table
  key_column      text NOT NULL,        -- the message key: event_id (or the latest key)
  topic           text NOT NULL,
  brokers         text NOT NULL,
  options         jsonb NOT NULL DEFAULT '{}',
  enabled         boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (projection, topic),
  CHECK (jsonb_typeof(options) = 'object')
);
COMMENT ON TABLE phoenix.kafka_publications IS 'Phoenix: projections published to Kafka topics (phoenix.create_publication)';

-- Every change of a published row, written by a trigger in the changing
-- transaction; the worker sends in position order and deletes what the
-- brokers acknowledged.
CREATE TABLE phoenix.kafka_outbox (
  position        bigserial PRIMARY KEY,
  publication_id  integer NOT NULL REFERENCES phoenix.kafka_publications ON DELETE CASCADE,
  key             text NOT NULL,
  op              text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
  row             json,                 -- the row after the change; NULL for delete
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kafka_outbox_publication ON phoenix.kafka_outbox (publication_id, position);
COMMENT ON TABLE phoenix.kafka_outbox IS 'Phoenix: projection changes waiting to be sent to Kafka, in commit order per key';

CREATE TABLE phoenix.kafka_publication_state (
  publication_id  integer PRIMARY KEY REFERENCES phoenix.kafka_publications ON DELETE CASCADE,
  sent            bigint NOT NULL DEFAULT 0,
  last_position   bigint,
  last_sent_at    timestamptz,
  last_error      text,
  last_error_at   timestamptz
);
COMMENT ON TABLE phoenix.kafka_publication_state IS 'Phoenix: what the worker has sent per publication, and its last error';

CREATE VIEW phoenix.publication_status AS
SELECT p.projection, p.topic,
       CASE WHEN p.enabled THEN 'running' ELSE 'paused' END AS state,
       (SELECT count(*) FROM phoenix.kafka_outbox o WHERE o.publication_id = p.publication_id) AS pending,
       coalesce(s.sent, 0) AS sent, s.last_position, s.last_sent_at, s.last_error, s.last_error_at
  FROM phoenix.kafka_publications p
  LEFT JOIN phoenix.kafka_publication_state s USING (publication_id);
COMMENT ON VIEW phoenix.publication_status IS 'Phoenix: per publication: changes waiting, sent, last outbox position sent, last error';

CREATE FUNCTION phoenix.create_publication(projection text, topic text, brokers text,
    options jsonb DEFAULT '{}')
  RETURNS integer
  AS 'MODULE_PATHNAME', 'phoenix_create_publication' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.create_publication(text, text, text, jsonb) IS
  'Phoenix: send every change of a projection''s rows to a Kafka topic, keyed by event_id, at least once, in commit order per key';

CREATE FUNCTION phoenix.drop_publication(projection text, topic text, if_exists boolean DEFAULT false)
  RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_drop_publication' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.drop_publication(text, text, boolean) IS
  'Phoenix: stop publishing a projection to a topic; unsent changes are discarded';

CREATE FUNCTION phoenix.kafka_outbox_capture() RETURNS trigger
  AS 'MODULE_PATHNAME', 'phoenix_kafka_outbox_capture' LANGUAGE C;
COMMENT ON FUNCTION phoenix.kafka_outbox_capture() IS 'Phoenix: trigger writing changes of a published reporting table to the Kafka outbox';

CREATE TRIGGER kafka_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON phoenix.kafka_publications FOR EACH STATEMENT EXECUTE FUNCTION phoenix.kafka_config_changed();

SELECT pg_catalog.pg_extension_config_dump('phoenix.kafka_publications', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.kafka_outbox', '');

