#!/usr/bin/env bash
# Exactly once under crashes: 100,000 messages, half produced before and half
# while the worker is SIGKILLed at random moments and the server is restarted
# in immediate mode, several times.  At the end every message is in the event
# log exactly once.  Two workers (phoenix.kafka_workers = 2) share the
# partitions, so crashes also land while they rebalance.  Runs its own cluster (the crashes would fail the shared
# one's log check).
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
cd "$PHOENIX_ROOT"
. scripts/lib.sh
TOTAL=${KAFKA_EO_MESSAGES:-100000}
unset PHOENIX_SANDBOX
cleanup() { kafka_mock_stop; sandbox_destroy; }
trap cleanup EXIT
sandbox_create
# small batches: many transactions, so the crashes land between and inside them
PHOENIX_EXTRA_CONF="phoenix.kafka_batch_size = 500
phoenix.kafka_workers = ${KAFKA_EO_WORKERS:-2}" cluster_start eo
kafka_mock_start eo:4
q() { "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*" >&2; tail -30 "$PHOENIX_SANDBOX/server.log" >&2; exit 1; }

q -q <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('eo.msg',
  schema => '{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}');
SQL
produce_range() { seq "$1" "$2" | awk '{ printf "k%d\t{\"n\":%d}\n", $1, $1 }' | kafka_produce eo; }
produce_range 1 $((TOTAL / 2))
q -c "SELECT phoenix.create_subscription('eo', 'eo', 'eo.msg', '$KAFKA_BOOTSTRAP',
        options => '{\"session.timeout.ms\": 6000, \"heartbeat.interval.ms\": 500}')" >/dev/null
# the rest arrives in slices while we crash things
( for s in 0 1 2 3 4; do
    lo=$((TOTAL / 2 + s * TOTAL / 10 + 1)); hi=$((TOTAL / 2 + (s + 1) * TOTAL / 10))
    produce_range $lo $hi; sleep 0.7
  done ) &
producer=$!

worker_pid() { q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'phoenix kafka worker'" 2>/dev/null | head -1; }
logged() { q -c "SELECT count(*) FROM phoenix.event_log WHERE source = 'kafka:eo'" 2>/dev/null || echo "?"; }
last=0
for round in 1 2 3 4 5 6; do
  # wait until the worker runs again and has made progress, then strike at random
  for _ in $(seq 1 600); do
    now=$(logged); pid=$(worker_pid)
    # (or everything is in already: the producer finished early on a busy machine)
    [ -n "$pid" ] && [ "$now" != "?" ] && { [ "$now" -gt "$last" ] || [ "$now" = "$TOTAL" ]; } && break
    sleep 0.1
  done
  [ -n "$pid" ] || fail "no worker in round $round"
  last=$now
  sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
  if [ $((round % 2)) = 1 ]; then
    echo "round $round: SIGKILL worker $pid at $(logged) events"
    kill -9 "$pid" || true
    sleep 1   # the postmaster restarts everything after a crash
    for _ in $(seq 1 100); do q -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
  else
    echo "round $round: immediate restart at $(logged) events"
    cluster_pg_ctl restart -m immediate || fail "restart"
  fi
done
wait "$producer"
for _ in $(seq 1 600); do
  [ "$(logged)" = "$TOTAL" ] && break
  sleep 0.5
done
echo "logged $(logged) of $TOTAL"
read -r n distinct lo hi < <(q -F ' ' -c "SELECT count(*), count(DISTINCT (payload->>'n')::int),
    min((payload->>'n')::int), max((payload->>'n')::int) FROM phoenix.event_log WHERE source = 'kafka:eo'")
[ "$n" = "$TOTAL" ] && [ "$distinct" = "$TOTAL" ] && [ "$lo" = 1 ] && [ "$hi" = "$TOTAL" ] ||
  fail "want $TOTAL messages once each, got $n rows, $distinct distinct, range $lo..$hi"
[ "$(q -c "SELECT count(*) FROM phoenix.dead_letters")" = 0 ] || fail "dead letters"
[ "$(q -c "SELECT sum(next_offset) FROM phoenix.kafka_offsets")" = "$TOTAL" ] || fail "stored offsets"
q -c "SELECT phoenix.drop_subscription('eo')" >/dev/null
echo ok
