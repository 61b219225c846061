#!/usr/bin/env bash
# Rows of arriving events computed in C after late corrections left dead
# versions in the history tables.  A btree scan that passes dead index
# entries remembers them (to mark them dead) in memory it allocates as it
# goes and frees when it ends; the C row computation once ran its lookups in
# a per-row memory context, so that memory was freed under the scan and the
# backend crashed some thousands of events later (bench/projection.sh (c)).
# 100,000 events after the corrections must all get their rows, enriched
# with the corrected versions.
set -euo pipefail
psql() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -qAt "$@"; }

psql -f "$PHOENIX_ROOT/test/fixtures/presence_model.sql" >/dev/null
psql -f "$PHOENIX_ROOT/test/fixtures/presence_model_projection.sql" >/dev/null
psql >/dev/null <<'SQL'
SET client_min_messages = warning;
-- late corrections: each closes versions, which leaves dead ones behind
SELECT phoenix.put('employee', 'E1', jsonb_build_object('department', 'Warm'), '2025-01-01');
SELECT phoenix.put('employee', 'E0', jsonb_build_object('department', 'Late'), '2025-01-01', '2026-01-01');
SELECT phoenix.put('employee', 'E5', jsonb_build_object('department', 'Late'), '2025-01-01', '2026-01-01');
SELECT phoenix.put('site', 'S0', jsonb_build_object('timezone', 'Asia/Tokyo'), '2025-01-01');
SQL

psql -c "SELECT sum((phoenix.emit_batch(b)).accepted) FROM (
  SELECT jsonb_agg(jsonb_build_object('type', 'presence.detected', 'payload', jsonb_build_object('employeeId', 'E' || i % 10000,
           'floorId', 'F' || i % 200, 'detectedAt', to_char((timestamptz '2025-06-01' + i * interval '1 second') AT TIME ZONE 'UTC',
           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')))) b
    FROM generate_series(1, 100000) i GROUP BY i / 5000) x" >/dev/null

fail=0
check() { # label query expected
  local got; got=$(psql -c "$2")
  if [ "$got" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$got', expected '$3'"; fail=1; fi
}
check "every event has its row" "SELECT count(*) FROM reporting.presence_report" 100000
check "E0 and E5 rows carry the corrected department" \
  "SELECT count(*) FILTER (WHERE employee_department = 'Late') || '/' || count(*) FROM reporting.presence_report WHERE employee_id IN ('E0', 'E5')" 20/20
# E1's open correction covers only up to its next version (2025-03-02);
# in June, E1 is in the version of 2025-05-01 (D3)
check "E1 rows (June) keep the version after the correction" \
  "SELECT count(*) FILTER (WHERE employee_department = 'D3') || '/' || count(*) FROM reporting.presence_report WHERE employee_id = 'E1'" 10/10
check "site S0 rows carry the corrected time zone" \
  "SELECT count(*) FILTER (WHERE site_timezone = 'Asia/Tokyo') || '/' || count(*) FROM reporting.presence_report WHERE floor_site_id = 'S0'" 20000/20000
exit $fail
