-- Kafka foreign-data wrapper: a topic as a foreign table (src/kafka_fdw.c).
CREATE FUNCTION phoenix.kafka_fdw_handler() RETURNS fdw_handler
  AS 'MODULE_PATHNAME', 'phoenix_kafka_fdw_handler' LANGUAGE C STRICT;
CREATE FUNCTION phoenix.kafka_fdw_validator(text[], oid) RETURNS void
  AS 'MODULE_PATHNAME', 'phoenix_kafka_fdw_validator' LANGUAGE C STRICT;
COMMENT ON FUNCTION phoenix.kafka_fdw_handler() IS 'Phoenix: handler of the phoenix_kafka foreign-data wrapper';
COMMENT ON FUNCTION phoenix.kafka_fdw_validator(text[], oid) IS 'Phoenix: validates phoenix_kafka server, user mapping and table options (librdkafka properties checked by librdkafka)';

CREATE FOREIGN DATA WRAPPER phoenix_kafka
  HANDLER phoenix.kafka_fdw_handler VALIDATOR phoenix.kafka_fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER phoenix_kafka IS 'Phoenix: Kafka topics as foreign tables (partition, offset, key, value, timestamp, headers), partition and offset conditions pushed down';
