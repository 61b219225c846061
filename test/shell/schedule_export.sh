#!/usr/bin/env bash
# schedule_export: a pg_cron job made by phoenix.schedule_export runs and
# writes an export (with its manifest) within the test; unschedule_export
# removes it.  schedule_apply_due: its job applies a future-dated change of a
# `current` attribute when it comes due, with no other write (the projection
# row changes: a positive signal, no sleeping and checking nothing).  pg_cron runs jobs only from cron.database_name, so this runs
# in a private cluster whose cron database is the Phoenix database.  pg_cron
# 1.4 schedules by the minute: the test waits up to ~75 s.  The schedule is
# made by an admin login (not a superuser): its job runs as that login, never
# as the extension owner, so the export checks the admin's right to write
# server files.
set -euo pipefail
. "$PHOENIX_ROOT/test/cluster_lib.sh"
trap second_cluster_stop EXIT
second_cluster_start phoenix_cron
dir=$(server_writable_dir "$S_SANDBOX")

psql2 <<SQL
CREATE EXTENSION pg_cron;
CREATE EXTENSION phoenix CASCADE;
CREATE TABLE reporting.sched (
  event_id text PRIMARY KEY, effective_at timestamptz NOT NULL, who text,
  change_seq bigint NOT NULL DEFAULT phoenix.next_change_seq());
INSERT INTO reporting.sched (event_id, effective_at, who)
  SELECT 'e' || i, '2026-11-23'::timestamptz + i * interval '1 hour', 'w' || i FROM generate_series(1, 50) i;
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text"}');
SELECT phoenix.create_event_type('desk.booked',
       schema => '{"type":"object","properties":{"employeeId":{"type":"string"}}}');
SELECT phoenix.create_projection('bookings', source => 'desk.booked', columns => '{"employee_id":"employeeId"}',
       enrich => '[{"entity":"employee","key":"employee_id","attributes":{"name":"current"}}]');
SELECT phoenix.put('employee', 'E1', '{"name":"Ann"}', '2025-01-01');
SELECT phoenix.emit('desk.booked', '{"employeeId":"E1"}', event_id => 'b1');
-- due in three seconds: only the cron job's apply_due can bring it in
SELECT phoenix.put('employee', 'E1', '{"name":"Ann Smith"}', now() + interval '3 seconds');
CREATE ROLE phoenix_exporter LOGIN IN ROLE phoenix_admin, pg_write_server_files;
SQL
psql_admin() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -h "$S_PGHOST" -p "$S_PGPORT" -U phoenix_exporter -d "$S_DB" "$@"; }
apply_job=$(psql2 -At -c "SELECT phoenix.schedule_apply_due('* * * * *')")
[ "$(psql2 -At -c "SELECT jobname || '|' || schedule || '|' || command FROM cron.job WHERE jobid = $apply_job")" = \
  "phoenix_apply_due|* * * * *|SELECT phoenix.apply_due()" ] || { echo "apply_due job"; psql2 -c "TABLE cron.job"; exit 1; }
[ "$(psql2 -At -c "SELECT employee_name FROM reporting.bookings")" = Ann ] || { echo "applied before its time"; exit 1; }

# refused before anything is scheduled
out=$(psql2 -c "SELECT phoenix.schedule_export('nope', '* * * * *', '$dir')" 2>&1 || true)
grep -q 'projection "nope" does not exist' <<<"$out" || { echo "unknown projection: $out"; exit 1; }
out=$(psql2 -c "SELECT phoenix.schedule_export('sched', '* * * * *', '$dir', 'xml')" 2>&1 || true)
grep -q 'unknown export format "xml"' <<<"$out" || { echo "bad format: $out"; exit 1; }
# a schedule in seconds: pg_cron 1.4 (Debian 12) refuses it; Phoenix says why
if [ "$(psql2 -At -c "SELECT string_to_array(split_part(extversion, '-', 1), '.')::int[] < '{1,5}' FROM pg_extension WHERE extname = 'pg_cron'")" = t ]; then
  out=$(psql2 -c "SELECT phoenix.schedule_export('sched', '30 seconds', '$dir')" 2>&1 || true)
  grep -q 'cannot run a job every "30 seconds"' <<<"$out" && grep -q 'need pg_cron 1.5' <<<"$out" ||
    { echo "seconds schedule on pg_cron < 1.5: $out"; exit 1; }
fi

job=$(psql_admin -At -c "SELECT phoenix.schedule_export('sched', '* * * * *', '$dir', 'ndjson')")
[ "$(psql2 -At -c "SELECT username FROM cron.job WHERE jobid = $job")" = phoenix_exporter ] ||
  { echo "the job does not run as the admin who scheduled it"; psql2 -c "TABLE cron.job"; exit 1; }
psql2 -At -c "SELECT command FROM cron.job WHERE jobid = $job" | grep -q "phoenix.export('sched'" ||
  { echo "cron job $job has the wrong command"; psql2 -c "TABLE cron.job"; exit 1; }
# scheduling the same target again replaces the job, it does not add one
job2=$(psql_admin -At -c "SELECT phoenix.schedule_export('sched', '* * * * *', '$dir', 'ndjson')")
[ "$(psql2 -At -c "SELECT count(*) FROM cron.job WHERE jobname <> 'phoenix_apply_due'")" = 1 ] || { echo "duplicate cron jobs"; exit 1; }

for _ in $(seq 1 80); do
  ls "$dir"/*.manifest.json >/dev/null 2>&1 && break
  sleep 1
done
manifest=$(ls "$dir"/*.manifest.json 2>/dev/null | head -1)
[ -n "$manifest" ] || { echo "no export within 80 s"; psql2 -c "TABLE cron.job_run_details"; exit 1; }
data="$dir/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["file"])' "$manifest")"
# strict JSON, one object per line, every row once
python3 - "$data" "$manifest" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
m = json.load(open(sys.argv[2]))
assert len(rows) == 50 == m["rows"], (len(rows), m["rows"])
assert sorted(r["event_id"] for r in rows) == sorted("e%d" % i for i in range(1, 51))
assert all(r["effective_at"].endswith("Z") for r in rows)
PY
psql2 -At -c "SELECT status FROM cron.job_run_details WHERE jobid = $job2 ORDER BY runid LIMIT 1" | grep -q succeeded ||
  { echo "job did not succeed"; psql2 -c "TABLE cron.job_run_details"; exit 1; }

# the apply_due job ran in the same minutes: the change came due and was applied
for _ in $(seq 1 80); do
  [ "$(psql2 -At -c "SELECT employee_name FROM reporting.bookings")" = "Ann Smith" ] && break
  sleep 1
done
[ "$(psql2 -At -c "SELECT employee_name FROM reporting.bookings")" = "Ann Smith" ] ||
  { echo "the apply_due job did not apply the due change"; psql2 -c "TABLE cron.job_run_details"; exit 1; }
[ "$(psql2 -At -c "SELECT count(*) FROM phoenix.projection_due")" = 0 ] || { echo "due entry left"; exit 1; }
psql2 -At -c "SELECT status FROM cron.job_run_details WHERE jobid = $apply_job ORDER BY runid LIMIT 1" | grep -q succeeded ||
  { echo "apply_due job did not succeed"; psql2 -c "TABLE cron.job_run_details"; exit 1; }
psql2 -At -c "SELECT cron.unschedule($apply_job)" >/dev/null

[ "$(psql_admin -At -c "SELECT phoenix.unschedule_export('sched')")" = 1 ] || { echo "unschedule count"; exit 1; }
[ "$(psql2 -At -c "SELECT count(*) FROM cron.job")" = 0 ] || { echo "job left behind"; exit 1; }
[ "$(psql2 -At -c "SELECT count(*) FROM phoenix.export_schedules")" = 0 ] || { echo "schedule row left"; exit 1; }
echo ok
