#!/usr/bin/env bash
# Kafka subscriptions against the mock cluster (needs phoenix preloaded, as
# the test cluster has it): consumption into the event log exactly once,
# event type from a payload field or a header, bad messages dead-lettered
# with topic/partition/offset while consumption goes on, the status view,
# pause/resume, brokers down and up, a second group member (rebalance),
# every subscription paused (the workers exit).
# "Nothing happened" is only checked after a positive signal: a marker
# message on another topic (subscription "marks", same worker) produced after
# the messages in question has been applied.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
kafka_test_start badges:4 mixed:1 marks:1

q -q <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('badge.scanned',
  schema => '{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}');
SELECT phoenix.create_event_type('door.opened',
  schema => '{"type":"object","required":["door"],"properties":{"door":{"type":"string"},"type":{"type":"string"}}}');
SQL
q -c "SELECT phoenix.create_subscription('marks', 'marks', 'badge.scanned', '$KAFKA_BOOTSTRAP')" >/dev/null
marks=0
marker() { # a marker through the worker, waited for: everything produced before it has had its turn
  marks=$((marks + 1))
  printf 'm%d\t{"n":%d}\n' "$marks" "$marks" | kafka_produce marks
  wait_for 60 "SELECT count(*) = $marks FROM phoenix.event_log WHERE source = 'kafka:marks'"
}

# 1. 2000 messages over 4 partitions, a fixed event type
seq 1 2000 | awk '{ printf "k%d\t{\"n\":%d}\n", $1, $1 }' | kafka_produce badges
q -c "SELECT phoenix.create_subscription('badges', 'badges', 'badge.scanned', '$KAFKA_BOOTSTRAP',
        options => '{\"session.timeout.ms\": 6000, \"heartbeat.interval.ms\": 500}')" >/dev/null
wait_for 60 "SELECT count(*) = 2000 FROM phoenix.event_log WHERE source = 'kafka:badges'"
[ "$(q -c "SELECT count(DISTINCT payload->>'n') FROM phoenix.event_log WHERE source = 'kafka:badges'")" = 2000 ] ||
  fail "duplicates or losses in the first 2000"
[ "$(q -c "SELECT count(*) FROM phoenix.event_log WHERE source = 'kafka:badges'
            AND source_position !~ '^badges/[0-3]/[0-9]+$'")" = 0 ] || fail "source_position is not topic/partition/offset"
wait_for 10 "SELECT sum(committed_offset) = 2000 AND sum(accepted) = 2000 AND max(lag) = 0 AND count(*) = 4
               FROM phoenix.subscription_status WHERE subscription = 'badges'"
[ "$(q -c "SELECT count(*) FROM phoenix.subscription_status WHERE subscription = 'badges'
            AND high_watermark = committed_offset AND state = 'running'")" = 4 ] || fail "status view"

# 2. type from a payload field; every kind of bad message is dead-lettered and
#    consumption goes on past it
{
  printf 'a\t{"type":"door.opened","door":"A"}\n'
  printf 'b\tnot json\n'
  printf 'c\t{"type":"door.opened","door":5}\n'
  printf 'd\t{"type":"no.such.type","x":1}\n'
  printf 'e\t{"type":"door.opened","door":"%s"}\n' "$(head -c 300 /dev/zero | tr '\0' x)"
  printf 'f\t\n'
  printf 'g\t{"door":"no type field"}\n'
  printf 'h\t{"type":"door.opened","door":"H"}\n'
} | kcat -P -b "$KAFKA_BOOTSTRAP" -t mixed -K $'\t' -Z
q -c "SELECT phoenix.create_subscription('mixed', 'mixed', brokers => '$KAFKA_BOOTSTRAP',
        event_type_field => 'type', max_message_bytes => 200)" >/dev/null
wait_for 30 "SELECT count(*) = 8 FROM (SELECT source_position FROM phoenix.event_log WHERE source = 'kafka:mixed'
             UNION ALL SELECT source_position FROM phoenix.dead_letters WHERE source = 'kafka:mixed') x"
[ "$(q -c "SELECT string_agg(payload->>'door', ',' ORDER BY position) FROM phoenix.event_log WHERE source = 'kafka:mixed'")" = "A,H" ] ||
  fail "good messages around the bad ones"
got=$(q -c "SELECT string_agg(source_position, ',' ORDER BY split_part(source_position, '/', 3)::int)
             FROM phoenix.dead_letters WHERE source = 'kafka:mixed'")
[ "$got" = "mixed/0/1,mixed/0/2,mixed/0/3,mixed/0/4,mixed/0/5,mixed/0/6" ] || fail "dead letters at $got"
q -c "SELECT source_position, event_type, reason FROM phoenix.dead_letters WHERE source = 'kafka:mixed' ORDER BY 1"
[ "$(q -c "SELECT reason FROM phoenix.dead_letters WHERE source_position = 'mixed/0/4'")" = \
  "message of 332 bytes exceeds the limit of 200 bytes" ] || fail "oversized reason"
[ "$(q -c "SELECT reason FROM phoenix.dead_letters WHERE source_position = 'mixed/0/1'")" = \
  "message is not valid JSON" ] || fail "not JSON reason"
[ "$(q -c "SELECT reason FROM phoenix.dead_letters WHERE source_position = 'mixed/0/3'")" = \
  'unknown event type "no.such.type"' ] || fail "unknown type reason"
[ "$(q -c "SELECT reason FROM phoenix.dead_letters WHERE source_position = 'mixed/0/5'")" = \
  "message has no value (a tombstone)" ] || fail "null value reason"
wait_for 10 "SELECT accepted = 2 AND dead_lettered = 6 AND committed_offset = 8
               FROM phoenix.subscription_status WHERE subscription = 'mixed'"

# 3. type from a header, event id from a header (a repeat is not logged twice)
q -c "SELECT phoenix.pause_subscription('mixed')" >/dev/null
printf 'i\t{"door":"I"}\n' | kcat -P -b "$KAFKA_BOOTSTRAP" -t mixed -K $'\t' -H type=door.opened -H event_id=door-i
printf 'j\t{"door":"I"}\n' | kcat -P -b "$KAFKA_BOOTSTRAP" -t mixed -K $'\t' -H type=door.opened -H event_id=door-i
q -c "UPDATE phoenix.kafka_subscriptions SET event_type_header = 'type' WHERE name = 'mixed'" >/dev/null
marker
[ "$(q -c "SELECT count(*) FROM phoenix.event_log WHERE source = 'kafka:mixed'")" = 2 ] || fail "paused subscription consumed"
q -c "SELECT phoenix.resume_subscription('mixed')" >/dev/null
wait_for 30 "SELECT committed_offset = 10 FROM phoenix.subscription_status WHERE subscription = 'mixed'"
[ "$(q -c "SELECT count(*) FROM phoenix.event_log WHERE event_id = 'door-i'")" = 1 ] || fail "event id header"

# 3b. messages without the header got ids naming their log position (none in
# phoenix.event_ids); one sent back in the header is a repeat, and a made-up
# id of that form (another position) names no event: a dead letter
read -r gen payload < <(q -F ' ' -c "SELECT event_id, payload::text FROM phoenix.event_log
                                     WHERE source = 'kafka:mixed' AND event_id <> 'door-i' ORDER BY position LIMIT 1")
[[ "$gen" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab] ]] || fail "generated id $gen is not of the positional form"
[ "$(q -c "SELECT count(*) FROM phoenix.event_ids WHERE event_id = '$gen'")" = 0 ] || fail "generated id claimed"
if [ "${gen:17:1}" = f ]; then forged="${gen:0:17}e${gen:18}"; else forged="${gen:0:17}f${gen:18}"; fi
printf 'g\t%s\n' "$payload" | kcat -P -b "$KAFKA_BOOTSTRAP" -t mixed -K $'\t' -H type=door.opened -H event_id="$gen"
printf 'f\t%s\n' "$payload" | kcat -P -b "$KAFKA_BOOTSTRAP" -t mixed -K $'\t' -H type=door.opened -H event_id="$forged"
wait_for 30 "SELECT committed_offset = 12 FROM phoenix.subscription_status WHERE subscription = 'mixed'"
[ "$(q -c "SELECT count(*) FROM phoenix.event_log WHERE source = 'kafka:mixed'")" = 3 ] || fail "a repeat of a generated id logged again"
q -c "SELECT reason FROM phoenix.dead_letters WHERE source_position = 'mixed/0/11'" |
  grep -q 'has the form of the ids this database generates, but names no logged event' || fail "made-up generated id not refused"

# 4. brokers down: the error shows in the status view; up: everything arrives once
q -c "SELECT phoenix.pause_subscription('badges')" >/dev/null
seq 2001 3000 | awk '{ printf "k%d\t{\"n\":%d}\n", $1, $1 }' | kafka_produce badges
kafka_cmd down -1
q -c "SELECT phoenix.resume_subscription('badges')" >/dev/null
wait_for 30 "SELECT bool_or(last_error IS NOT NULL) FROM phoenix.subscription_status WHERE subscription = 'badges'"
kafka_cmd up -1
wait_for 90 "SELECT count(*) = 3000 FROM phoenix.event_log WHERE source = 'kafka:badges'"

# 5. a second member joins the group: partitions are shared, nothing twice
group=$(q -c "SELECT group_id FROM phoenix.kafka_subscriptions WHERE name = 'badges'")
q -c "SELECT phoenix.create_subscription('badges2', 'badges', 'badge.scanned', '$KAFKA_BOOTSTRAP', '$group',
        options => '{\"session.timeout.ms\": 6000, \"heartbeat.interval.ms\": 500}')" >/dev/null
for batch in 1 2 3 4 5; do
  seq $((3000 + (batch - 1) * 400 + 1)) $((3000 + batch * 400)) |
    awk '{ printf "k%d\t{\"n\":%d}\n", $1, $1 }' | kafka_produce badges
  sleep 0.5
done
wait_for 90 "SELECT count(*) = 5000 FROM phoenix.event_log WHERE source IN ('kafka:badges', 'kafka:badges2')"
wait_for 30 "SELECT count(*) = 2 FROM phoenix.kafka_subscription_state
               WHERE subscription IN ('badges', 'badges2') AND cardinality(assigned) > 0"
marker
[ "$(q -c "SELECT count(DISTINCT payload->>'n') || '/' || count(*) FROM phoenix.event_log
           WHERE source IN ('kafka:badges', 'kafka:badges2')")" = "5000/5000" ] || fail "rebalance lost or duplicated"
[ "$(q -c "SELECT count(*) FROM phoenix.event_log WHERE source = 'kafka:badges2'")" -gt 0 ] ||
  fail "the second member never consumed"
[ "$(q -c "SELECT sum(next_offset) FROM phoenix.kafka_offsets o JOIN phoenix.kafka_subscriptions s
           ON s.group_id = o.group_id AND s.topic = o.topic WHERE s.name = 'badges'")" = 5000 ] || fail "group offsets"

# 6. every subscription paused: the database's workers have nothing left to
#    consume and exit (the positive signal that the pause took effect: a
#    worker still holding a paused subscription stays); a message sent
#    meanwhile waits in Kafka and arrives once its subscription resumes
q -c "SELECT phoenix.pause_subscription(name) FROM phoenix.kafka_subscriptions" >/dev/null
wait_for 60 "SELECT count(*) = 0 FROM pg_stat_activity
               WHERE backend_type = 'phoenix kafka worker' AND datname = current_database()" ||
  fail "a worker went on with every subscription paused"
printf 'k9001\t{"n":9001}\n' | kafka_produce badges
[ "$(q -c "SELECT count(*) FROM phoenix.event_log WHERE payload->>'n' = '9001'")" = 0 ] ||
  fail "a paused subscription consumed"
q -c "SELECT phoenix.resume_subscription('badges')" >/dev/null
wait_for 60 "SELECT count(*) = 1 FROM phoenix.event_log WHERE source = 'kafka:badges' AND payload->>'n' = '9001'"
echo ok
