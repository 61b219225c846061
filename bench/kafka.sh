#!/usr/bin/env bash
# bench/kafka.sh — 1M messages from the mock Kafka cluster into the event log
# (validated against the schema, logged, offsets stored in the same
# transactions) by a subscription, beside the pipeline
#   kcat -C ... | psql -c "COPY bench_copy FROM STDIN"
# of the same messages (no validation, no offsets) in the same run, with
# phoenix.kafka_workers = 1 and 2 (KAFKA_BENCH_WORKERS): the workers share the
# topic's 32 partitions through the consumer group.
# Target: faster than the pipeline and >= 100,000 messages/s.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
N=${KAFKA_BENCH_MESSAGES:-1000000}
RUNS=${BENCH_RUNS:-3}
WORKERS=(${KAFKA_BENCH_WORKERS:-1 2})
cleanup() {
  psql -X -q -c "SELECT phoenix.drop_subscription(name) FROM phoenix.kafka_subscriptions" >/dev/null 2>&1 || true
  psql -X -q -c "ALTER SYSTEM RESET phoenix.kafka_workers" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
  kafka_mock_stop
}
trap cleanup EXIT
# the mock cluster keeps about 5 MB per partition: 32 partitions hold 1M messages
kafka_mock_start bench:32
q() { psql -X -At -v ON_ERROR_STOP=1 "$@"; }
now_ms() { date +%s%3N; }

q -q <<'SQL'
CREATE EXTENSION IF NOT EXISTS phoenix CASCADE;
SELECT phoenix.create_event_type('badge.scanned', schema => '{"type":"object",
  "required":["n","badge","floor","at"], "additionalProperties": false,
  "properties":{"n":{"type":"integer"},"badge":{"type":"string","maxLength":16},
                "floor":{"type":"string"},"at":{"type":"string","format":"date-time"}}}');
CREATE TABLE bench_copy (payload jsonb);
SQL

t0=$(now_ms)
seq 1 "$N" | awk '{ printf "b%d\t{\"n\":%d,\"badge\":\"B%05d\",\"floor\":\"F%d\",\"at\":\"2026-11-27T10:%02d:%02dZ\"}\n",
                   $1 % 5000, $1, $1 % 50000, $1 % 12, ($1 / 60) % 60, $1 % 60 }' |
  kcat -P -b "$KAFKA_BOOTSTRAP" -t bench -K $'\t' -X linger.ms=50 -X batch.num.messages=100000 \
       -X queue.buffering.max.messages=2000000 -X compression.codec=none
echo "produced $N messages in $(( $(now_ms) - t0 )) ms"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# CPU (user + system, all threads) of processes, in ms
TICK=$(getconf CLK_TCK)
cpu_ms() { local p t=0; for p in "$@"; do t=$((t + $(awk -v t="$TICK" '{ print int(($14 + $15) * 1000 / t) }' "/proc/$p/stat"))); done; echo $t; }
# of that, the workers' main threads (the appliers; the rest is librdkafka's
# threads), and how long the main threads waited in the kernel's run queue
# for a core (/proc/<pid>/task/<pid>/schedstat: on CPU, waiting, in ns)
main_ms() { local p t=0; for p in "$@"; do t=$((t + $(awk '{ print int($1 / 1000000) }' "/proc/$p/task/$p/schedstat"))); done; echo $t; }
runq_ms() { local p t=0; for p in "$@"; do t=$((t + $(awk '{ print int($2 / 1000000) }' "/proc/$p/task/$p/schedstat"))); done; echo $t; }
worker_pids() { q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'phoenix kafka worker' AND datname = current_database()"; }
declare -A phx phx_cpu phx_first phx_rate phx_main phx_runq phx_sleep
pipe=(); pipe_cpu=()
for run in $(seq 1 "$RUNS"); do
  for w in "${WORKERS[@]}"; do
    # every run starts from an empty log and id index (the ids of earlier
    # runs would make later runs' index deeper)
    q -q -c "TRUNCATE phoenix.event_log, phoenix.event_ids, bench_copy" -c "CHECKPOINT"
    q -q -c "ALTER SYSTEM SET phoenix.kafka_workers = $w" -c "SELECT pg_reload_conf()" >/dev/null
    # fresh workers per run, so that their CPU time is this run's
    until [ -z "$(worker_pids)" ]; do sleep 0.05; done
    # Phoenix: a fresh subscription (its own group) reads the topic from the start
    t0=$(now_ms)
    q -c "SELECT phoenix.create_subscription('bench_${run}_$w', 'bench', 'badge.scanned', '$KAFKA_BOOTSTRAP')" >/dev/null
    until [ "$(q -c "SELECT coalesce(sum(committed_offset), 0) FROM phoenix.subscription_status
                      WHERE subscription = 'bench_${run}_$w'")" = "$N" ]; do sleep 0.05; done
    ms=$(( $(now_ms) - t0 ))
    pids=($(worker_pids))
    cpu=$(cpu_ms "${pids[@]}"); main=$(main_ms "${pids[@]}"); runq=$(runq_ms "${pids[@]}")
    [ "$(q -c "SELECT count(*) FROM phoenix.event_log WHERE source = 'kafka:bench_${run}_$w'")" = "$N" ] ||
      { echo "event log incomplete:"; q -c "SELECT source, count(*) FROM phoenix.event_log GROUP BY 1"
        q -c "SELECT reason, count(*) FROM phoenix.dead_letters GROUP BY 1"; exit 1; }
    # where the wall time went: until the first batch (worker start, group
    # join: the broker waits group.initial.rebalance.delay.ms, 3 s, for more
    # members), then the rate from the first batch's commit to the last's
    read -r first rate < <(q -F ' ' -c "SELECT round(extract(epoch FROM min(received_at) - s.created_at) * 1000),
        round((count(*) FILTER (WHERE received_at > min_at)) / greatest(extract(epoch FROM max(received_at) - min_at), 0.001))
        FROM phoenix.event_log, phoenix.kafka_subscriptions s,
             LATERAL (SELECT min(received_at) AS min_at FROM phoenix.event_log WHERE source = 'kafka:bench_${run}_$w') m
        WHERE source = 'kafka:bench_${run}_$w' AND s.name = 'bench_${run}_$w' GROUP BY s.created_at, min_at")
    q -c "SELECT phoenix.drop_subscription('bench_${run}_$w')" >/dev/null
    phx[$w]+="$ms "; phx_cpu[$w]+="$cpu "; phx_first[$w]+="$first "; phx_rate[$w]+="$rate "
    # the rest of the appliers' wall time they slept (the group join, and
    # any wait for fetches between batches)
    asleep=$(( ${#pids[@]} * ms - main - runq ))
    phx_main[$w]+="$main "; phx_runq[$w]+="$runq "; phx_sleep[$w]+="$asleep "
    echo "run $run: phoenix with $w worker(s) (${#pids[@]} running) ${ms} ms (CPU ${cpu} ms, of which appliers ${main} ms; appliers waited ${runq} ms for a core and slept ${asleep} ms; first batch after ${first} ms, then ${rate} msg/s)"
  done

  # baseline: kcat into COPY, same messages, same database; its CPU is
  # kcat's and psql's (bash's times) plus the COPY backend's (its /proc)
  t0=$(now_ms)
  TIMEFORMAT='%3U %3S'
  { time { kcat -C -b "$KAFKA_BOOTSTRAP" -t bench -e -q -f '%s\n' -X fetch.wait.max.ms=10 |
      psql -X -q -At -c "COPY bench_copy (payload) FROM STDIN" \
        -c "SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
              FROM pg_read_file('/proc/self/stat') s" >"$KAFKA_DIR/backend_ticks"; } ; } 2>"$KAFKA_DIR/client_cpu"
  ms2=$(( $(now_ms) - t0 ))
  [ "$(q -c "SELECT count(*) FROM bench_copy")" = "$N" ] || { echo "COPY incomplete"; exit 1; }
  cpu2=$(awk -v t="$TICK" -v b="$(cat "$KAFKA_DIR/backend_ticks")" '{ print int(($1 + $2) * 1000 + b * 1000 / t) }' "$KAFKA_DIR/client_cpu")
  pipe+=("$ms2"); pipe_cpu+=("$cpu2")
  echo "run $run: kcat|COPY ${ms2} ms (CPU ${cpu2} ms)"
done
b=$(printf '%s\n' "${pipe[@]}" | median); bc=$(printf '%s\n' "${pipe_cpu[@]}" | median)
awk -v n="$N" -v b="$b" -v bc="$bc" 'BEGIN {
  printf "kcat -C | psql COPY (baseline):  %d msg in %d ms = %.0f msg/s; CPU %.1f us/msg (kcat + psql + backend)\n", n, b, n * 1000 / b, bc * 1000 / n }'
for w in "${WORKERS[@]}"; do
  p=$(printf '%s\n' ${phx[$w]} | median); pc=$(printf '%s\n' ${phx_cpu[$w]} | median)
  f=$(printf '%s\n' ${phx_first[$w]} | median); r=$(printf '%s\n' ${phx_rate[$w]} | median)
  pm=$(printf '%s\n' ${phx_main[$w]} | median); pq=$(printf '%s\n' ${phx_runq[$w]} | median)
  ps=$(printf '%s\n' ${phx_sleep[$w]} | median)
  awk -v n="$N" -v p="$p" -v b="$b" -v pc="$pc" -v bc="$bc" -v w="$w" -v f="$f" -v r="$r" -v pm="$pm" -v pq="$pq" -v ps="$ps" 'BEGIN {
    printf "kafka subscription -> event log, %d worker(s): %d msg in %d ms = %.0f msg/s (validated, logged, offsets committed); CPU %.1f us/msg\n", w, n, p, n * 1000 / p, pc * 1000 / n
    printf "  of which: first batch after %d ms (group join), then %.0f msg/s (%.2fx the pipeline)\n", f, r, r * b / (n * 1000)
    printf "  CPU: appliers %.1f us/msg, librdkafka threads %.1f us/msg; the appliers (in all) ran %d ms, waited %d ms in the run queue for a core, slept %d ms\n", pm * 1000 / n, (pc - pm) * 1000 / n, pm, pq, ps
    printf "  ratio (phoenix / pipeline): %.2fx by wall clock (target > 1 and >= 100,000 msg/s), %.2fx by CPU per message\n", b / p, bc / pc }'
done
