#!/usr/bin/env bash
# A poison Kafka message never stalls its partition (issue 20, item 1): a
# message whose own writes fail — a 5,000-character random key that
# overflows a reporting table's btree index (54000), a \u0000 escape, a
# string where the projection's column is bigint after a compatibility =>
# 'none' schema change — is dead-lettered with topic/partition/offset, its
# reason and SQLSTATE; its neighbours land, the offset moves past it, and
# after a restart the worker does not fail on it again.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
kafka_test_start poison:1

q -q <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('reading.taken',
  schema => '{"type":"object","required":["sensor","value"],
              "properties":{"sensor":{"type":"string"},"value":{"type":"integer"}}}');
SELECT phoenix.create_projection('readings', source => 'reading.taken',
  columns => '{"sensor":"sensor","value":"value"}');
CREATE INDEX readings_sensor ON reporting.readings (sensor);
SQL
[ "$(q -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
           WHERE attrelid = 'reporting.readings'::regclass AND attname = 'value'")" = bigint ] ||
  fail "the projection's value column should be bigint"
# a later version turns value into a string: allowed only with compatibility => 'none'
q -q -c "SELECT phoenix.create_event_type('reading.taken',
  schema => '{\"type\":\"object\",\"required\":[\"sensor\",\"value\"],
              \"properties\":{\"sensor\":{\"type\":\"string\"},\"value\":{\"type\":[\"integer\",\"string\"]}}}',
  compatibility => 'none')"

# a key random enough that compression cannot bring it under the index limit
long=$(head -c 6000 /dev/urandom | base64 -w0 | tr -d '/+=' | head -c 5000)
[ ${#long} = 5000 ] || fail "could not make the long key"
{
  printf 'a\t{"sensor":"S1","value":1}\n'
  printf 'b\t{"sensor":"%s","value":2}\n' "$long"
  printf 'c\t{"sensor":"S3","value":3}\n'
  printf 'd\t{"sensor":"S4\\u0000x","value":4}\n'
  printf 'e\t{"sensor":"S5","value":5}\n'
  printf 'f\t{"sensor":"S6","value":"six"}\n'
  printf 'g\t{"sensor":"S7","value":7}\n'
} | kafka_produce poison
q -q -c "SELECT phoenix.create_subscription('poison', 'poison', 'reading.taken', '$KAFKA_BOOTSTRAP')"

# the marker: the last message's offset is committed
wait_for 60 "SELECT committed_offset = 7 FROM phoenix.subscription_status WHERE subscription = 'poison'"
got=$(q -c "SELECT string_agg(sensor, ',' ORDER BY value) FROM reporting.readings")
[ "$got" = "S1,S3,S5,S7" ] || fail "neighbours of the poison messages: $got"
[ "$(q -c "SELECT string_agg(payload->>'sensor', ',' ORDER BY position) FROM phoenix.event_log
           WHERE source = 'kafka:poison'")" = "S1,S3,S5,S7" ] || fail "the log holds a poison message"
q -c "SELECT source_position, sqlstate, left(reason, 80) FROM phoenix.dead_letters WHERE source = 'kafka:poison' ORDER BY 1"
# the \u0000 escape may be refused by the payload's parse (22P02) or by a
# text column (22P05): either way it is that message's own dead letter
[ "$(q -c "SELECT string_agg(source_position || ' ' || CASE WHEN sqlstate IN ('22P02', '22P05') AND reason ~ 'u0000'
                                                            THEN 'nul' ELSE sqlstate END, ',' ORDER BY source_position)
           FROM phoenix.dead_letters WHERE source = 'kafka:poison'")" = \
  "poison/0/1 54000,poison/0/3 nul,poison/0/5 22P02" ] || fail "dead letters"
[ "$(q -c "SELECT count(*) FROM phoenix.dead_letters WHERE source = 'kafka:poison'
           AND (reason = '' OR raw IS NULL OR event_type <> 'reading.taken')")" = 0 ] ||
  fail "dead letters need a reason, the raw message and the event type"
wait_for 10 "SELECT accepted = 4 AND dead_lettered = 3 FROM phoenix.subscription_status WHERE subscription = 'poison'"
[ "$(q -c "SELECT count(*) FROM phoenix.kafka_subscription_state WHERE subscription = 'poison' AND last_error IS NOT NULL")" = 0 ] ||
  fail "the worker failed: $(q -c "SELECT last_error FROM phoenix.kafka_subscription_state")"

# the worker restarts (terminated; the launcher starts it again): it resumes
# after the poison, nothing twice, and goes on
pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'phoenix kafka worker' AND datname = current_database()")
[ -n "$pid" ] || fail "no worker"
q -q -c "SELECT pg_terminate_backend($pid)"
printf 'h\t{"sensor":"S8","value":8}\n' | kafka_produce poison
wait_for 60 "SELECT count(*) = 5 FROM phoenix.event_log WHERE source = 'kafka:poison'"
[ "$(q -c "SELECT count(*) FROM phoenix.dead_letters WHERE source = 'kafka:poison'")" = 3 ] || fail "dead letters repeated"
[ "$(q -c "SELECT committed_offset FROM phoenix.subscription_status WHERE subscription = 'poison'")" = 8 ] || fail "offset"
echo ok
