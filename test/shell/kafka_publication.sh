#!/usr/bin/env bash
# Publishing a projection (story 2, future desk booking): the booking row is
# inserted in Room A, the Tuesday desk move updates it to Room B, Thursday's
# move to Room C does not touch it.  kcat reads the topic: the changes of the
# booking row, keyed by its event_id, in order, each with its outbox position
# in a header; forget and delete are published too.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
cleanup() {
  psql -X -q -c "SELECT phoenix.drop_publication(projection, topic) FROM phoenix.kafka_publications" >/dev/null 2>&1 || true
  kafka_mock_stop
}
trap cleanup EXIT
kafka_mock_start bookings:3
read_topic() {  # key|room|position|op, in partition order (one key = one partition)
  kcat -C -b "$KAFKA_BOOTSTRAP" -t bookings -e -q -Z \
    -f '%k|%s|%h\n' | sed -E 's/\|\{.*"desk_room":"?([^",]*)"?.*\}\|/|\1|/; s/phoenix-outbox-position=//; s/,phoenix-op=/|/'
}

q -q <<SQL
SET timezone = 'UTC';
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}');
SELECT phoenix.put('desk', 'D1', '{"room":"A"}', valid_from => '2026-11-01');
SELECT phoenix.create_event_type('desk.booked',
  schema => '{"type":"object","required":["deskId","bookedFor"],
              "properties":{"deskId":{"type":"string"},"bookedFor":{"type":"string","format":"date-time"}}}',
  time_field => 'bookedFor', refs => '{"deskId":"desk"}');
SELECT phoenix.create_projection('bookings', source => 'desk.booked',
  columns => '{"desk_id":"deskId"}',
  enrich => '[{"entity":"desk","key":"desk_id","attributes":{"room":"event_time"}}]');
SELECT phoenix.create_publication('bookings', 'bookings', '$KAFKA_BOOTSTRAP');
-- Monday: booked for Wednesday
SELECT phoenix.emit('desk.booked', '{"deskId":"D1","bookedFor":"2026-11-25T09:00:00Z"}', event_id => 'booking-1');
-- Tuesday: the desk moves to Room B; Thursday: to Room C
SELECT phoenix.put('desk', 'D1', '{"room":"B"}', valid_from => '2026-11-24');
SELECT phoenix.put('desk', 'D1', '{"room":"C"}', valid_from => '2026-11-26');
SQL
[ "$(q -c "SELECT desk_room FROM reporting.bookings WHERE event_id = 'booking-1'")" = B ] ||
  fail "the projection itself is wrong"
wait_for 30 "SELECT pending = 0 AND sent = 2 FROM phoenix.publication_status WHERE projection = 'bookings'"
got=$(read_topic)
echo "$got"
# two messages for the booking: inserted in A, updated to B, positions ascending
[ "$(cut -d'|' -f1,2,4 <<<"$got" | paste -sd' ')" = "booking-1|A|insert booking-1|B|update" ] ||
  fail "topic holds: $got"
p1=$(sed -n 1p <<<"$got" | cut -d'|' -f3); p2=$(sed -n 2p <<<"$got" | cut -d'|' -f3)
[ "$p1" -lt "$p2" ] || fail "outbox positions not ascending: $p1 $p2"

# a rolled-back change is never published
q -q -c "BEGIN" -c "SELECT phoenix.put('desk', 'D1', '{\"room\":\"Z\"}', valid_from => '2026-11-20')" -c "ROLLBACK"
# a second booking of the same desk, and the first one deleted
q -q -c "SELECT phoenix.emit('desk.booked', '{\"deskId\":\"D1\",\"bookedFor\":\"2026-11-27T09:00:00Z\"}', event_id => 'booking-2')"
q -q -c "DELETE FROM reporting.bookings WHERE event_id = 'booking-1'"
wait_for 30 "SELECT pending = 0 AND sent = 4 FROM phoenix.publication_status WHERE projection = 'bookings'"
got=$(read_topic)
echo "$got"
[ "$(grep -c . <<<"$got")" = 4 ] || fail "want 4 messages"
grep -q '^booking-2|C|[0-9]*|insert$' <<<"$got" || fail "second booking (Friday, Room C)"
grep -q '^booking-1|NULL|[0-9]*|delete$' <<<"$got" || fail "delete as a tombstone"
grep -q '|Z|' <<<"$got" && fail "rolled-back change published"

# brokers down: changes wait in the outbox and go when they are back
kafka_cmd down -1
before=$(q -c "SELECT clock_timestamp()")
q -q -c "SELECT phoenix.put('desk', 'D1', '{\"room\":\"D\"}', valid_from => '2026-11-27')"
# a positive signal: the publisher tried to send the change and failed
wait_for 90 "SELECT last_error_at > '$before' FROM phoenix.publication_status"
[ "$(q -c "SELECT pending FROM phoenix.publication_status")" = 1 ] || fail "outbox should hold the change"
kafka_cmd up -1
wait_for 60 "SELECT pending = 0 AND sent >= 5 FROM phoenix.publication_status WHERE projection = 'bookings'"
grep -q '^booking-2|D|[0-9]*|update$' <(read_topic) || fail "change made while brokers were down"

# errors
err=$(q -c "SELECT phoenix.create_publication('nosuch', 't', '$KAFKA_BOOTSTRAP')" 2>&1 || true)
grep -q 'projection "nosuch" does not exist' <<<"$err" || fail "unknown projection: $err"
err=$(q -c "SELECT phoenix.create_publication('bookings', 'bookings', '$KAFKA_BOOTSTRAP')" 2>&1 || true)
grep -q 'already published' <<<"$err" || fail "duplicate: $err"
q -q -c "SELECT phoenix.drop_publication('bookings', 'bookings')"
[ "$(q -c "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'phoenix_publish_%'")" = 0 ] || fail "triggers left"
echo ok
