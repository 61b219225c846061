#!/usr/bin/env bash
# bench/series.sh — booking series (issue 15) beside the same work done with
# single events, in the same run (medians of BENCH_RUNS runs):
#  (a) one emit_batch of 10,000 series of 5 daily occurrences (50,000 rows:
#      libical expansion, occurrence rows through the arrival path)  vs  one
#      emit_batch of the same 50,000 occurrences as single booking events
#  (b) a late room move touching 1,000 occurrence rows (200 series)  vs  the
#      same move touching 1,000 single-event rows (the cascade)
#  (c) an amendment of 1,000 series (skip one day each: 1,000 rows deleted,
#      4,000 kept untouched)  vs  nothing comparable: reported per series
# Both projections enrich the same way (desk room as of the booking, the
# employee's current name).  Figures are the backend's own CPU time (from
# /proc, user + system) per statement, and the wall clock around it.
set -euo pipefail
runs=${BENCH_RUNS:-3}
PSQL="$PGBIN/psql -X -q -v ON_ERROR_STOP=1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../scripts/bench_lib.sh"   # median, ratio, backend_cpu_us

$PSQL -v runs="$runs" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS phoenix CASCADE;
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text"}');
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}');
SELECT phoenix.create_event_type('desk.series',
  schema => '{"type":"object","properties":{"seriesId":{"type":"string"},"employeeId":{"type":"string"},
              "deskId":{"type":"string"},"firstDay":{"type":"string","format":"date-time"},
              "rrule":{"type":"string"},"tz":{"type":"string"},"skip":{"type":"array"}}}',
  time_field => 'firstDay', recurrence => '{"rule":"rrule","timezone":"tz","except":"skip","series":"seriesId"}');
SELECT phoenix.create_event_type('desk.booked',
  schema => '{"type":"object","properties":{"employeeId":{"type":"string"},"deskId":{"type":"string"},
              "bookedFor":{"type":"string","format":"date-time"}}}', time_field => 'bookedFor');
SELECT phoenix.put('employee', 'E' || i, jsonb_build_object('name', 'Name ' || i), '2025-01-01')
  FROM generate_series(0, 4999) i;
SELECT phoenix.put('desk', d, '{"room":"Room A"}', '2025-01-01')
  FROM (SELECT 'D' || i AS d FROM generate_series(0, 1999) i UNION ALL VALUES ('DS'), ('DE')) x;
SELECT phoenix.create_projection('series_rows', source => 'desk.series',
  columns => '{"employee_id":"employeeId","desk_id":"deskId"}',
  enrich => '[{"entity":"desk","key":"desk_id","attributes":{"room":"event_time"}},
              {"entity":"employee","key":"employee_id","attributes":{"name":"current"}}]');
SELECT phoenix.create_projection('single_rows', source => 'desk.booked',
  columns => '{"employee_id":"employeeId","desk_id":"deskId"}',
  enrich => '[{"entity":"desk","key":"desk_id","attributes":{"room":"event_time"}},
              {"entity":"employee","key":"employee_id","attributes":{"name":"current"}}]');
-- 200 series and 1,000 single bookings on the desks the room moves touch
SELECT phoenix.emit_batch((SELECT jsonb_agg(jsonb_build_object('type', 'desk.series', 'payload', jsonb_build_object(
         'seriesId', 'M' || i, 'employeeId', 'E' || i, 'deskId', 'DS',
         'firstDay', to_char((timestamp '2026-03-02 09:00' + (i % 20) * interval '1 day') AT TIME ZONE 'America/New_York' AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'tz', 'America/New_York', 'rrule', 'FREQ=DAILY;COUNT=5'))) FROM generate_series(1, 200) i));
SELECT phoenix.emit_batch((SELECT jsonb_agg(jsonb_build_object('type', 'desk.booked', 'payload', jsonb_build_object(
         'employeeId', 'E' || i, 'deskId', 'DE', 'bookedFor', o.occurrence_at)))
    FROM generate_series(1, 200) i,
         phoenix.recurrence_occurrences('FREQ=DAILY;COUNT=5', (timestamp '2026-03-02 09:00' + (i % 20) * interval '1 day')
                                        AT TIME ZONE 'America/New_York', 'America/New_York') o));
-- the batches, built beforehand (run r uses its own series)
CREATE TABLE batch_series (run int, b text);
CREATE TABLE batch_single (run int, b text);
CREATE TABLE batch_amend (run int, b text);
INSERT INTO batch_series SELECT r, jsonb_agg(jsonb_build_object('type', 'desk.series', 'payload', jsonb_build_object(
         'seriesId', 'R' || r || '-' || i, 'employeeId', 'E' || i % 5000, 'deskId', 'D' || i % 2000,
         'firstDay', to_char((timestamp '2026-03-02 09:00' + (i % 20) * interval '1 day') AT TIME ZONE 'America/New_York' AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'tz', 'America/New_York', 'rrule', 'FREQ=DAILY;COUNT=5')))::text
  FROM generate_series(1, :runs) r, generate_series(1, 10000) i GROUP BY r;
INSERT INTO batch_single SELECT r, jsonb_agg(jsonb_build_object('type', 'desk.booked', 'payload', jsonb_build_object(
         'employeeId', 'E' || i % 5000, 'deskId', 'D' || i % 2000, 'bookedFor', o.occurrence_at)))::text
  FROM generate_series(1, :runs) r, generate_series(1, 10000) i,
       phoenix.recurrence_occurrences('FREQ=DAILY;COUNT=5', (timestamp '2026-03-02 09:00' + (i % 20) * interval '1 day')
                                      AT TIME ZONE 'America/New_York', 'America/New_York') o
 GROUP BY r;
INSERT INTO batch_amend SELECT r, jsonb_agg(jsonb_build_object('type', 'desk.series', 'payload', jsonb_build_object(
         'seriesId', 'R' || r || '-' || i, 'employeeId', 'E' || i % 5000, 'deskId', 'D' || i % 2000,
         'firstDay', to_char((timestamp '2026-03-02 09:00' + (i % 20) * interval '1 day') AT TIME ZONE 'America/New_York' AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'tz', 'America/New_York', 'rrule', 'FREQ=DAILY;COUNT=5',
         'skip', jsonb_build_array(to_char(date '2026-03-04' + (i % 20), 'YYYY-MM-DD')))))::text
  FROM generate_series(1, :runs) r, generate_series(1, 1000) i GROUP BY r;
VACUUM ANALYZE;
SQL

# one_statement <sql>: "wall_seconds cpu_us" of the statement alone
one_statement() {
  printf '%s\n' "$1" >"$tmp/stmt.sql"
  local t0 t1 cpu
  t0=$(date +%s.%N)
  cpu=$(backend_cpu_us "$tmp/stmt.sql" 1)
  t1=$(date +%s.%N)
  printf '%s %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')" "$cpu"
}
declare -A wall cpu
for r in $(seq 1 "$runs"); do
  for what in series single; do
    read -r w c < <(one_statement "SELECT * FROM phoenix.emit_batch((SELECT b FROM batch_$what WHERE run = $r));")
    wall[a_$what]+="$w "; cpu[a_$what]+="$c "
  done
  for what in S E; do
    read -r w c < <(one_statement "SELECT phoenix.put('desk', 'D$what', '{\"room\":\"Room $r\"}', '2026-02-01');")
    wall[b_$what]+="$w "; cpu[b_$what]+="$c "
  done
  read -r w c < <(one_statement "SELECT * FROM phoenix.emit_batch((SELECT b FROM batch_amend WHERE run = $r));")
  wall[c]+="$w "; cpu[c]+="$c "
done
m() { median_of ${1}; }
check=$($PSQL -At -c "SELECT (SELECT count(*) FROM reporting.series_rows WHERE desk_room = 'Room $runs' AND desk_id = 'DS') || ' ' ||
                             (SELECT count(*) FROM reporting.single_rows WHERE desk_room = 'Room $runs' AND desk_id = 'DE')")
echo "series bench ($runs runs, medians; CPU = the backend's user+system time)"
printf '(a) emit_batch, 50,000 rows: 10,000 series  %6.3f s wall, %8d us CPU\n' "$(m "${wall[a_series]}")" "$(m "${cpu[a_series]}")"
printf '                  50,000 single events       %6.3f s wall, %8d us CPU\n' "$(m "${wall[a_single]}")" "$(m "${cpu[a_single]}")"
printf '    series / single: %s wall, %s CPU\n' "$(ratio "$(m "${wall[a_series]}")" "$(m "${wall[a_single]}")")" \
       "$(ratio "$(m "${cpu[a_series]}")" "$(m "${cpu[a_single]}")")"
printf '(b) room move, 1,000 rows: occurrences       %6.3f s wall, %8d us CPU\n' "$(m "${wall[b_S]}")" "$(m "${cpu[b_S]}")"
printf '                           single events     %6.3f s wall, %8d us CPU\n' "$(m "${wall[b_E]}")" "$(m "${cpu[b_E]}")"
printf '    occurrences / single: %s wall, %s CPU  (rows moved: %s)\n' "$(ratio "$(m "${wall[b_S]}")" "$(m "${wall[b_E]}")")" \
       "$(ratio "$(m "${cpu[b_S]}")" "$(m "${cpu[b_E]}")")" "$check"
printf '(c) amendment of 1,000 series (skip a day)   %6.3f s wall, %8d us CPU, %s us CPU per series\n' \
       "$(m "${wall[c]}")" "$(m "${cpu[c]}")" "$(( $(m "${cpu[c]}") / 1000 ))"
