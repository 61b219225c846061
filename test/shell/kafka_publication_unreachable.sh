#!/usr/bin/env bash
# A publication whose brokers never answer does not stall the worker's
# subscriptions (issue 17, item 9): its outbox waits, its error shows in
# publication_status, and a subscription of the same database keeps
# ingesting round after round.  phoenix.kafka_timeout is an hour here, so a
# worker that waited for the dead brokers' acknowledgements would ingest
# nothing for an hour.  Then the brokers come back (the publication is
# moved to the live cluster) and the outbox drains.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
kafka_test_start live:2 published:1
db=$(q -c "SELECT current_database()")
cleanup_pub() {
  psql -X -q -c "SELECT phoenix.drop_publication(projection, topic) FROM phoenix.kafka_publications" >/dev/null 2>&1 || true
  kafka_subscriptions_cleanup
}
trap cleanup_pub EXIT
# a port nothing listens on
dead=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

q -q -c "ALTER DATABASE \"$db\" SET phoenix.kafka_timeout = '1h'"
q -q <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('tick.seen',
  schema => '{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}');
SELECT phoenix.create_projection('ticks', source => 'tick.seen', columns => '{"n":"n"}');
SQL
q -q -c "SELECT phoenix.create_publication('ticks', 'published', '$dead')"
q -q -c "SELECT phoenix.emit('tick.seen', '{\"n\": 0}')"
# the worker has started on the publication (it holds a change it cannot send)
wait_for 30 "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'phoenix kafka worker'
               AND datname = current_database()"
q -q -c "SELECT phoenix.create_subscription('live', 'live', 'tick.seen', '$KAFKA_BOOTSTRAP')"
for round in 1 2 3; do
  seq $((round * 100 + 1)) $((round * 100 + 100)) | awk '{ printf "k%d\t{\"n\":%d}\n", $1, $1 }' | kafka_produce live
  wait_for 60 "SELECT count(*) = $((round * 100)) FROM phoenix.event_log WHERE source = 'kafka:live'" ||
    fail "round $round: the subscription stalled behind the dead publication"
done
[ "$(q -c "SELECT pending > 0 FROM phoenix.publication_status WHERE projection = 'ticks'")" = t ] ||
  fail "the dead publication cannot have sent anything"

# the brokers answer again: everything waiting is sent, once acknowledged
q -q -c "UPDATE phoenix.kafka_publications SET brokers = '$KAFKA_BOOTSTRAP' WHERE projection = 'ticks'"
wait_for 90 "SELECT pending = 0 AND sent = 301 FROM phoenix.publication_status WHERE projection = 'ticks'"
[ "$(kafka_count published)" -ge 301 ] || fail "topic holds $(kafka_count published) messages"
echo ok
