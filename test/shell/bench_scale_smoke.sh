#!/usr/bin/env bash
# bench/scale.sh still runs end to end: two small rounds (10,000 events
# each) with every phase it has (ingest beside its same-time reference, the
# late and 1% changes, single emits, the batch ETL, two sessions, the floor,
# REFRESH, the grown floor after each round) and its summary.  The benchmark checks its own invariants as it
# goes (every event reached the reporting table, the late change rewrote
# exactly its 1,000 rows) and exits non-zero when one fails.  Timings decide
# nothing here: only that every figure was produced.
set -euo pipefail
out=$(mktemp); trap 'rm -f "$out"' EXIT
BENCH_RUNS=1 BENCH_SECONDS=1 BENCH_SCALE_EVENTS=20000 BENCH_SCALE_ROUNDS=2 \
BENCH_SCALE_WARM_MB=0 BENCH_SCALE_REF_EVENTS=1000 \
  bash "$PHOENIX_ROOT/bench/scale.sh" >"$out" 2>&1 || { cat "$out"; echo "FAIL: bench/scale.sh exited non-zero" >&2; exit 1; }
cat "$out"
for line in 'run 1 round  1: ' 'run 1 round  2: ' 'run 1 at 10000 events: ingest + projection' \
            'at 10000 events: REFRESH' 'at 10000 events: floor under it' 'last round vs first: ingest rate' \
            'last round vs first against the same-time reference' 'last round vs first, the grown floor'; do
  grep -qF "$line" "$out" || { echo "FAIL: no line starting \"$line\"" >&2; exit 1; }
done
# a figure that could not be computed prints "-", never a NaN
if grep -qi 'nan' "$out"; then echo "FAIL: a NaN in the output" >&2; exit 1; fi
# the databases it made are gone
left=$(psql -X -At -d postgres -c "SELECT count(*) FROM pg_database WHERE datname LIKE '${PGDATABASE}_run%'")
[ "$left" = 0 ] || { echo "FAIL: $left of the benchmark's databases left behind" >&2; exit 1; }
echo "ok: bench/scale.sh ran both rounds and printed every figure"
