#!/usr/bin/env bash
# bench/emit.sh — getting events in: 1M presence events through
#   ingest_csv   a server CSV file (header, id column → event_id)
#   emit_batch   100 calls of 10,000 events, the JSON text sent by the client
#                as a driver sends it (bench/send_params: a prepared statement,
#                the batch bound as its parameter), and, for comparison, as a
#                SQL literal in a simple-protocol statement (psql -f), which
#                the server must lex and copy first
# each validated, logged and idempotency-checked, beside the baseline
#   COPY         the same payloads as text into a plain jsonb table
# and single-row phoenix.emit from one pgbench client beside a plain
# single-row INSERT of the same payload into a jsonb table, both with the
# simple protocol (pgbench's default) and with prepared statements (-M
# prepared, as drivers do).
#
# The variants of a run go one after another, so each ratio is taken within
# a run; the figures quoted are medians over runs (ratios: median of the
# runs' ratios).  BENCH_ROWS (default 1,000,000), BENCH_RUNS runs,
# BENCH_SECONDS per pgbench run (default 10).
set -euo pipefail
ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-10}
BATCH=10000
PSQL=("$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -A -t)
DIR=$(mktemp -d /tmp/phoenix-bench-emit.XXXXXX)
chmod 777 "$DIR"
trap 'rm -rf "$DIR"' EXIT

"${PSQL[@]}" <<SQL
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('presence.detected', '{
  "type": "object",
  "required": ["readingId", "employeeId", "floorId", "detectedAt"],
  "properties": {
    "readingId":  {"type": "string"},
    "employeeId": {"type": "string", "minLength": 1, "maxLength": 64},
    "floorId":    {"type": "string", "pattern": "^F[0-9]+\$"},
    "deviceId":   {"type": "string", "format": "uuid"},
    "detectedAt": {"type": "string", "format": "date-time"},
    "direction":  {"enum": ["in", "out"]},
    "confidence": {"type": "number", "minimum": 0, "maximum": 1}
  },
  "additionalProperties": false
}', time_field => 'detectedAt');
CREATE TABLE src AS
SELECT i, 'R' || i AS reading_id, 'E' || (i % 5000) AS employee_id, 'F' || (i % 40) AS floor_id,
       md5(i::text)::uuid AS device_id,
       to_char(timestamptz '2026-11-23' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS detected_at,
       CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END AS direction,
       round((i % 100) / 100.0, 2) AS confidence
  FROM generate_series(1, $ROWS) i;
CREATE TABLE raw_jsonb (payload jsonb);
COPY (SELECT reading_id AS "readingId", employee_id AS "employeeId", floor_id AS "floorId",
             device_id AS "deviceId", detected_at AS "detectedAt", direction, confidence FROM src ORDER BY i)
  TO '$DIR/presence.csv' WITH (FORMAT csv, HEADER);
COPY (SELECT json_build_object('readingId', reading_id, 'employeeId', employee_id, 'floorId', floor_id,
             'deviceId', device_id, 'detectedAt', detected_at, 'direction', direction,
             'confidence', confidence)::text FROM src ORDER BY i)
  TO '$DIR/payloads.txt';
SQL
# emit_batch input: one statement per 10,000 events, sent as JSON text like COPY's
"${PSQL[@]}" -o "$DIR/batches.txt" -c "
SELECT jsonb_agg(jsonb_build_object('type', 'presence.detected', 'event_id', reading_id,
                 'payload', json_build_object('readingId', reading_id, 'employeeId', employee_id,
                            'floorId', floor_id, 'deviceId', device_id, 'detectedAt', detected_at,
                            'direction', direction, 'confidence', confidence)) ORDER BY i)
  FROM src GROUP BY (i - 1) / $BATCH ORDER BY (i - 1) / $BATCH"
# the same batches as simple-protocol statements with a literal each
sed "s/'/''/g; s/^/SELECT accepted FROM phoenix.emit_batch('/; s/\$/');/" "$DIR/batches.txt" >"$DIR/batches.sql"
make -s -C "$PHOENIX_ROOT" bench/send_params >/dev/null
cp "$PHOENIX_ROOT/bench/send_params" "$DIR/"   # a copy: a build elsewhere may clean the tree meanwhile
SEND_PARAMS=$DIR/send_params

reset() {
  "${PSQL[@]}" -c "TRUNCATE phoenix.event_log, phoenix.event_ids, phoenix.dead_letters, raw_jsonb" \
               -c "CHECKPOINT"
}
seconds() { # seconds <command...>: wall time of the command
  local t0 t1
  t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
. "$PHOENIX_ROOT/scripts/bench_lib.sh"
check_count() {
  local n
  n=$("${PSQL[@]}" -c "SELECT (SELECT count(*) FROM phoenix.event_log) + (SELECT count(*) FROM raw_jsonb)")
  [ "$n" = "$ROWS" ] || { echo "expected $ROWS rows, got $n" >&2; exit 1; }
  n=$("${PSQL[@]}" -c "SELECT count(*) FROM phoenix.dead_letters")
  [ "$n" = 0 ] || { echo "$n dead letters" >&2; exit 1; }
}

copy_t=(); csv_t=(); batch_t=(); literal_t=()
for run in $(seq 1 "$RUNS"); do
  reset; copy_t+=("$(seconds "${PSQL[@]}" -c "COPY raw_jsonb FROM '$DIR/payloads.txt'")"); check_count
  reset; csv_t+=("$(seconds "${PSQL[@]}" -c "SELECT * FROM phoenix.ingest_csv('presence.detected', '$DIR/presence.csv', id_field => 'readingId')")"); check_count
  reset; batch_t+=("$(seconds sh -c "'$SEND_PARAMS' 'SELECT accepted FROM phoenix.emit_batch(\$1)' <'$DIR/batches.txt'")"); check_count
  reset; literal_t+=("$(seconds "${PSQL[@]}" -f "$DIR/batches.sql")"); check_count
done
# per run: COPY's time over the variant's (the variant's rate as a fraction of COPY's)
ratios() { local i out=(); for i in "${!copy_t[@]}"; do out+=("$(echo "${copy_t[$i]} / $(eval echo "\${$1[$i]}")" | bc -l)"); done; median_of "${out[@]}"; }
rate() { echo "$ROWS / $(median_of "$@")" | bc; }
printf '%-44s %10s events/s\n' "COPY into jsonb table (baseline)" "$(rate "${copy_t[@]}")"
printf '%-44s %10s events/s   %.2f x COPY (target >= 0.5)\n' "ingest_csv (validate, log, ids)" "$(rate "${csv_t[@]}")" "$(ratios csv_t)"
printf '%-44s %10s events/s   %.2f x COPY (target >= 0.5)\n' "emit_batch x10,000, bound parameter" "$(rate "${batch_t[@]}")" "$(ratios batch_t)"
printf '%-44s %10s events/s   %.2f x COPY\n' "emit_batch x10,000, SQL literal (psql -f)" "$(rate "${literal_t[@]}")" "$(ratios literal_t)"

# single-row emit, one client
P='{"readingId":"R1","employeeId":"E42","floorId":"F7","deviceId":"c4ca4238-a0b9-2382-0dcc-509a6f75849b","detectedAt":"2026-11-23T09:00:00Z","direction":"in","confidence":0.93}'
echo "SELECT phoenix.emit('presence.detected', '$P');" >"$DIR/emit.sql"
echo "INSERT INTO raw_jsonb VALUES ('$P');" >"$DIR/insert.sql"
tps() { "$PGBIN/pgbench" -n -c 1 -j 1 -T "$SECS" -M "$1" -f "$2" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1; }
for mode in simple prepared; do
  emit_r=(); insert_r=(); per_run=()
  for run in $(seq 1 "$RUNS"); do
    reset; insert_r+=("$(tps $mode "$DIR/insert.sql")")
    reset; emit_r+=("$(tps $mode "$DIR/emit.sql")")
    per_run+=("$(echo "${emit_r[-1]} / ${insert_r[-1]}" | bc -l)")
  done
  printf '%-44s %10.0f /s\n' "single-row INSERT jsonb, $mode (baseline)" "$(median_of "${insert_r[@]}")"
  printf '%-44s %10.0f /s     %.2f x INSERT (target >= 10,000/s)\n' "single-row phoenix.emit, 1 client, $mode" \
         "$(median_of "${emit_r[@]}")" "$(median_of "${per_run[@]}")"
done
