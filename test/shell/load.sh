#!/usr/bin/env bash
# Load test (issue 7's bar): pgbench with 8 clients emitting presence events
# while late department changes cascade into the projection and exports run
# in a loop.  Afterwards the event log, the projection (checked against a
# recomputation from entity history) and the union of the exports agree,
# and no client saw an error.
#   PHOENIX_LOAD_SECONDS (default 60, the figure of issue 7; 15 crashed nothing, 60 found a use-after-free in export), PHOENIX_LOAD_CLIENTS (8)
set -euo pipefail
. "$PHOENIX_ROOT/test/cluster_lib.sh"
SECS=${PHOENIX_LOAD_SECONDS:-60}
CLIENTS=${PHOENIX_LOAD_CLIENTS:-8}
WORK=$(mktemp -d /tmp/phoenix-load.XXXXXX); chmod 755 "$WORK"
dir=$(server_writable_dir "$WORK")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
q() { psql_q -At "$@"; }

q >/dev/null <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","department":"text"}');
SELECT phoenix.put('employee', 'E' || i, json_build_object('name', 'N' || i, 'department', 'D0')::jsonb,
                   valid_from => '2026-01-01')
  FROM generate_series(0, 99) i;
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","detectedAt"],
                   "properties":{"employeeId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee"}');
SELECT phoenix.create_projection('presence_load', source => 'presence.detected',
  columns => '{"employee_id":"employeeId"}',
  enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time"}}]');
SQL

cat > "$WORK/emit.sql" <<'SQL'
\set e random(0, 99)
\set h random(0, 2000)
SELECT phoenix.emit('presence.detected',
  json_build_object('employeeId', 'E' || :e,
                    'detectedAt', to_char(timestamptz '2026-11-01 00:00+00' + :h * interval '1 hour',
                                          'YYYY-MM-DD"T"HH24:MI:SS"Z"'))::jsonb);
SQL

# late department changes: each cascades into the rows after its valid_from.
# The loops stop at the stop file after their statement in flight, so the
# final change below really runs alone (killing a loop left its psql running,
# and two large cascades on one table may deadlock, as README documents).
stop="$WORK/stop"
( i=0; while [ ! -e "$stop" ]; do
    i=$((i + 1))
    q -c "SELECT phoenix.put('employee', 'E' || (random() * 99)::int, json_build_object('department', 'D$i')::jsonb,
                             valid_from => timestamptz '2026-11-01 00:00+00' + (random() * 2000)::int * interval '1 hour')" >/dev/null
    sleep 0.2
  done ) &
# exports, all along
( while [ ! -e "$stop" ]; do q -c "SELECT rows FROM phoenix.export('presence_load', '$dir', 'ndjson')" >/dev/null; sleep 1; done ) &

"$PGBIN/pgbench" -n -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" -f "$WORK/emit.sql" > "$WORK/pgbench.out" 2>&1 ||
  { cat "$WORK/pgbench.out"; echo "pgbench failed"; exit 1; }
touch "$stop"; wait
grep -E 'number of (transactions actually processed|failed)|tps' "$WORK/pgbench.out" || true
grep -q 'number of failed transactions: 0' "$WORK/pgbench.out" || ! grep -q 'failed transactions' "$WORK/pgbench.out" ||
  { echo "pgbench clients saw errors"; cat "$WORK/pgbench.out"; exit 1; }

# one last change and one last export, with nothing running
q -c "SELECT phoenix.put('employee', 'E1', '{\"department\":\"final\"}', valid_from => '2026-11-15')" >/dev/null
q -c "SELECT rows FROM phoenix.export('presence_load', '$dir', 'ndjson')" >/dev/null

logged=$(q -c "SELECT count(*) FROM phoenix.event_log WHERE event_type = 'presence.detected'")
rows=$(q -c "SELECT count(*) FROM reporting.presence_load")
echo "events logged: $logged, projection rows: $rows"
[ "$logged" -gt 0 ] && [ "$logged" = "$rows" ] || { echo "log and projection disagree"; exit 1; }

# the projection equals a recomputation from entity history
wrong=$(q -c "SELECT count(*) FROM reporting.presence_load r
               WHERE r.employee_department IS DISTINCT FROM
                     (SELECT h.department FROM phoenix_entity.employee_at(r.employee_id, r.effective_at) h)")
[ "$wrong" = 0 ] || { echo "$wrong projection rows differ from the recomputation"; exit 1; }

# the exports, replayed in change order, equal the table
q -c "SELECT event_id || ' ' || change_seq || ' ' || coalesce(employee_department, '-')
        FROM reporting.presence_load ORDER BY event_id" > "$WORK/table.txt"
python3 - "$dir" "$WORK/table.txt" <<'PY'
import glob, json, os, sys
d, table = sys.argv[1:3]
def bad(c): raise ValueError("non-standard JSON constant " + c)
latest = {}
for m in sorted(glob.glob(os.path.join(d, "*.manifest.json"))):
    man = json.load(open(m))
    n = 0
    for line in open(os.path.join(d, man["file"]), encoding="utf-8"):
        r = json.loads(line, parse_constant=bad)
        n += 1
        if r["event_id"] not in latest or latest[r["event_id"]][0] < r["change_seq"]:
            latest[r["event_id"]] = (r["change_seq"], r["employee_department"] or "-")
    assert n == man["rows"], (m, n, man["rows"])
got = sorted("%s %d %s" % (k, v[0], v[1]) for k, v in latest.items())
want = sorted(open(table, encoding="utf-8").read().split("\n")[:-1])
missing = set(want) - set(got)
extra = set(got) - set(want)
assert not missing and not extra, ("missing", sorted(missing)[:5], "stale", sorted(extra)[:5])
print("exports agree with the table:", len(got), "rows")
PY
echo ok
