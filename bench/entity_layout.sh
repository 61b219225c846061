#!/usr/bin/env bash
# bench/entity_layout.sh — would another storage layout bring put near a plain
# UPDATE?  The storage work of one bounded correction (close the version that
# holds it, write the parts before, inside and after it as current versions),
# written as one prepared SQL statement per correction, on two layouts:
#   (a) today's: one history table, the GiST exclusion constraint among rows
#       with recorded_to = 'infinity', a btree on (key, valid_from);
#   (b) current versions alone in a GiST-constrained table, closed versions
#       moved (DELETE ... RETURNING -> INSERT) into a second table;
# beside the plain single-row UPDATE of bench/entity.sh, all on 10k keys with
# the same random corrections.  Backend CPU per statement (/proc), median of
# BENCH_RUNS runs of 3000 new statements each after a warm-up pass.
set -euo pipefail
runs=${BENCH_RUNS:-3}
PSQL="$PGBIN/psql -X -q -v ON_ERROR_STOP=1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/../scripts/bench_lib.sh"   # median, ratio, backend_cpu_us

$PSQL <<'SQL'
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE layout_a (key text COLLATE "C" NOT NULL, room text, floor_id text,
  valid_from timestamptz NOT NULL, valid_to timestamptz NOT NULL,
  recorded_from timestamptz NOT NULL, recorded_to timestamptz NOT NULL DEFAULT 'infinity',
  CHECK (valid_from < valid_to), CHECK (recorded_from <= recorded_to),
  EXCLUDE USING gist ((hashtext(key)) WITH =, (key || '') WITH =, tstzrange(valid_from, valid_to, '[)') WITH &&)
    WHERE (recorded_to = 'infinity'));
CREATE INDEX ON layout_a (key, valid_from);
CREATE TABLE layout_b_current (key text COLLATE "C" NOT NULL, room text, floor_id text,
  valid_from timestamptz NOT NULL, valid_to timestamptz NOT NULL, recorded_from timestamptz NOT NULL,
  CHECK (valid_from < valid_to),
  EXCLUDE USING gist ((hashtext(key)) WITH =, (key || '') WITH =, tstzrange(valid_from, valid_to, '[)') WITH &&));
CREATE INDEX ON layout_b_current (key, valid_from);
CREATE TABLE layout_b_closed (key text COLLATE "C" NOT NULL, room text, floor_id text,
  valid_from timestamptz NOT NULL, valid_to timestamptz NOT NULL,
  recorded_from timestamptz NOT NULL, recorded_to timestamptz NOT NULL);
CREATE INDEX ON layout_b_closed (key, valid_from);
CREATE TABLE plain_desk (desk_id text PRIMARY KEY, room text, floor_id text,
                         valid_from timestamptz, valid_to timestamptz);
INSERT INTO layout_a (key, room, floor_id, valid_from, valid_to, recorded_from)
SELECT 'K' || k, 'R0', 'F1', '2026-01-01', 'infinity', now() FROM generate_series(1, 10000) k;
INSERT INTO layout_b_current SELECT key, room, floor_id, valid_from, valid_to, recorded_from FROM layout_a;
INSERT INTO plain_desk SELECT 'K' || k, 'R0', 'F1', '2026-01-01', 'infinity' FROM generate_series(1, 10000) k;
VACUUM ANALYZE;
SQL

python3 - "$tmp" "$runs" <<'PY'
import random, sys
d, runs = sys.argv[1], int(sys.argv[2])
period = ("WITH p AS (SELECT '2026-01-01'::timestamptz + $3 * interval '1 day' AS f, "
          "'2026-01-01'::timestamptz + ($3 + $4) * interval '1 day' AS t), ")
parts = ("SELECT key, room, floor_id, valid_from, f, now() FROM old WHERE valid_from < f "
         "UNION ALL SELECT key, $2, floor_id, f, least(t, valid_to), now() FROM old "
         "UNION ALL SELECT key, room, floor_id, t, valid_to, now() FROM old WHERE valid_to > t")
prep = {
  'a': "PREPARE c_(text, text, int, int) AS " + period +
       "old AS (UPDATE layout_a h SET recorded_to = now() FROM p WHERE key = $1 AND recorded_to = 'infinity' "
       "AND valid_from <= p.f AND valid_to > p.f RETURNING h.*, p.f, p.t) "
       "INSERT INTO layout_a (key, room, floor_id, valid_from, valid_to, recorded_from) " + parts + ";",
  'b': "PREPARE c_(text, text, int, int) AS " + period +
       "old AS (DELETE FROM layout_b_current h USING p WHERE key = $1 AND valid_from <= p.f AND valid_to > p.f "
       "RETURNING h.*, p.f, p.t), "
       "closed AS (INSERT INTO layout_b_closed SELECT key, room, floor_id, valid_from, valid_to, recorded_from, now() FROM old) "
       "INSERT INTO layout_b_current (key, room, floor_id, valid_from, valid_to, recorded_from) " + parts + ";",
  'u': "PREPARE c_(text, text, int, int) AS UPDATE plain_desk SET room = $2, "
       "valid_from = '2026-01-01'::timestamptz + $3 * interval '1 day', "
       "valid_to = '2026-01-01'::timestamptz + ($3 + $4) * interval '1 day' WHERE desk_id = $1;",
}
for n in range(runs + 1):
    random.seed(7 + n)
    ops = [(random.randint(1, 10000), random.randint(1, 5), random.randint(0, 300), random.randint(1, 30)) for _ in range(3000)]
    for name, sql in prep.items():
        with open(f'{d}/{name}_{n}.sql', 'w') as f:
            f.write(sql + "\n")
            for k, r, day, ln in ops:
                f.write(f"EXECUTE c_('K{k}', 'R{r}', {day}, {ln});\n")
PY
chmod -R a+rX "$tmp"

# each run alternates the three, so that load changes touch them alike
for name in a b u; do backend_cpu_us "$tmp/${name}_0.sql" 3000 >/dev/null; done
for n in $(seq "$runs"); do
  for name in a b u; do backend_cpu_us "$tmp/${name}_$n.sql" 3000 >> "$tmp/$name.cpu"; done
done
a=$(median < "$tmp/a.cpu"); b=$(median < "$tmp/b.cpu"); u=$(median < "$tmp/u.cpu")
# both layouts must hold the same current versions
[ "$($PSQL -t -A -c "SELECT count(*) FROM (SELECT key, room, valid_from, valid_to FROM layout_a WHERE recorded_to = 'infinity' EXCEPT ALL SELECT key, room, valid_from, valid_to FROM layout_b_current) d")" = 0 ] ||
  { echo "entity layouts: current versions differ"; exit 1; }
echo "entity layout, storage work of one bounded correction (CPU us): one history table $a   vs current and closed tables $b (speed-up $(ratio "$a" "$b")x)   vs plain UPDATE $u (throughput ratio to the UPDATE: one table $(ratio "$u" "$a"), two tables $(ratio "$u" "$b"))   (median of $runs)"
