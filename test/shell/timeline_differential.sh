#!/usr/bin/env bash
# Differential test of the timeline engine: a seeded random mix of open puts,
# bounded corrections and retractions across many keys; after every step the
# key's current versions must equal a from-scratch recomputation, in plain SQL,
# of docs/design.md's rule over every assertion recorded so far.
#   PHOENIX_SEED (default 20261127)   PHOENIX_STEPS (default 3000)
set -euo pipefail
. "$PHOENIX_ROOT/test/seed.sh"; phoenix_seed 20261127; seed=$PHOENIX_SEED_VALUE
steps=${PHOENIX_STEPS:-3000}
echo "steps=$steps"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -v seed="$seed" -v steps="$steps" <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text","floor_id":"text","seats":"integer"}');

-- The oracle: for every elementary interval between assertion boundaries, each
-- attribute takes the value of the latest recorded assertion covering it (an
-- open assertion covers up to the next open one of the same attribute);
-- absent everywhere = no version; equal neighbours merge.
CREATE FUNCTION oracle(k text) RETURNS TABLE (valid_from timestamptz, valid_to timestamptz, attributes jsonb)
LANGUAGE sql STABLE AS $$
WITH a AS (
  SELECT assertion_id, valid_from, valid_to, is_open, attributes FROM phoenix.assertions
   WHERE entity_id = (SELECT entity_id FROM phoenix.entities WHERE name = 'desk') AND key = k),
cov AS (
  SELECT a.assertion_id, x.attr, a.attributes -> x.attr AS val, a.valid_from AS cf,
         CASE WHEN a.is_open
              THEN coalesce((SELECT min(b.valid_from) FROM a b
                              WHERE b.is_open AND b.valid_from > a.valid_from AND b.attributes ? x.attr),
                            'infinity')
              ELSE a.valid_to END AS ct
    FROM a, jsonb_object_keys(a.attributes) x(attr)),
pts AS (SELECT cf AS p FROM cov UNION SELECT ct FROM cov),
seg AS (SELECT p AS sf, lead(p) OVER (ORDER BY p) AS st FROM pts),
segval AS (
  SELECT s.sf, s.st,
         (SELECT coalesce(jsonb_object_agg(w.attr, w.val) FILTER (WHERE w.val <> 'null'::jsonb), '{}')
            FROM (SELECT DISTINCT ON (c.attr) c.attr, c.val FROM cov c
                   WHERE c.cf <= s.sf AND s.sf < c.ct ORDER BY c.attr, c.assertion_id DESC) w) AS attrs
    FROM seg s WHERE s.st IS NOT NULL),
flagged AS (
  SELECT *, CASE WHEN lag(st) OVER (ORDER BY sf) = sf AND lag(attrs) OVER (ORDER BY sf) = attrs
                 THEN 0 ELSE 1 END AS starts
    FROM segval WHERE attrs <> '{}'),
islands AS (SELECT *, sum(starts) OVER (ORDER BY sf) AS grp FROM flagged)
SELECT min(sf), max(st), attrs FROM islands GROUP BY grp, attrs
$$;

CREATE FUNCTION differs(k text) RETURNS bigint LANGUAGE sql STABLE AS $$
  WITH o AS (SELECT * FROM oracle(k)),
       h AS (SELECT valid_from, valid_to, attributes FROM phoenix.history('desk', k))
  SELECT (SELECT count(*) FROM (TABLE o EXCEPT ALL TABLE h) x) + (SELECT count(*) FROM (TABLE h EXCEPT ALL TABLE o) y)
$$;

SELECT setseed((:seed % 1000000) / 1000000.0);
SET phoenix_test.steps = :steps;
DO $$
DECLARE
  steps int := current_setting('phoenix_test.steps')::int;
  k text; op float8; t0 timestamptz; t1 timestamptz; attrs jsonb; d bigint;
  rooms text[] := ARRAY['A','B','C','D'];
BEGIN
  FOR i IN 1..steps LOOP
    k := 'D' || (1 + floor(random() * 25))::int;
    t0 := '2026-11-01'::timestamptz + floor(random() * 40) * interval '1 day';
    t1 := t0 + (1 + floor(random() * 10)) * interval '1 day';
    attrs := '{}';
    IF random() < 0.7 THEN attrs := attrs || jsonb_build_object('room', rooms[1 + floor(random() * 4)::int]); END IF;
    IF random() < 0.4 THEN attrs := attrs || jsonb_build_object('floor_id', CASE WHEN random() < 0.2 THEN NULL ELSE 'F' || floor(random() * 3)::int END); END IF;
    IF random() < 0.3 OR attrs = '{}' THEN attrs := attrs || jsonb_build_object('seats', floor(random() * 3)::int); END IF;
    op := random();
    IF op < 0.55 THEN
      PERFORM phoenix.put('desk', k, attrs, t0);                      -- open (late, early: any order)
    ELSIF op < 0.9 THEN
      PERFORM phoenix.put('desk', k, attrs, t0, t1);                  -- bounded correction
    ELSIF op < 0.97 THEN
      PERFORM phoenix.retract('desk', k, t0, t1);
    ELSE
      PERFORM phoenix.retract('desk', k, t0, 'infinity');
    END IF;
    d := differs(k);
    IF d <> 0 THEN
      RAISE EXCEPTION 'step %: key % differs from the oracle in % rows (op %, attrs %, % .. %)', i, k, d, op, attrs, t0, t1;
    END IF;
  END LOOP;
  RAISE NOTICE 'timeline differential: % steps, every key equal to the oracle after every step', steps;
END $$;

-- and at the end, every key; then phoenix.get (the as-of lookup, not the
-- history scan) at every half day and at each boundary's last microsecond,
-- against the oracle's version covering that instant.
SELECT count(*) AS keys_differing, count(*) > 0 AS some_keys_differ
  FROM (SELECT DISTINCT key FROM phoenix.assertions) k WHERE differs(k.key) <> 0
\gset
\if :some_keys_differ
  \echo FAIL: :keys_differing keys differ
  SELECT 1/0;
\endif
CREATE TEMP TABLE probes AS
  SELECT k.key, t.at
    FROM (SELECT DISTINCT key FROM phoenix.assertions) k,
         LATERAL (SELECT generate_series('2026-10-31'::timestamptz, '2026-12-25', '12 hours') AS at
                  UNION SELECT o.valid_from - interval '1 microsecond' FROM oracle(k.key) o
                  UNION SELECT o.valid_from FROM oracle(k.key) o) t;
SELECT count(*) AS lookups_differing, count(*) > 0 AS some_lookups_differ,
       min(p.key || ' at ' || p.at) AS first_difference
  FROM probes p
 WHERE phoenix.get('desk', p.key, valid_at => p.at) IS DISTINCT FROM
       (SELECT o.attributes FROM oracle(p.key) o WHERE o.valid_from <= p.at AND p.at < o.valid_to)
\gset
\if :some_lookups_differ
  \echo FAIL: :lookups_differing as-of lookups differ from the oracle, first :first_difference
  SELECT 1/0;
\endif
SELECT count(*) AS probes FROM probes
\gset
\echo as-of lookups checked: :probes
SQL
echo "ok"
