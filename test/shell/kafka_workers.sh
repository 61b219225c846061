#!/usr/bin/env bash
# phoenix.kafka_workers = 2: two workers per database, both members of the
# subscription's consumer group, each applying its own partitions (one
# stopped with SIGSTOP holds back only its partitions while the other's go
# on); lowering the setting stops the second worker, whose partitions move
# to the first.  Every message is logged exactly once throughout.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
stopped=
restore() {
  [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
  psql -X -q -c "ALTER SYSTEM RESET phoenix.kafka_workers" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
  kafka_subscriptions_cleanup
}
trap restore EXIT
kafka_mock_start spread:4

q -q <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('spread.msg', schema => '{"type":"object","required":["n"]}');
ALTER SYSTEM SET phoenix.kafka_workers = 2;
SELECT pg_reload_conf();
SQL
workers() { q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'phoenix kafka worker'
                   AND datname = current_database() ORDER BY backend_start"; }
produce_range() { seq "$1" "$2" | awk '{ printf "k%d\t{\"n\":%d}\n", $1, $1 }' | kafka_produce spread; }
committed() { q -c "SELECT coalesce(sum(committed_offset), 0) FROM phoenix.subscription_status WHERE subscription = 'spread'"; }
check_once() {
  [ "$(q -c "SELECT count(*) = $1 AND count(DISTINCT payload->>'n') = $1 FROM phoenix.event_log
             WHERE source = 'kafka:spread'")" = t ] || fail "not every message once: $(q -c "SELECT count(*), count(DISTINCT payload->>'n') FROM phoenix.event_log")"
}

produce_range 1 4000
# A session timeout long enough that the member stopped below keeps its
# partitions, and no longer: the mock cluster's coordinator (librdkafka
# 2.0's rdkafka_mock_cgrp.c) waits session.timeout.ms - 1 s for members to
# rejoin whenever one joins or leaves a group that is up, even once all have
# rejoined (a real broker moves on then).  With 60 s, a second worker that
# joined after the first one's initial join froze the group for 59 s, longer
# than the wait below on a loaded machine.
q -c "SELECT phoenix.create_subscription('spread', 'spread', 'spread.msg', '$KAFKA_BOOTSTRAP',
        options => '{\"session.timeout.ms\": 20000, \"heartbeat.interval.ms\": 500}')" >/dev/null
wait_for 60 "SELECT count(*) = 4000 FROM phoenix.event_log WHERE source = 'kafka:spread'"
wait_for 30 "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'phoenix kafka worker' AND datname = current_database()"
# both in the group: an assignment of two of the four partitions was recorded
wait_for 60 "SELECT cardinality(assigned) = 2 FROM phoenix.kafka_subscription_state WHERE subscription = 'spread'"
check_once 4000

# one worker stopped: the other's partitions go on, the stopped one's wait
stopped=$(workers | head -1)
kill -STOP "$stopped"
q -q -c "CREATE TABLE before_stop AS SELECT partition, committed_offset FROM phoenix.subscription_status
          WHERE subscription = 'spread'"
produce_range 4001 8000
# a positive signal, not a pause: the running worker has drained its two
# partitions (each committed up to its high watermark, past where it was)
wait_for 60 "SELECT count(*) = 2 FROM phoenix.subscription_status s JOIN before_stop b USING (partition)
               WHERE s.subscription = 'spread' AND s.committed_offset > b.committed_offset
                 AND s.committed_offset = s.high_watermark"
held=$(committed)
[ "$held" -lt 8000 ] || fail "one worker applied every partition while the other was stopped"
echo "with one worker stopped: $held of 8000 committed"
kill -CONT "$stopped"; stopped=
wait_for 60 "SELECT sum(committed_offset) = 8000 FROM phoenix.subscription_status WHERE subscription = 'spread'"
check_once 8000

# back to one worker: the second stops, the first takes over its partitions
q -q -c "ALTER SYSTEM SET phoenix.kafka_workers = 1" -c "SELECT pg_reload_conf()"
wait_for 30 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'phoenix kafka worker' AND datname = current_database()"
produce_range 8001 12000
wait_for 90 "SELECT sum(committed_offset) = 12000 FROM phoenix.subscription_status WHERE subscription = 'spread'"
check_once 12000
echo ok
