#!/usr/bin/env bash
# A crash while phoenix.export is writing leaves no partial file visible and
# does not move the cursor; the next export writes the complete file.  The
# exported files parse with strict JSON and CSV readers and match the table.
# (Private cluster: the test SIGKILLs a backend.)
set -euo pipefail
. "$PHOENIX_ROOT/test/cluster_lib.sh"
trap second_cluster_stop EXIT
# synchronous commits: a crash-restart must not lose the committed test data
second_cluster_start phoenix_crash "synchronous_commit = on"
dir=$(server_writable_dir "$S_SANDBOX")
ROWS=${PHOENIX_CRASH_ROWS:-400000}

psql2 -c "CREATE EXTENSION phoenix CASCADE" >/dev/null
fill() { # fill <rows>: a fresh table of that many rows
  psql2 <<SQL
DROP TABLE IF EXISTS reporting.big;
DELETE FROM phoenix.export_cursors;
CREATE TABLE reporting.big (
  event_id text PRIMARY KEY, effective_at timestamptz NOT NULL, n int, x float8,
  note text, day date, change_seq bigint NOT NULL DEFAULT phoenix.next_change_seq());
INSERT INTO reporting.big (event_id, effective_at, n, x, note, day)
  SELECT 'e' || i, '2026-11-23'::timestamptz + i * interval '1 second', i, i / 7.0,
         CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'a "quoted", multi
line value \\ with backslash' ELSE repeat('x', 200) END,
         '2026-11-23'::date + (i % 30)
    FROM generate_series(1, $1) i;
SQL
}

# Start an export and kill its backend while the hidden temporary file grows.
# If the export wins the race and commits first, try again with more rows.
killed=
for attempt in 1 2 3; do
  ROWS=$((ROWS * attempt))
  fill "$ROWS"
  rm -rf "${dir:?}"/* "$dir"/.[!.]* 2>/dev/null || true
  psql2 -c "SELECT * FROM phoenix.export('big', '$dir', 'ndjson')" >/dev/null 2>&1 &
  psql_pid=$!
  for _ in $(seq 1 400); do
    ls -A "$dir" | grep -q '^\..*\.tmp$' && break
    sleep 0.05
  done
  backend=$(psql2 -At -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%phoenix.export(%' AND pid <> pg_backend_pid()")
  [ -n "$backend" ] && kill -9 "$backend"
  wait "$psql_pid" || true
  # the postmaster restarts after the crash; wait until it accepts connections
  for _ in $(seq 1 120); do psql2 -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.5; done
  if [ "$(psql2 -At -c "SELECT count(*) FROM phoenix.export_cursors WHERE last_change_seq > 0")" = 0 ]; then
    killed=yes; break
  fi
  echo "attempt $attempt: the export committed before the kill; again with more rows"
done
[ -n "$killed" ] || { echo "could not kill an export mid-way"; exit 1; }

# What a loader would pick up (ls without -A): no manifest, and no partial
# data file.  (A data file is renamed into place only when complete, so one
# can be visible, complete and without its manifest, if the kill fell between
# its rename and the commit.)
[ -z "$(ls "$dir" | grep 'manifest' || true)" ] || { echo "manifest of a crashed export visible"; ls "$dir"; exit 1; }
for f in $(ls "$dir"); do
  [ "$(wc -l < "$dir/$f")" = "$ROWS" ] || { echo "partial file visible after the crash: $f"; exit 1; }
done
ls -A "$dir" | grep -q '^\..*\.tmp$' || ls "$dir" | grep -q . || { echo "the kill left no trace: not mid-export"; exit 1; }
# the next export writes everything, and replaces the stale temporary file
read -r file manifest rows < <(psql2 -At -F ' ' -c "SELECT file, manifest, rows FROM phoenix.export('big', '$dir', 'ndjson')")
[ "$rows" = "$ROWS" ] || { echo "exported $rows of $ROWS"; exit 1; }
[ -z "$(ls -A "$dir" | grep '\.tmp$' || true)" ] || { echo "temporary file left behind"; ls -A "$dir"; exit 1; }
[ "$(ls "$dir" | wc -l)" = 2 ] || { echo "files of the crashed export left beside the new ones"; ls "$dir"; exit 1; }
read -r cfile cmanifest crows < <(psql2 -At -F ' ' -c "SELECT file, manifest, rows FROM phoenix.export('big', '$dir', 'csv')")
[ "$crows" = "$ROWS" ] || { echo "csv exported $crows of $ROWS"; exit 1; }

# strict readers: the JSON parser refuses NaN/Infinity literals; csv reads RFC 4180
# (the expected values are rebuilt from the ids, as the INSERT above made them)
python3 - "$dir/$file" "$dir/$cfile" "$dir/$manifest" <<'PY'
import csv, hashlib, json, sys
def bad(c): raise ValueError("non-standard JSON constant " + c)
data, cdata, man = sys.argv[1:4]
rows = {}
with open(data, encoding="utf-8") as f:
    for line in f:
        r = json.loads(line, parse_constant=bad)
        rows[r["event_id"]] = r
with open(cdata, encoding="utf-8", newline="") as f:
    rd = csv.reader(f, strict=True)
    header = next(rd)
    crows = {}
    for rec in rd:
        crows[rec[0]] = dict(zip(header, rec))
assert len(rows) == len(crows), (len(rows), len(crows))
m = json.load(open(man))
assert m["rows"] == len(rows)
assert m["sha256"] == hashlib.sha256(open(data, "rb").read()).hexdigest()
for k, r in rows.items():
    i = int(k[1:])
    c = crows[k]
    assert r["n"] == i and int(c["n"]) == i, k
    note = {0: None, 1: "", 2: 'a "quoted", multi\nline value \\ with backslash'}.get(i % 4, "x" * 200)
    assert r["note"] == note, (k, r["note"])
    assert c["note"] == (note or ""), (k, c["note"])
    assert r["effective_at"].endswith("Z") and c["effective_at"] == r["effective_at"], k
print("checked", len(rows), "rows")
PY
echo ok
