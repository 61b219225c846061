-- Kafka subscriptions: catalog, offsets, status (src/kafka_admin.c, src/kafka_worker.c).

CREATE TABLE phoenix.kafka_subscriptions (
  name               text PRIMARY KEY CHECK (name ~ '^[a-z_][a-z0-9_]{0,62}$'),
  topic              text NOT NULL CHECK (topic ~ '^[A-Za-z0-9._-]{1,249}$'),
  event_type         text,          -- fixed type, or the fallback of header/field
  event_type_header  text,          -- take the type from this message header
  event_type_field   text,          -- or from this top-level payload field
  event_id_header    text,          -- idempotency key from this header
  brokers            text NOT NULL,
  group_id           text NOT NULL,
  options            jsonb NOT NULL DEFAULT '{}',  -- librdkafka properties
  max_message_bytes  integer CHECK (max_message_bytes > 0),
  enabled            boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (event_type IS NOT NULL OR event_type_header IS NOT NULL OR event_type_field IS NOT NULL),
  CHECK (jsonb_typeof(options) = 'object')
);
COMMENT ON TABLE phoenix.kafka_subscriptions IS 'Phoenix: Kafka topics consumed into the event log by the background worker (phoenix.create_subscription)';

-- The position of each consumer group in each partition, written in the
-- transaction that applies the messages before it: the source of truth for
-- where consumption resumes (Kafka's own committed offsets are not used).
CREATE TABLE phoenix.kafka_offsets (
  group_id     text NOT NULL,
  topic        text NOT NULL,
  partition    integer NOT NULL,
  next_offset  bigint NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition)
);
COMMENT ON TABLE phoenix.kafka_offsets IS 'Phoenix: next Kafka offset to apply per consumer group and partition, committed with the events';

-- Counters per subscription and partition, updated with every batch.
CREATE TABLE phoenix.kafka_partition_stats (
  subscription    text NOT NULL REFERENCES phoenix.kafka_subscriptions ON DELETE CASCADE,
  partition       integer NOT NULL,
  high_watermark  bigint,
  accepted        bigint NOT NULL DEFAULT 0,
  dead_lettered   bigint NOT NULL DEFAULT 0,
  batches         bigint NOT NULL DEFAULT 0,
  rate            double precision,   -- messages/s, smoothed over recent batches
  last_batch_at   timestamptz,
  PRIMARY KEY (subscription, partition)
);
COMMENT ON TABLE phoenix.kafka_partition_stats IS 'Phoenix: per-partition counters of a subscription, written by the worker with each batch';

-- Worker-side state of a subscription (kept apart from the catalog so that
-- writing it does not count as a configuration change).
CREATE TABLE phoenix.kafka_subscription_state (
  subscription   text PRIMARY KEY REFERENCES phoenix.kafka_subscriptions ON DELETE CASCADE,
  last_error     text,
  last_error_at  timestamptz,
  assigned       integer[],          -- partitions assigned to this member now
  assigned_at    timestamptz,
  worker_role    name                -- the role the worker ran as (phoenix_kafka)
);
COMMENT ON TABLE phoenix.kafka_subscription_state IS 'Phoenix: last error and current assignment of each subscription, written by the worker';

CREATE VIEW phoenix.subscription_status AS
SELECT s.name AS subscription, s.topic, s.group_id,
       CASE WHEN s.enabled THEN 'running' ELSE 'paused' END AS state,
       p.partition,
       o.next_offset AS committed_offset,
       p.high_watermark,
       greatest(p.high_watermark - coalesce(o.next_offset, 0), 0) AS lag,
       coalesce(p.accepted, 0) AS accepted,
       coalesce(p.dead_lettered, 0) AS dead_lettered,
       p.rate,
       p.last_batch_at,
       st.last_error,
       st.last_error_at
  FROM phoenix.kafka_subscriptions s
  LEFT JOIN phoenix.kafka_partition_stats p ON p.subscription = s.name
  LEFT JOIN phoenix.kafka_offsets o
         ON o.group_id = s.group_id AND o.topic = s.topic AND o.partition = p.partition
  LEFT JOIN phoenix.kafka_subscription_state st ON st.subscription = s.name;
COMMENT ON VIEW phoenix.subscription_status IS 'Phoenix: per subscription and partition: committed offset, high watermark, lag, accepted and dead-lettered counts, rate, last error';

CREATE FUNCTION phoenix.create_subscription(
    name text, topic text, event_type text DEFAULT NULL, brokers text DEFAULT NULL,
    group_id text DEFAULT NULL, event_type_header text DEFAULT NULL,
    event_type_field text DEFAULT NULL, event_id_header text DEFAULT 'event_id',
    options jsonb DEFAULT '{}', max_message_bytes integer DEFAULT NULL,
    enabled boolean DEFAULT true)
  RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_create_subscription' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.create_subscription(text, text, text, text, text, text, text, text, jsonb, integer, boolean) IS
  'Phoenix: consume a Kafka topic into the event log (event type fixed, or from a header or payload field); librdkafka options checked';

CREATE FUNCTION phoenix.drop_subscription(name text, if_exists boolean DEFAULT false)
  RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_drop_subscription' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.drop_subscription(text, boolean) IS
  'Phoenix: stop consuming and forget a subscription (its group''s offsets go when no subscription uses them)';

CREATE FUNCTION phoenix.pause_subscription(name text) RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_pause_subscription' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION phoenix.pause_subscription(text) IS 'Phoenix: stop consuming a subscription, keeping its offsets';

CREATE FUNCTION phoenix.resume_subscription(name text) RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_resume_subscription' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION phoenix.resume_subscription(text) IS 'Phoenix: resume consuming a paused subscription where it stopped';

-- Any change to the catalog reaches the worker at commit (through shared
-- memory and its latch), whoever makes it.
CREATE FUNCTION phoenix.kafka_config_changed() RETURNS trigger
  AS 'MODULE_PATHNAME', 'phoenix_kafka_config_changed' LANGUAGE C;
COMMENT ON FUNCTION phoenix.kafka_config_changed() IS 'Phoenix: tells the Kafka worker of this database to reload at commit';
CREATE TRIGGER kafka_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON phoenix.kafka_subscriptions FOR EACH STATEMENT EXECUTE FUNCTION phoenix.kafka_config_changed();

SELECT pg_catalog.pg_extension_config_dump('phoenix.kafka_subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.kafka_offsets', '');

REVOKE ALL ON FUNCTION phoenix.create_subscription(text, text, text, text, text, text, text, text, jsonb, integer, boolean),
  phoenix.drop_subscription(text, boolean), phoenix.pause_subscription(text),
  phoenix.resume_subscription(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION phoenix.create_subscription(text, text, text, text, text, text, text, text, jsonb, integer, boolean),
  phoenix.drop_subscription(text, boolean), phoenix.pause_subscription(text),
  phoenix.resume_subscription(text) TO phoenix_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON phoenix.kafka_subscriptions, phoenix.kafka_offsets TO phoenix_admin;
GRANT SELECT ON phoenix.kafka_subscriptions, phoenix.kafka_offsets, phoenix.kafka_partition_stats,
  phoenix.kafka_subscription_state, phoenix.subscription_status TO phoenix_reader, phoenix_admin;
