#!/usr/bin/env bash
# Property test of forget with reused values (seeded).  Each round builds a
# random history in which emails move between employees and back (puts and
# entity events, arriving in any order), visits that name their host by
# email, presences by key, and refused inputs of both; then forgets one
# employee K and checks:
#   (a) no row about K — K's history and assertions, events and dead letters
#       whose ref names K by key, or by an email K held at the event's time —
#       holds any PII value K had, anywhere Phoenix stores rows;
#   (b) every other row — reporting, history, assertions, log, event ids,
#       dead letters — is byte for byte as before.
# A row's owner is computed before forget from the current timeline (the
# holder of the email at the event's time, as enrichment finds it); rows in
# no one's period, where only a superseded version gave K the email, count
# as K's.
#   PHOENIX_FORGET_ROUNDS (default 4), PHOENIX_FORGET_SEED (default 1)
set -euo pipefail
. "$PHOENIX_ROOT/scripts/lib.sh"
rounds=${PHOENIX_FORGET_ROUNDS:-4}
seed0=${PHOENIX_FORGET_SEED:-1}
base=$PGDATABASE
dbs=()
cleanup() { for db in "${dbs[@]}"; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

round() {
  local seed=$1 db="${base}_r$1"
  dbs+=("$db")
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" -c "CREATE DATABASE \"$db\"" >/dev/null
  psql -X -q -At -v ON_ERROR_STOP=1 -v seed="$seed" -d "$db" <<'SQL'
SET client_min_messages = warning;
SET timezone = 'UTC';
CREATE EXTENSION phoenix CASCADE;
SELECT setseed(1.0 / (:seed + 1));
SELECT phoenix.create_entity('employee', 'employee_id',
       '{"name":"text","email":"text","department":"text"}', pii => '{name,email}') IS NOT NULL;
SELECT phoenix.create_event_type('employee.updated',
       schema => '{"type":"object","required":["employeeId"],
                   "properties":{"employeeId":{"type":"string"},"email":{"type":"string"},
                                 "department":{"type":"string"},"at":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       entity => 'employee', key_field => 'employeeId',
       sets => '{"email":"email","department":"department"}', time_field => 'at') > 0;
SELECT phoenix.create_event_type('visitor.checked-in',
       schema => '{"type":"object","required":["visitorName","hostEmail","at"],
                   "properties":{"visitorName":{"type":"string","x-pii":true},"hostEmail":{"type":"string"},
                                 "at":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       time_field => 'at', refs => '{"hostEmail":"employee.email"}') > 0;
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","at"],
                   "properties":{"employeeId":{"type":"string"},"badgeName":{"type":"string","x-pii":true},
                                 "at":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       time_field => 'at', refs => '{"employeeId":"employee"}') > 0;
SELECT phoenix.create_projection('visits', source => 'visitor.checked-in',
  columns => '{"visitor_name":"visitorName","host_email":"hostEmail"}',
  enrich  => '[{"entity":"employee","key":"host_email","by":"email",
                "attributes":{"name":"event_time","department":"event_time"}}]') IS NOT NULL;
SELECT phoenix.create_projection('presence', source => 'presence.detected',
  columns => '{"employee_id":"employeeId","badge_name":"badgeName"}',
  enrich  => '[{"entity":"employee","key":"employee_id",
                "attributes":{"name":"event_time","email":"event_time","department":"current"}}]') IS NOT NULL;

-- random history: 6 employees, 4 shared addresses that move between them
-- (and back) every 10 days; an address has one holder at a time, and who has
-- none of them has an address of their own.  Each employee's address of
-- each period is asserted open from the period's start (a put, or an entity
-- event), in random arrival order, so late assertions supersede versions.
CREATE TEMP TABLE emp AS SELECT format('K%s', i) AS k, i, format('Name %s Person', chr(64 + i)) AS name FROM generate_series(1, 6) i;
CREATE FUNCTION pg_temp.pick(a text[]) RETURNS text LANGUAGE sql AS 'SELECT a[1 + floor(random() * cardinality(a))::int]';
CREATE FUNCTION pg_temp.day(n int) RETURNS timestamptz LANGUAGE sql AS
  $$SELECT '2026-01-01'::timestamptz + floor(random() * n) * interval '1 day' + floor(random() * 86400) * interval '1 second'$$;
CREATE TEMP TABLE slot_perm AS
  SELECT s, i, row_number() OVER (PARTITION BY s ORDER BY random()) AS rank
    FROM generate_series(0, 11) s, generate_series(1, 6) i;
CREATE TEMP TABLE moves AS
  SELECT row_number() OVER (ORDER BY random()) AS n, e.k, '2026-01-01'::timestamptz + p.s * interval '10 days' AS at,
         CASE WHEN p.rank <= 4 AND random() < 0.8 THEN format('m%s@x.com', p.rank)
              ELSE format('own%s.%s@x.com', e.i, p.s) END AS e,
         random() AS how
    FROM slot_perm p JOIN emp e USING (i);
SELECT count(phoenix.put('employee', k, jsonb_build_object('name', name, 'department', 'D0'),
              valid_from => '2026-01-01')) >= 0 FROM emp;
SELECT count(*) >= 0 FROM (
  SELECT CASE WHEN how < 0.5
              THEN phoenix.put('employee', k, jsonb_build_object('email', e), valid_from => at)::text
              ELSE phoenix.emit('employee.updated', jsonb_build_object('employeeId', k, 'email', e,
                     'department', 'D' || n, 'at', at), event_id => 'h-' || n)::text END
    FROM moves ORDER BY n) applied;
CREATE TEMP TABLE mail AS SELECT format('m%s@x.com', i) AS e FROM generate_series(1, 4) i;
-- visits by email (some naming no one), presences by key, refused inputs of both
CREATE TEMP TABLE input AS
  SELECT 'v-' || i AS id, 'visitor.checked-in' AS type,
         jsonb_build_object('visitorName', 'Visitor ' || i,
                            'hostEmail', CASE WHEN random() < 0.9 THEN pg_temp.pick(ARRAY(SELECT e FROM mail)) ELSE 'nobody@x.com' END,
                            'at', pg_temp.day(130)) AS payload
    FROM generate_series(1, 70) i
  UNION ALL
  SELECT 'p-' || i, 'presence.detected',
         (SELECT jsonb_build_object('employeeId', k, 'badgeName', name, 'at', pg_temp.day(130))
            FROM emp ORDER BY random() + i * 0 LIMIT 1)
    FROM generate_series(1, 30) i;
-- a tenth refused: an unknown member (their time still readable)
UPDATE input SET id = replace(replace(id, 'v-', 'dv-'), 'p-', 'dp-'), payload = payload || '{"refused":true}'
 WHERE random() < 0.1;
SELECT (SELECT sum(accepted + rejected) FROM phoenix.emit_batch(
          (SELECT jsonb_agg(jsonb_build_object('type', type, 'event_id', id, 'payload', payload) ORDER BY random()) FROM input),
          source => 'property')) = (SELECT count(*) FROM input);

-- K: the employee whose address moved most
CREATE TEMP TABLE k AS
  SELECT employee_id AS k FROM phoenix_entity.employee_history
   GROUP BY 1 ORDER BY count(DISTINCT email) DESC, 1 LIMIT 1;
-- owner of each input: by key, or the current holder of the address at its time
-- (as enrichment finds it); no holder: K when a superseded version of K had
-- it then, else no one
CREATE TEMP TABLE owner AS
  SELECT i.id,
         CASE WHEN i.payload ? 'employeeId' THEN i.payload->>'employeeId'
              ELSE coalesce(
                (SELECT h.employee_id FROM phoenix_entity.employee_history h
                  WHERE h.recorded_to = 'infinity' AND h.email = i.payload->>'hostEmail'
                    AND (i.payload->>'at')::timestamptz >= h.valid_from AND (i.payload->>'at')::timestamptz < h.valid_to
                  LIMIT 1),
                (SELECT h.employee_id FROM phoenix_entity.employee_history h, k
                  WHERE h.employee_id = k.k AND h.email = i.payload->>'hostEmail'
                    AND (i.payload->>'at')::timestamptz >= h.valid_from AND (i.payload->>'at')::timestamptz < h.valid_to
                  LIMIT 1), '-') END AS owner
    FROM input i
  UNION ALL SELECT 'h-' || n, k FROM moves WHERE how >= 0.5;
-- K's values: every name and address K ever had, and what K's events carry
CREATE TEMP TABLE kvalues AS
  SELECT DISTINCT v FROM (
    SELECT name AS v FROM phoenix_entity.employee_history, k WHERE employee_id = k.k
    UNION SELECT email FROM phoenix_entity.employee_history, k WHERE employee_id = k.k
    UNION SELECT coalesce(i.payload->>'visitorName', i.payload->>'badgeName')
      FROM input i JOIN owner o USING (id), k WHERE o.owner = k.k) x WHERE v IS NOT NULL;

CREATE FUNCTION pg_temp.all_rows() RETURNS TABLE (relation text, row_text text) LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel, coalesce(pg_partition_root(c.oid), c.oid)::regclass AS root
             FROM pg_class c
            WHERE c.relnamespace::regnamespace::text IN ('phoenix', 'phoenix_entity', 'reporting')
              AND c.relkind = 'r' ORDER BY 1
  LOOP
    RETURN QUERY EXECUTE format('SELECT %L::text, t::text FROM %s t', r.root, r.rel);
  END LOOP;
END $$;
-- whose a row is: the owners of the ids it carries, and the keys it names
CREATE FUNCTION pg_temp.row_owners(row_text text) RETURNS text[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(DISTINCT o), '{}') FROM (
    SELECT owner FROM owner WHERE id IN (SELECT m[1] FROM regexp_matches(row_text, '\m(d?[vph]-[0-9]+)\M', 'g') m)
    UNION SELECT m[1] FROM regexp_matches(row_text, '\m(K[0-9])\M', 'g') m) x(o)
$$;
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.all_rows();

SELECT phoenix.forget('employee', k, reason => 'property') IS NOT NULL FROM k;

CREATE TEMP TABLE after AS SELECT * FROM pg_temp.all_rows();
-- (b) rows that changed or vanished: each must be K's alone
SELECT 'CHANGED-OTHER ' || relation || ' ' || row_text
  FROM (SELECT * FROM before EXCEPT ALL SELECT * FROM after) c, k
 WHERE relation NOT IN ('phoenix.forgotten_keys', 'phoenix.forgotten_values', 'phoenix.erasures')
   AND pg_temp.row_owners(row_text) <> ARRAY[k.k];
-- (a) rows of K that still hold a value of K
SELECT 'PII-LEFT ' || relation || ' ' || v || ' ' || row_text
  FROM after, kvalues, k
 WHERE strpos(row_text, v) > 0 AND pg_temp.row_owners(row_text) = ARRAY[k.k];
SELECT format('round: K=%s values=%s rows=%s changed=%s inputs=%s (visits of K %s, of others %s, of no one %s)',
              k.k, (SELECT count(*) FROM kvalues), (SELECT count(*) FROM before),
              (SELECT count(*) FROM (SELECT * FROM before EXCEPT ALL SELECT * FROM after) c),
              (SELECT count(*) FROM input),
              (SELECT count(*) FROM owner WHERE id LIKE '%v-%' AND owner = k.k),
              (SELECT count(*) FROM owner WHERE id LIKE '%v-%' AND owner NOT IN (k.k, '-')),
              (SELECT count(*) FROM owner WHERE id LIKE '%v-%' AND owner = '-'))
  FROM k;
SQL
}

fail=0
for r in $(seq 0 $((rounds - 1))); do
  seed=$((seed0 + r))
  out=$(round "$seed")
  grep -v '^t$' <<<"$out" | grep -v '^$' | sed "s/^/seed $seed: /" | head -20
  if grep -qE '^(CHANGED-OTHER|PII-LEFT)' <<<"$out"; then fail=1; fi
done
[ $fail = 0 ] || { echo "FAIL: forget touched others' rows or left K's values (seeds above)" >&2; exit 1; }
echo ok
