#!/usr/bin/env bash
# Property test (seeded): rules a table's owner adds hold on every table
# Phoenix writes straight into (the log, phoenix.event_ids, a reporting
# table), whichever way the rows go in.  Each round adds a random set of
# rules: CHECK constraints with random moduli on the log, the ids and the
# reporting table; NOT NULL on a reporting column that some events leave
# empty, or on the log's source_position (which a single emit leaves empty);
# columns of the owner's with a default or a generated value; a trigger on
# event_ids; indexes on the log and the reporting table whose expression
# divides by zero for some rows.  Then it sends a batch of random events
# (with repeats of the same payload) through emit_batch and some through
# single emits, and checks:
#   (a) exactly the events a rule refuses are refused, each with 23514,
#       23502 or 22012 (the index expression) — the batch's as dead
#       letters, the single emits as errors —
#       and every other event is in the log once, with its projection row
#       (no neighbour lost, none refused for another's fault);
#   (b) every row of the three tables obeys every rule in force, added
#       columns hold their default or generated value, and the trigger saw
#       each new id once;
# then late changes of the employees the events name cascade into the
# reporting table (row by row in C, or set-based), with a CHECK on the
# enriched column and a column generated from it:
#   (c) a change is refused (23514) exactly when it would rewrite a row into
#       breaking the CHECK, and then changes nothing; every row is enriched
#       as of its time from the history as it stands, its generated column
#       recomputed.
# Each round has a database of its own (its rules hold for every row).
#   PHOENIX_RULES_ROUNDS (default 6), PHOENIX_RULES_SEED (default 1)
set -euo pipefail
rounds=${PHOENIX_RULES_ROUNDS:-6}
seed=${PHOENIX_RULES_SEED:-1}
RANDOM=$seed
echo "seed $seed, $rounds rounds (PHOENIX_RULES_SEED, PHOENIX_RULES_ROUNDS)"
PSQL="psql -X -q -At -v ON_ERROR_STOP=1"
base=$PGDATABASE
dbs=()
cleanup() { for db in "${dbs[@]}"; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

fail() { echo "FAIL (seed $seed, round $r): $*" >&2; exit 1; }
pick() { [ $((RANDOM % 2)) = 1 ]; }   # a rule is in force this round with probability 1/2

for r in $(seq "$rounds"); do
  export PGDATABASE="${base}_r$r"; dbs+=("$PGDATABASE")
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$PGDATABASE\"" -c "CREATE DATABASE \"$PGDATABASE\"" >/dev/null
  $PSQL >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS phoenix CASCADE;
SELECT phoenix.create_entity('emp', 'emp_id', '{"dept":"text"}') IS NOT NULL;
SELECT count(phoenix.put('emp', 'E' || e, '{"dept":"D0"}', '2025-01-01')) FROM generate_series(0, 9) e;
SELECT phoenix.create_event_type('t.x', schema => '{"type":"object","required":["k"],
  "properties":{"k":{"type":"integer"},"s":{"type":"string"},"e":{"type":"string"},
                "at":{"type":"string","format":"date-time"}}}', time_field => 'at') > 0;
SELECT phoenix.create_projection('rx', source => 't.x', columns => '{"k":"k","s":"s","emp_id":"e"}',
  enrich => '[{"entity":"emp","key":"emp_id","attributes":{"dept":"event_time"}}]') IS NOT NULL;
CREATE TABLE claims (round int, event_id text);
-- the round's input: element i of the batch (single emits have i >= 1000)
CREATE TABLE input (round int, i int, event_id text, k int, s text, e text, at timestamptz);
CREATE TABLE single_result (round int, i int, sqlstate text);
-- the late changes: each one's expected and actual refusal
CREATE TABLE changes (n int, emp_id text, dept text, valid_from timestamptz, valid_to timestamptz,
                      breaks boolean, sqlstate text);
SQL
  m1=$((2 + RANDOM % 9)); r1=$((RANDOM % m1)); m2=$((2 + RANDOM % 9)); r2=$((RANDOM % m2))
  m3=$((5 + RANDOM % 20)); m4=$((5 + RANDOM % 20))
  log_chk=0; ids_chk=0; rep_chk=0; rep_nn=0; pos_nn=0; log_cols=0; ids_cols=0; rep_cols=0; ids_trig=0
  dept_chk=0; dept_gen=0; set_based=0; log_expr=0; rep_expr=0
  pick && log_chk=1; pick && ids_chk=1; pick && rep_chk=1; pick && rep_nn=1
  [ $((RANDOM % 4)) = 0 ] && pos_nn=1
  pick && log_cols=1; pick && ids_cols=1; pick && rep_cols=1; pick && ids_trig=1
  pick && dept_chk=1; pick && dept_gen=1; pick && set_based=1
  [ $((RANDOM % 3)) = 0 ] && log_expr=1; [ $((RANDOM % 3)) = 0 ] && rep_expr=1
  rules="log_chk=$log_chk(k%$m1<>$r1) ids_chk=$ids_chk rep_chk=$rep_chk(k%$m2<>$r2) rep_nn=$rep_nn pos_nn=$pos_nn log_cols=$log_cols ids_cols=$ids_cols rep_cols=$rep_cols ids_trig=$ids_trig dept_chk=$dept_chk dept_gen=$dept_gen set_based=$set_based log_expr=$log_expr(k%$m3) rep_expr=$rep_expr(k%$m4)"
  echo "round $r: $rules"
  # the rules, as DDL
  {
    [ $log_chk = 1 ] && echo "ALTER TABLE phoenix.event_log ADD CONSTRAINT rule_log CHECK ((payload->>'k')::int % $m1 <> $r1);"
    [ $ids_chk = 1 ] && echo "ALTER TABLE phoenix.event_ids ADD CONSTRAINT rule_ids CHECK (right(event_id, 1) <> 'z');"
    [ $rep_chk = 1 ] && echo "ALTER TABLE reporting.rx ADD CONSTRAINT rule_rep CHECK (k % $m2 <> $r2);"
    [ $rep_nn = 1 ] && echo "ALTER TABLE reporting.rx ALTER COLUMN s SET NOT NULL;"
    [ $pos_nn = 1 ] && echo "ALTER TABLE phoenix.event_log ALTER COLUMN source_position SET NOT NULL;"
    [ $log_cols = 1 ] && echo "ALTER TABLE phoenix.event_log ADD COLUMN tag text NOT NULL DEFAULT 'd$r',
                                 ADD COLUMN k2 int GENERATED ALWAYS AS ((payload->>'k')::int * 2) STORED;"
    [ $ids_cols = 1 ] && echo "ALTER TABLE phoenix.event_ids ADD COLUMN tag int DEFAULT $r;"
    [ $rep_cols = 1 ] && echo "ALTER TABLE reporting.rx ADD COLUMN tag text DEFAULT 'd$r';"
    [ $dept_chk = 1 ] && echo "ALTER TABLE reporting.rx ADD CONSTRAINT rule_dept CHECK (emp_dept IS DISTINCT FROM 'BAD');"
    # indexes whose expression fails (division by zero) for some rows
    [ $log_expr = 1 ] && echo "CREATE INDEX rule_log_expr ON phoenix.event_log ((100 / ((payload->>'k')::int % $m3)));"
    [ $rep_expr = 1 ] && echo "CREATE INDEX rule_rep_expr ON reporting.rx ((100 / (k % $m4)));"
    [ $dept_gen = 1 ] && echo "ALTER TABLE reporting.rx ADD COLUMN dept_upper text GENERATED ALWAYS AS (upper(emp_dept)) STORED;"
    [ $ids_trig = 1 ] && echo "CREATE FUNCTION public.note_claim() RETURNS trigger LANGUAGE plpgsql AS
                                 \$\$ BEGIN INSERT INTO public.claims VALUES ($r, NEW.event_id); RETURN NEW; END \$\$;
                               CREATE TRIGGER note_claim AFTER INSERT ON phoenix.event_ids FOR EACH ROW EXECUTE FUNCTION public.note_claim();"
    true
  } | $PSQL
  # the input: 300 batch elements, a tenth repeating an earlier element's
  # id and payload, a fifth without s, ids ending in a random letter; and 20
  # single emits
  $PSQL -v r="$r" -v seed="$seed" <<'SQL'
SELECT setseed(((:seed * 7919 + :r) % 1000) / 1000.0);
INSERT INTO input
SELECT :r, i, format('r%s_%s%s', :r, i, chr(121 + (random() * 2)::int)), (random() * 100)::int,
       CASE WHEN random() < 0.8 THEN 's' || i END, 'E' || (random() * 9)::int,
       timestamptz '2025-01-02' + random() * interval '300 days'
  FROM generate_series(0, 299) i;
UPDATE input t SET event_id = o.event_id, k = o.k, s = o.s, e = o.e, at = o.at
  FROM input o WHERE t.round = :r AND o.round = :r AND t.i % 10 = 9 AND o.i = t.i - 5;
INSERT INTO input
SELECT :r, 1000 + i, format('r%s_single%s%s', :r, i, chr(121 + (random() * 2)::int)), (random() * 100)::int,
       CASE WHEN random() < 0.8 THEN 's' || i END, 'E' || (random() * 9)::int,
       timestamptz '2025-01-02' + random() * interval '300 days'
  FROM generate_series(0, 19) i;
-- the late changes: an employee's department over a random stretch (open
-- or not), a third of them to BAD
INSERT INTO changes (n, emp_id, dept, valid_from, valid_to)
SELECT n, 'E' || (random() * 9)::int, CASE WHEN random() < 0.34 THEN 'BAD' ELSE 'D' || (1 + (random() * 4)::int) END,
       f, CASE WHEN random() < 0.7 THEN f + random() * interval '120 days' END
  FROM generate_series(1, 12) n, LATERAL (SELECT timestamptz '2025-01-02' + random() * interval '300 days' + n * interval '0' AS f) x;
SQL
  # the batch, then the single emits (each may be refused on its own)
  counts=$($PSQL -v r="$r" <<'SQL'
SELECT accepted || ' ' || rejected FROM phoenix.emit_batch(
  (SELECT jsonb_agg(jsonb_build_object('type', 't.x', 'event_id', event_id,
                    'payload', jsonb_strip_nulls(jsonb_build_object('k', k, 's', s, 'e', e, 'at', at))) ORDER BY i)
     FROM input WHERE round = :r AND i < 1000), source => 'round' || :r);
SET my.round = :r;
DO $$
DECLARE e record; state text;
BEGIN
  FOR e IN SELECT * FROM input WHERE round = current_setting('my.round')::int AND i >= 1000 ORDER BY i LOOP
    BEGIN
      PERFORM phoenix.emit('t.x', jsonb_strip_nulls(jsonb_build_object('k', e.k, 's', e.s, 'e', e.e, 'at', e.at)),
                           event_id => e.event_id, source => 'single' || e.round);
      state := NULL;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
    END;
    INSERT INTO single_result VALUES (e.round, e.i, state);
  END LOOP;
END $$;
SQL
)
  [ -n "$counts" ] || fail "emit_batch returned nothing"
  # the oracle: an event is refused when a rule in force refuses it
  refuses="false"
  [ $log_chk = 1 ] && refuses="$refuses OR k % $m1 = $r1"
  [ $ids_chk = 1 ] && refuses="$refuses OR right(event_id, 1) = 'z'"
  [ $rep_chk = 1 ] && refuses="$refuses OR k % $m2 = $r2"
  [ $rep_nn = 1 ] && refuses="$refuses OR s IS NULL"
  [ $log_expr = 1 ] && refuses="$refuses OR k % $m3 = 0"
  [ $rep_expr = 1 ] && refuses="$refuses OR k % $m4 = 0"
  single_refuses="$refuses"; [ $pos_nn = 1 ] && single_refuses="true"
  out=$($PSQL -v r="$r" <<SQL
-- (a) the batch: refused elements = those a rule refuses, each with 23514/23502
SELECT 'batch_wrong', count(*) FROM (
  (SELECT i FROM input WHERE round = $r AND i < 1000 AND ($refuses)
   EXCEPT SELECT substring(source_position from '[0-9]+')::int FROM phoenix.dead_letters WHERE source = 'round$r')
  UNION ALL
  (SELECT substring(source_position from '[0-9]+')::int FROM phoenix.dead_letters WHERE source = 'round$r'
   EXCEPT SELECT i FROM input WHERE round = $r AND i < 1000 AND ($refuses))) x;
SELECT 'batch_sqlstates', count(*) FROM phoenix.dead_letters WHERE source = 'round$r' AND sqlstate NOT IN ('23514', '23502', '22012');
SELECT 'batch_counts', count(*) FILTER (WHERE NOT ($refuses)) || ' ' || count(*) FILTER (WHERE $refuses)
  FROM input WHERE round = $r AND i < 1000;
SELECT 'batch_logged_wrong', count(*) FROM (
  (SELECT DISTINCT event_id FROM input WHERE round = $r AND i < 1000 AND NOT ($refuses)
   EXCEPT ALL SELECT event_id FROM phoenix.event_log WHERE source = 'round$r')
  UNION ALL
  (SELECT event_id FROM phoenix.event_log WHERE source = 'round$r'
   EXCEPT ALL SELECT DISTINCT event_id FROM input WHERE round = $r AND i < 1000 AND NOT ($refuses))) x;
-- (a) the single emits
SELECT 'single_wrong', count(*) FROM input t JOIN single_result s USING (round, i)
 WHERE t.round = $r AND ((s.sqlstate IS NOT NULL) <> ($single_refuses)
                         OR s.sqlstate NOT IN ('23514', '23502', '22012')
                         OR (s.sqlstate IS NULL) <> EXISTS (SELECT FROM phoenix.event_log l WHERE l.event_id = t.event_id));
-- every logged event has its one projection row, and nothing else has one
SELECT 'projection_wrong', count(*) FROM (
  (SELECT event_id FROM phoenix.event_log WHERE event_type = 't.x' EXCEPT ALL SELECT event_id FROM reporting.rx)
  UNION ALL (SELECT event_id FROM reporting.rx EXCEPT ALL SELECT event_id FROM phoenix.event_log WHERE event_type = 't.x')) x;
SELECT 'ids_wrong', count(*) FROM (
  (SELECT event_id, position FROM phoenix.event_log EXCEPT ALL SELECT event_id, position FROM phoenix.event_ids)
  UNION ALL (SELECT event_id, position FROM phoenix.event_ids EXCEPT ALL SELECT event_id, position FROM phoenix.event_log)) x;
-- (b) every row obeys every rule in force
$([ $log_chk = 1 ] && echo "SELECT 'log_chk', count(*) FROM phoenix.event_log WHERE event_type = 't.x' AND (payload->>'k')::int % $m1 = $r1;")
$([ $ids_chk = 1 ] && echo "SELECT 'ids_chk', count(*) FROM phoenix.event_ids WHERE right(event_id, 1) = 'z';")
$([ $rep_chk = 1 ] && echo "SELECT 'rep_chk', count(*) FROM reporting.rx WHERE k % $m2 = $r2;")
$([ $rep_nn = 1 ] && echo "SELECT 'rep_nn', count(*) FROM reporting.rx WHERE s IS NULL;")
$([ $pos_nn = 1 ] && echo "SELECT 'pos_nn', count(*) FROM phoenix.event_log WHERE source_position IS NULL;")
$([ $log_cols = 1 ] && echo "SELECT 'log_cols', count(*) FROM phoenix.event_log WHERE source IN ('round$r', 'single$r') AND (tag IS DISTINCT FROM 'd$r' OR k2 IS DISTINCT FROM (payload->>'k')::int * 2);")
$([ $ids_cols = 1 ] && echo "SELECT 'ids_cols', count(*) FROM phoenix.event_ids WHERE event_id LIKE 'r${r}\\_%' AND tag IS DISTINCT FROM $r;")
$([ $rep_cols = 1 ] && echo "SELECT 'rep_cols', count(*) FROM reporting.rx WHERE event_id LIKE 'r${r}\\_%' AND tag IS DISTINCT FROM 'd$r';")
$([ $ids_trig = 1 ] && echo "SELECT 'ids_trig', count(*) FROM ((SELECT event_id FROM phoenix.event_ids WHERE event_id LIKE 'r${r}\\_%' EXCEPT ALL SELECT event_id FROM claims WHERE round = $r) UNION ALL (SELECT event_id FROM claims WHERE round = $r EXCEPT ALL SELECT event_id FROM phoenix.event_ids WHERE event_id LIKE 'r${r}\\_%')) x;")
SQL
)
  echo "$out" | sed 's/^/  /'
  expected_counts=$(echo "$out" | awk -F'|' '$1 == "batch_counts" {print $2}')
  [ "$counts" = "$expected_counts" ] || fail "emit_batch counted $counts (accepted rejected), the rules say $expected_counts"
  bad=$(echo "$out" | awk -F'|' '$1 != "batch_counts" && $2 != 0')
  [ -z "$bad" ] || fail "$(echo "$bad" | tr '\n' ' ') (rules: $rules)"
  # (c) the late changes, one at a time, each refused or applied whole
  out=$($PSQL -v dept_chk="$dept_chk" -v set_based="$set_based" <<'SQL'
SELECT set_config('phoenix.set_based_threshold', CASE WHEN :set_based = 1 THEN '1' ELSE '2000' END, false) IS NOT NULL;
SET my.dept_chk = :dept_chk;
DO $$
DECLARE c record; state text;
BEGIN
  FOR c IN SELECT * FROM changes ORDER BY n LOOP
    -- it breaks the CHECK when it would give BAD to a row of the employee
    UPDATE changes SET breaks = current_setting('my.dept_chk') = '1' AND c.dept = 'BAD' AND EXISTS (
      SELECT FROM reporting.rx WHERE emp_id = c.emp_id AND effective_at >= c.valid_from
                                 AND (c.valid_to IS NULL OR effective_at < c.valid_to))
     WHERE n = c.n;
    BEGIN
      PERFORM phoenix.put('emp', c.emp_id, jsonb_build_object('dept', c.dept), c.valid_from, c.valid_to);
      state := NULL;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
    END;
    UPDATE changes SET sqlstate = state WHERE n = c.n;
  END LOOP;
END $$;
SELECT 'changes_wrong', count(*) FROM changes
 WHERE (sqlstate IS NOT NULL) <> breaks OR sqlstate IS DISTINCT FROM CASE WHEN breaks THEN '23514' END;
SELECT 'enrichment_wrong', count(*) FROM reporting.rx
 WHERE emp_dept IS DISTINCT FROM phoenix.get('emp', emp_id, effective_at)->>'dept';
SELECT 'changes_refused', count(*) FILTER (WHERE breaks) || ' of ' || count(*) FROM changes;
SQL
)
  echo "$out" | sed 's/^/  /'
  [ $dept_gen = 1 ] && out="$out
$($PSQL -c "SELECT 'dept_gen', count(*) FROM reporting.rx WHERE dept_upper IS DISTINCT FROM upper(emp_dept)")"
  bad=$(echo "$out" | awk -F'|' '$1 != "changes_refused" && $1 != "t" && $2 != 0')
  [ -z "$bad" ] || fail "$(echo "$bad" | tr '\n' ' ') (rules: $rules)"
done
echo "ok: $rounds rounds, every rule held and nothing else was refused"
