# test/kafka_lib.sh — helpers for Kafka shell tests and benchmarks (sourced).
#
#   kafka_mock_start [topic:partitions ...]   start test/kafka_mock (3 brokers),
#        export KAFKA_BOOTSTRAP; stopped by kafka_mock_stop (trap it).
#        KAFKA_MOCK_DEBUG=1: the cluster logs its debug lines to $KAFKA_DIR/err
#   kafka_cmd "down 2"        send a command to the mock cluster; fails on "error"
#   kafka_produce TOPIC       kcat producer reading "key<TAB>value" lines on stdin
#   kafka_count TOPIC         messages in a topic (consumed with kcat)
#   wait_for SECONDS SQL      poll until a query returns 't'
#   kafka_test_start [topic:partitions ...]  a subscription test's set-up: q (psql
#        returning bare values), fail, and an EXIT trap that drops every
#        subscription (stopping the worker) before stopping the mock cluster
KAFKA_ROOT=${PHOENIX_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

kafka_mock_start() {
  make -s -C "$KAFKA_ROOT" kafka_mock >/dev/null || { echo "cannot build kafka_mock" >&2; return 1; }
  KAFKA_DIR=$(mktemp -d /tmp/phoenix-kafka.XXXXXX)
  mkfifo "$KAFKA_DIR/control"
  local args=() t
  for t in "$@"; do args+=(-t "$t"); done
  [ -n "${KAFKA_MOCK_DEBUG:-}" ] && args+=(-d)
  "$KAFKA_ROOT/test/kafka_mock" -o "$KAFKA_DIR/addr" -c "$KAFKA_DIR/control" "${args[@]}" \
    >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" &
  KAFKA_MOCK_PID=$!
  for _ in $(seq 1 100); do
    [ -s "$KAFKA_DIR/addr" ] && break
    kill -0 "$KAFKA_MOCK_PID" 2>/dev/null || { cat "$KAFKA_DIR/err" >&2; return 1; }
    sleep 0.05
  done
  KAFKA_BOOTSTRAP=$(cat "$KAFKA_DIR/addr")
  export KAFKA_BOOTSTRAP KAFKA_DIR KAFKA_MOCK_PID
}

kafka_mock_stop() {
  [ -n "${KAFKA_MOCK_PID:-}" ] && kill "$KAFKA_MOCK_PID" 2>/dev/null && wait "$KAFKA_MOCK_PID" 2>/dev/null
  [ -n "${KAFKA_DIR:-}" ] && rm -rf "$KAFKA_DIR"
  KAFKA_MOCK_PID=
}

kafka_cmd() {
  local before after
  before=$(wc -l <"$KAFKA_DIR/out")
  echo "$*" >"$KAFKA_DIR/control"
  for _ in $(seq 1 100); do
    after=$(wc -l <"$KAFKA_DIR/out")
    [ "$after" -gt "$before" ] && break
    sleep 0.02
  done
  local answer; answer=$(tail -n 1 "$KAFKA_DIR/out")
  [ "$answer" = ok ] || { echo "kafka_mock: $* -> $answer" >&2; return 1; }
}

kafka_produce() {
  kcat -P -b "$KAFKA_BOOTSTRAP" -t "$1" -K $'\t' -X linger.ms=5 -X batch.num.messages=10000
}

kafka_count() {
  kcat -C -b "$KAFKA_BOOTSTRAP" -t "$1" -e -q -f 'x\n' 2>/dev/null | wc -l
}

wait_for() {
  local secs=$1 sql=$2 i
  for i in $(seq 1 $((secs * 10))); do
    [ "$(psql -X -At -c "$sql" 2>/dev/null)" = t ] && return 0
    sleep 0.1
  done
  echo "timed out after ${secs}s waiting for: $sql" >&2
  return 1
}

q() { psql -X -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

kafka_subscriptions_cleanup() {
  psql -X -q -c "SELECT phoenix.drop_subscription(name) FROM phoenix.kafka_subscriptions" >/dev/null 2>&1 || true
  kafka_mock_stop
}

kafka_test_start() {
  trap kafka_subscriptions_cleanup EXIT
  kafka_mock_start "$@"
}
