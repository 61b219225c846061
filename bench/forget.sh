#!/usr/bin/env bash
# bench/forget.sh — what erasure costs.
#
#   emit, no tombstones (baseline)   emit_batch of N presence events
#   emit, tombstones, no match       the same in a twin database where 100 keys
#                                    were forgotten: each event's key is hashed
#                                    and looked up
#   emit, every event scrubbed       N events about forgotten keys (twin)
#   forget one key                   on a log of 2N events, beside one
#                                    sequential scan of that log (baseline)
# The two databases are measured in alternation, so their logs grow alike.
#
# BENCH_ROWS (default 20,000) events per batch; BENCH_RUNS runs, medians quoted.
set -euo pipefail
ROWS=${BENCH_ROWS:-20000}
RUNS=${BENCH_RUNS:-3}
PSQL=("$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -A -t)

setup() {
"${PSQL[@]}" -d "$1" >/dev/null <<SQL
CREATE EXTENSION phoenix CASCADE;
SET synchronous_commit = off;
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","email":"text"}', pii => '{name,email}');
SELECT count(phoenix.put('employee', 'E' || i,
                         jsonb_build_object('name', 'Person ' || i, 'email', 'p' || i || '@example.com'),
                         valid_from => '2026-01-01'))
  FROM generate_series(1, 2000) i;
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","detectedAt"],
                   "properties":{"employeeId":{"type":"string"},"badgeName":{"type":"string","x-pii":true},
                                 "detectedAt":{"type":"string","format":"date-time"}}}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee"}');
-- batch k: N events about employees [lo, hi]
CREATE TABLE batches AS
SELECT k, jsonb_agg(jsonb_build_object('type', 'presence.detected', 'payload',
         jsonb_build_object('employeeId', 'E' || (lo + i % (hi - lo + 1)),
                            'badgeName', 'Person ' || (lo + i % (hi - lo + 1)),
                            'detectedAt', to_char(timestamptz '2026-11-23' + i * interval '1 second',
                                                  'YYYY-MM-DD"T"HH24:MI:SS"Z"')))) AS b
  FROM (VALUES ('plain', 1, 1900), ('forgotten', 1901, 2000)) v(k, lo, hi), generate_series(1, $ROWS) i
 GROUP BY k;

CREATE FUNCTION bench_ms(q text, expect bigint) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz; n bigint;
BEGIN
  t0 := clock_timestamp();
  EXECUTE q INTO n;
  IF n IS DISTINCT FROM expect THEN RAISE EXCEPTION 'expected % rows, got % for %', expect, n, q; END IF;
  RETURN round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 1);
END \$\$;
-- a log to search: N events about the people to be forgotten, N about others
SELECT accepted FROM phoenix.emit_batch((SELECT b FROM batches WHERE k = 'forgotten'));
SELECT accepted FROM phoenix.emit_batch((SELECT b FROM batches WHERE k = 'plain'));
SQL
}
A=$PGDATABASE
B=${PGDATABASE}_tomb
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $B" -c "CREATE DATABASE $B"
trap '"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $B"' EXIT
setup "$A"
setup "$B"

. "$PHOENIX_ROOT/scripts/bench_lib.sh"
run() { # run <query> <expected count> → median ms over RUNS
  for _ in $(seq 1 "$RUNS"); do
    "${PSQL[@]}" -v q="$1" -v n="$2" <<<"SELECT bench_ms(:'q', :'n')"
  done | median
}

ms() { # ms <database> <query> <expected count>
  "${PSQL[@]}" -d "$1" -v q="$2" -v n="$3" <<<"SELECT bench_ms(:'q', :'n')"
}

logsize=$("${PSQL[@]}" -d "$B" <<<"SELECT count(*) FROM phoenix.event_log")
scan=$(for _ in $(seq 1 "$RUNS"); do
  ms "$B" "SELECT count(*) FROM phoenix.event_log WHERE payload IS NOT NULL" "$logsize"; done | median)
forget=$(for i in $(seq 1901 2000); do
  ms "$B" "SELECT count(*) FROM phoenix.forget('employee', 'E$i', reason => 'bench') f" 1; done | median)

EMIT_PLAIN="SELECT accepted FROM phoenix.emit_batch((SELECT b FROM batches WHERE k = 'plain'))"
EMIT_FORGOTTEN="SELECT accepted FROM phoenix.emit_batch((SELECT b FROM batches WHERE k = 'forgotten'))"
base=(); nomatch=(); scrubbed=()
for _ in $(seq 1 "$RUNS"); do
  base+=("$(ms "$A" "$EMIT_PLAIN" "$ROWS")")
  nomatch+=("$(ms "$B" "$EMIT_PLAIN" "$ROWS")")
  ms "$A" "$EMIT_FORGOTTEN" "$ROWS" >/dev/null      # keep the two logs alike
  scrubbed+=("$(ms "$B" "$EMIT_FORGOTTEN" "$ROWS")")
done
base=$(printf '%s\n' "${base[@]}" | median)
nomatch=$(printf '%s\n' "${nomatch[@]}" | median)
scrubbed=$(printf '%s\n' "${scrubbed[@]}" | median)
left=$("${PSQL[@]}" -d "$B" <<<"SELECT count(*) FROM phoenix.event_log WHERE payload->>'badgeName' ~ '^Person (19[0-9][1-9]|19[1-9]0|2000)$'")
[ "$left" = 0 ] || { echo "forget bench: $left events still name a forgotten person" >&2; exit 1; }

awk -v rows="$ROWS" -v b="$base" -v nm="$nomatch" -v sc="$scrubbed" -v f="$forget" -v s="$scan" -v nlog="$logsize" 'BEGIN {
  printf "forget: emit_batch of %d presence events, median of runs\n", rows
  printf "  no tombstones (baseline)         %9.1f ms  %8.0f /s\n", b, rows / b * 1000
  printf "  100 forgotten keys, no match     %9.1f ms  %8.0f /s   ratio %.2fx of baseline\n", nm, rows / nm * 1000, nm / b
  printf "  every event about a forgotten    %9.1f ms  %8.0f /s   ratio %.2fx of baseline\n", sc, rows / sc * 1000, sc / b
  printf "forget one key (median of 100) on a log of %d events\n", nlog
  printf "  one scan of the log (baseline)   %9.1f ms\n", s
  printf "  forget                           %9.1f ms  ratio %.2fx of one scan\n", f, f / s
}'
