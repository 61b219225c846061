#!/usr/bin/env bash
# The launcher restarts a Kafka worker that died wanting to run after
# phoenix.kafka_restart_delay, doubling per failure up to
# phoenix.kafka_max_restart_delay.  With delays 2 s doubling to at most 5 s,
# four SIGTERMs in a row (no batch in between, so the series is never reset)
# must each be followed by at least 2, 4, 5 and 5 s without a worker.  Only
# lower bounds are checked: a slow machine makes the gaps longer, never
# shorter, so the test cannot fail for want of speed.  Then a message sent
# after the last restart is applied (the worker works again).
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
restore() {
  psql -X -q -c "ALTER SYSTEM RESET phoenix.kafka_restart_delay" -c "ALTER SYSTEM RESET phoenix.kafka_max_restart_delay" \
       -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
  kafka_subscriptions_cleanup
}
kafka_mock_start beats:1
trap restore EXIT

q -q <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('beat', schema => '{"type":"object","required":["n"]}');
ALTER SYSTEM SET phoenix.kafka_restart_delay = 2;
ALTER SYSTEM SET phoenix.kafka_max_restart_delay = 5;
SELECT pg_reload_conf();
SQL
wait_for 30 "SELECT current_setting('phoenix.kafka_max_restart_delay') = '5s'"
printf 'a\t{"n":1}\n' | kafka_produce beats
q -c "SELECT phoenix.create_subscription('beats', 'beats', 'beat', '$KAFKA_BOOTSTRAP')" >/dev/null
wait_for 60 "SELECT count(*) = 1 FROM phoenix.event_log WHERE source = 'kafka:beats'"

worker() { q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'phoenix kafka worker'
                  AND datname = current_database()" | head -1; }
now() { date +%s.%N; }
pid=$(worker); [ -n "$pid" ] || fail "no worker"
for want in 2 4 5 5; do
  start=$(now)
  kill -TERM "$pid"
  next=; deadline=$((SECONDS + 120))
  while [ $SECONDS -lt $deadline ]; do
    next=$(worker); [ -n "$next" ] && [ "$next" != "$pid" ] && break
    next=; sleep 0.05
  done
  [ -n "$next" ] || fail "no worker 120 s after SIGTERM"
  gap=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
  echo "restarted after ${gap}s (at least ${want}s wanted)"
  awk -v g="$gap" -v w="$want" 'BEGIN { exit !(g >= w) }' || fail "restarted after ${gap}s, before the ${want}s backoff"
  pid=$next
done
printf 'b\t{"n":2}\n' | kafka_produce beats
wait_for 60 "SELECT count(*) = 2 FROM phoenix.event_log WHERE source = 'kafka:beats'"
echo ok
