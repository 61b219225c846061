#!/usr/bin/env bash
# A Kafka batch's events are received when the batch is applied: each batch
# transaction of the worker has its own start time (a background worker has
# no client statements to set it; without setting it every batch of a
# worker's life carried the worker's start time as received_at and now()).
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
kafka_test_start ticks:1

q -q <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('tick', schema => '{"type":"object","required":["n"]}');
SQL
printf 'a\t{"n":1}\n' | kafka_produce ticks
q -c "SELECT phoenix.create_subscription('ticks', 'ticks', 'tick', '$KAFKA_BOOTSTRAP')" >/dev/null
wait_for 60 "SELECT count(*) = 1 FROM phoenix.event_log WHERE source = 'kafka:ticks'"
sleep 1.2
between=$(q -c "SELECT clock_timestamp()")
sleep 0.2
printf 'b\t{"n":2}\n' | kafka_produce ticks
wait_for 60 "SELECT count(*) = 2 FROM phoenix.event_log WHERE source = 'kafka:ticks'"
q -c "SELECT payload->>'n', received_at > '$between' AS after_between FROM phoenix.event_log
       WHERE source = 'kafka:ticks' ORDER BY position"
[ "$(q -c "SELECT received_at > '$between' AND effective_at = received_at FROM phoenix.event_log
           WHERE source = 'kafka:ticks' AND payload->>'n' = '2'")" = t ] ||
  fail "the second batch's events carry an earlier received_at"
[ "$(q -c "SELECT received_at < '$between' FROM phoenix.event_log
           WHERE source = 'kafka:ticks' AND payload->>'n' = '1'")" = t ] || fail "first batch's received_at"
# the partition counters' batch time is the batch's too
[ "$(q -c "SELECT last_batch_at > '$between' FROM phoenix.kafka_partition_stats WHERE subscription = 'ticks'")" = t ] ||
  fail "last_batch_at did not advance"
echo ok
