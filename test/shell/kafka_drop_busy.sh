#!/usr/bin/env bash
# drop_subscription while the worker is applying batches: the drop waits for
# the batch in flight instead of deadlocking with it (it used to delete the
# subscription's counters, which the batch updates after locking the
# offsets, then wait for those offsets: "deadlock detected" in one or the
# other).  A few rounds of create, consume for a moment, drop.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
kafka_test_start busy:8
# the server log from here on (the worker's side of a deadlock shows only there)
LOG=${PHOENIX_SANDBOX:+$PHOENIX_SANDBOX/server.log}
log_start=$( [ -n "$LOG" ] && wc -l <"$LOG" || echo 0)

q -q -c "CREATE EXTENSION phoenix CASCADE" \
     -c "SELECT phoenix.create_event_type('busy.msg', schema => '{\"type\":\"object\",\"required\":[\"n\"]}')"
seq 1 200000 | awk '{ printf "k%d\t{\"n\":%d}\n", $1, $1 }' |
  kcat -P -b "$KAFKA_BOOTSTRAP" -t busy -K $'\t' -X linger.ms=20 -X batch.num.messages=10000 \
       -X queue.buffering.max.messages=1000000

for round in 1 2 3 4 5; do
  q -c "SELECT phoenix.create_subscription('busy', 'busy', 'busy.msg', '$KAFKA_BOOTSTRAP', 'busy-$round')" >/dev/null
  wait_for 60 "SELECT coalesce(sum(committed_offset), 0) > 1000 FROM phoenix.subscription_status WHERE subscription = 'busy'"
  err=$(q -c "SELECT phoenix.drop_subscription('busy')" 2>&1 >/dev/null) || fail "round $round: drop_subscription failed: $err"
  [ "$(q -c "SELECT count(*) FROM phoenix.kafka_offsets WHERE group_id = 'busy-$round'")" = 0 ] ||
    fail "round $round: the group's offsets outlived the subscription"
done
if [ -n "$LOG" ] && grep -q 'deadlock detected' <(tail -n +"$((log_start + 1))" "$LOG"); then
  tail -n +"$((log_start + 1))" "$LOG" | grep -A3 'deadlock detected' >&2
  fail "the worker deadlocked with drop_subscription"
fi
echo ok
