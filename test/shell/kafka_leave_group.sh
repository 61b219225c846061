#!/usr/bin/env bash
# A subscription's consumer leaves its group when it stops — on SIGTERM (the
# worker exiting) and on pause (the worker dropping the consumer) — so that
# the other members take over its partitions at once rather than after the
# session timeout.  The mock cluster logs every LeaveGroup it receives.
# Leaving is bounded in time: with every broker down, SIGTERM still ends the
# worker promptly.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
KAFKA_MOCK_DEBUG=1 kafka_test_start leave:4
leaves() { grep -c 'is leaving group phoenix-leave' "$KAFKA_DIR/err" || true; }
wait_leaves() { # wait_leaves N: until the cluster has seen N LeaveGroups (30 s at most)
  local i
  for i in $(seq 1 300); do [ "$(leaves)" -ge "$1" ] && return 0; sleep 0.1; done
  return 1
}
worker_pid() {
  q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'phoenix kafka worker' AND datname = current_database()"
}
resume_and_join() { # resume the subscription and wait until its consumer has the partitions
  local t; t=$(q -c "SELECT now()")
  q -c "SELECT phoenix.resume_subscription('leaver')" >/dev/null
  wait_for 60 "SELECT cardinality(assigned) = 4 AND assigned_at > '$t'
                 FROM phoenix.kafka_subscription_state WHERE subscription = 'leaver'"
}

q -q -c "CREATE EXTENSION phoenix CASCADE" \
     -c "SELECT phoenix.create_event_type('leave.msg', schema => '{\"type\":\"object\"}')"
q -c "SELECT phoenix.create_subscription('leaver', 'leave', 'leave.msg', '$KAFKA_BOOTSTRAP', 'phoenix-leave',
        enabled => false)" >/dev/null
resume_and_join
[ "$(leaves)" = 0 ] || fail "a LeaveGroup before anything left"

# 1. SIGTERM: the worker leaves the group on its way out
pid=$(worker_pid)
kill -TERM "$pid"
wait_for 20 "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"
# the launcher restarts the worker; keep it out of the group until step 2
q -c "SELECT phoenix.pause_subscription('leaver')" >/dev/null
wait_leaves 1 || fail "the worker ended on SIGTERM without leaving its consumer group"

# 2. pause: the worker drops the consumer, which leaves the group
resume_and_join
n=$(leaves)
q -c "SELECT phoenix.pause_subscription('leaver')" >/dev/null
wait_leaves $((n + 1)) || fail "the paused subscription's consumer did not leave its group"

# 3. every broker down: the coordinator cannot be told, and SIGTERM still
#    ends the worker within the bound of the wait (5 s)
resume_and_join
kafka_cmd down -1
pid=$(worker_pid)
kill -TERM "$pid"
wait_for 15 "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid" ||
  fail "SIGTERM with the brokers down took too long"
kafka_cmd up -1
echo ok
