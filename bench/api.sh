#!/usr/bin/env bash
# bench/api.sh — the Universal API's cost: single-event emit through GraphQL
# (api/server.js, a writer's token, one HTTP request per event; keep-alive
# connections from bench/api_load.js) beside the same emit through SQL
# (pgbench, prepared statements), with 1 and 8 clients.  Ratios are taken
# within a run (GraphQL's rate over SQL's); medians over BENCH_RUNS runs of
# BENCH_SECONDS (default 10) each.  On a small machine the load generator,
# the API and PostgreSQL share the cores: the 8-client figures include that.
# The API process's own CPU per emit (user + system, from /proc) is printed
# too: it depends far less on what else the machine is doing than the rates.
set -euo pipefail
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-10}
ROOT=$PHOENIX_ROOT
PSQL=("$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -A -t)
. "$ROOT/scripts/lib.sh"        # free_port
. "$ROOT/scripts/bench_lib.sh"
DIR=$(mktemp -d /tmp/phoenix-bench-api.XXXXXX)
API_PID=
cleanup() {
  [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT

"${PSQL[@]}" >/dev/null <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('presence.detected', '{
  "type": "object",
  "required": ["readingId", "employeeId", "floorId", "detectedAt"],
  "properties": {
    "readingId":  {"type": "string"},
    "employeeId": {"type": "string", "minLength": 1, "maxLength": 64},
    "floorId":    {"type": "string", "pattern": "^F[0-9]+$"},
    "deviceId":   {"type": "string", "format": "uuid"},
    "detectedAt": {"type": "string", "format": "date-time"},
    "direction":  {"enum": ["in", "out"]},
    "confidence": {"type": "number", "minimum": 0, "maximum": 1}
  },
  "additionalProperties": false
}', time_field => 'detectedAt');
SQL

P='{"readingId":"R1","employeeId":"E42","floorId":"F7","deviceId":"c4ca4238-a0b9-2382-0dcc-509a6f75849b","detectedAt":"2026-11-23T09:00:00Z","direction":"in","confidence":0.93}'
echo "SELECT phoenix.emit('presence.detected', '$P'::jsonb);" >"$DIR/emit.sql"

SECRET=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
PORT=$(free_port)
DATABASE_URL="postgres://phoenix_api@127.0.0.1:$PGPORT/$PGDATABASE" PHOENIX_JWT_SECRET=$SECRET \
  PHOENIX_API_PORT=$PORT node "$ROOT/api/server.js" >"$DIR/server.log" 2>&1 &
API_PID=$!
for _ in $(seq 1 600); do
  grep -q 'listening on' "$DIR/server.log" && break
  kill -0 "$API_PID" 2>/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
  sleep 0.1
done
TOKEN=$(cd "$ROOT/api" && PHOENIX_JWT_SECRET=$SECRET node token.js phoenix_writer 2h)
URL="http://127.0.0.1:$PORT/graphql"

reset() { "${PSQL[@]}" -c "TRUNCATE phoenix.event_log, phoenix.event_ids" -c "CHECKPOINT"; }
sql_rate() { "$PGBIN/pgbench" -n -c "$1" -j "$1" -T "$SECS" -M prepared -f "$DIR/emit.sql" 2>/dev/null |
             sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1; }
api_rate() { node "$ROOT/bench/api_load.js" "$URL" "$TOKEN" "$1" "$SECS" "$P"; }
api_ticks() { awk '{print $14 + $15}' /proc/"$API_PID"/stat; }   # clock ticks of 10 ms

for c in 1 8; do
  sql_r=(); api_r=(); per_run=(); cpu_r=()
  for _ in $(seq 1 "$RUNS"); do
    reset; sql_r+=("$(sql_rate "$c")")
    reset; t0=$(api_ticks); api_r+=("$(api_rate "$c")"); t1=$(api_ticks)
    per_run+=("$(echo "${api_r[-1]} / ${sql_r[-1]}" | bc -l)")
    # api_load.js also runs an untimed 0.5 s warm-up: count its emits as if at the same rate
    cpu_r+=("$(echo "($t1 - $t0) * 10 / (${api_r[-1]} * ($SECS + 0.5))" | bc -l)")
  done
  sql_m=$(median_of "${sql_r[@]}"); api_m=$(median_of "${api_r[@]}")
  printf '%-44s %10.0f /s   %6.2f ms each\n' "emit through SQL, $c client(s) (baseline)" "$sql_m" \
         "$(echo "1000 * $c / $sql_m" | bc -l)"
  printf '%-44s %10.0f /s   %6.2f ms each   %.2f x SQL   (API process CPU %.2f ms per emit)\n' \
         "emit through GraphQL, $c client(s)" "$api_m" "$(echo "1000 * $c / $api_m" | bc -l)" \
         "$(median_of "${per_run[@]}")" "$(median_of "${cpu_r[@]}")"
done
