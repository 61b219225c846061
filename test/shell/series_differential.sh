#!/usr/bin/env bash
# Differential test of booking series: a seeded random generator books
# series (daily, every k days, weekdays of a week; COUNT or an UNTIL instant;
# open-ended ones cut at the horizon), amends them (new rule, start, zone or
# skipped dates, alone or several in one batch), moves desks (open and
# bounded corrections) and renames employees.  Zones include daylight-saving
# changes (America/New_York, Europe/Berlin) and Lord Howe's half hour.  After
# every step the projection must equal a plain-SQL recomputation — the
# latest event of each series, its occurrences computed with generate_series
# and AT TIME ZONE (not libical), each enriched as of its own instant — row
# for row (EXCEPT ALL both ways); and no row whose content did not change
# may have taken a new change_seq.
#   PHOENIX_SEED   generator seed (default 20261206; make test uses the default)
#   PHOENIX_STEPS  number of steps (default 1000)
set -euo pipefail
SEED=${PHOENIX_SEED:-20261206}
STEPS=${PHOENIX_STEPS:-1000}
echo "series differential test: seed $SEED, $STEPS steps"
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -v seed="$SEED" -v steps="$STEPS" <<'SQL'
\set VERBOSITY terse
SET client_min_messages = warning;
SET timezone = 'UTC';
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text"}');
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text"}');
SELECT phoenix.create_event_type('desk.series',
  schema => '{"type":"object","properties":{"seriesId":{"type":"string"},"employeeId":{"type":"string"},
              "deskId":{"type":"string"},"at":{"type":"string","format":"date-time"},
              "rrule":{"type":"string"},"tz":{"type":"string"},"skip":{"type":"array"}}}',
  time_field => 'at', recurrence => '{"rule":"rrule","timezone":"tz","except":"skip","series":"seriesId"}');
SELECT phoenix.create_projection('bookings', source => 'desk.series',
  columns => '{"employee_id":"employeeId","desk_id":"deskId"}',
  enrich => '[{"entity":"desk","key":"desk_id","attributes":{"room":"event_time"}},
              {"entity":"employee","key":"employee_id","attributes":{"name":"current"}}]',
  derive => '{"dow":"extract(isodow from occurrence_date)::int"}', horizon => '30 days');

-- The recomputation.  The generator keeps each rule's parts in the payload
-- ("kind", "n", "k", "days", "until"); the rule string is only for Phoenix.
CREATE FUNCTION h_desk(k text, t timestamptz) RETURNS SETOF phoenix_entity.desk_history LANGUAGE sql STABLE AS
  $$ SELECT * FROM phoenix_entity.desk_history WHERE desk_id = k AND recorded_to = 'infinity' AND valid_from <= t AND valid_to > t $$;
CREATE FUNCTION h_emp(k text, t timestamptz) RETURNS SETOF phoenix_entity.employee_history LANGUAGE sql STABLE AS
  $$ SELECT * FROM phoenix_entity.employee_history WHERE employee_id = k AND recorded_to = 'infinity' AND valid_from <= t AND valid_to > t $$;
CREATE FUNCTION occurrences(p jsonb) RETURNS TABLE(local timestamp, at timestamptz) LANGUAGE sql STABLE AS $$
  WITH s AS (SELECT (p->>'at')::timestamptz AT TIME ZONE (p->>'tz') AS start, p->>'tz' AS tz,
                    (p->>'n')::int AS n, (p->>'k')::int AS k, p->>'kind' AS kind,
                    (p->>'until')::timestamptz AS until),
       raw AS (
         SELECT s.start + i * s.k * interval '1 day' AS local, i AS ord
           FROM s, generate_series(0, coalesce(s.n - 1, 45)) i
          WHERE s.kind = 'daily'
         UNION ALL
         SELECT d AS local, row_number() OVER (ORDER BY d) - 1 AS ord
           FROM s, generate_series(s.start, s.start + interval '60 days', interval '1 day') d
          WHERE s.kind = 'weekdays' AND extract(isodow FROM d)::text IN (SELECT jsonb_array_elements_text(p->'days'))),
       counted AS (
         SELECT r.local, r.local AT TIME ZONE s.tz AS at FROM raw r, s
          WHERE (s.n IS NULL OR r.ord < s.n) AND (s.until IS NULL OR r.local AT TIME ZONE s.tz <= s.until))
  SELECT local, at FROM counted
   WHERE at < now() + interval '30 days'
     AND local::date::text NOT IN (SELECT jsonb_array_elements_text(coalesce(p->'skip', '[]')))
$$;
CREATE VIEW expected AS
SELECT (e.payload->>'seriesId') || '@' || to_char(o.local, 'YYYY-MM-DD"T"HH24:MI:SS') AS occurrence_id,
       e.payload->>'seriesId' AS series_id, o.at AS effective_at, o.local::date AS occurrence_date,
       e.payload->>'employeeId' AS employee_id, e.payload->>'deskId' AS desk_id,
       dh.room AS desk_room, eh.name AS employee_name, extract(isodow FROM o.local::date)::int AS dow
  FROM (SELECT DISTINCT ON (payload->>'seriesId') * FROM phoenix.event_log
         WHERE event_type = 'desk.series' ORDER BY payload->>'seriesId', position DESC) e
  CROSS JOIN LATERAL occurrences(e.payload) o
  LEFT JOIN LATERAL h_desk(e.payload->>'deskId', o.at) dh ON true
  LEFT JOIN LATERAL h_emp(e.payload->>'employeeId', now()) eh ON true;
CREATE VIEW actual AS
SELECT occurrence_id, series_id, effective_at, occurrence_date, employee_id, desk_id, desk_room,
       employee_name, dow FROM reporting.bookings;

CREATE FUNCTION pick(prefix text, n int) RETURNS text LANGUAGE sql AS $$ SELECT prefix || (1 + floor(random() * n))::int $$;
-- a random series event: a start in February-May 2026 (across the zones'
-- changes) or near now (open-ended rules meet the horizon), a rule, skips
CREATE FUNCTION series_payload(sid text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  zones text[] := '{UTC,America/New_York,Europe/Berlin,Australia/Lord_Howe,Asia/Kolkata}';
  tz text := zones[1 + floor(random() * 5)::int];
  local timestamp; at timestamptz; kind text; n int; k int; days jsonb; until timestamptz;
  r double precision; near boolean := random() >= 0.85;
  rule text; skip jsonb; wd text[] := '{MO,TU,WE,TH,FR,SA,SU}';
BEGIN
  IF NOT near THEN
    local := timestamp '2026-02-25' + floor(random() * 50) * interval '1 day'
             + (CASE WHEN random() < 0.1 THEN interval '2 hours 30 minutes'
                     ELSE floor(random() * 48) * interval '30 minutes' END);
  ELSE
    local := date_trunc('day', now() AT TIME ZONE tz) - floor(random() * 10) * interval '1 day' + interval '9 hours';
  END IF;
  at := local AT TIME ZONE tz;
  local := at AT TIME ZONE tz;   -- what a wall time in a gap becomes
  IF random() < 0.6 THEN
    kind := 'daily'; k := 1 + floor(random() * 3)::int;
    rule := 'FREQ=DAILY;INTERVAL=' || k;
  ELSE
    kind := 'weekdays'; k := 1;
    SELECT jsonb_agg(DISTINCT d ORDER BY d) INTO days FROM (
      SELECT extract(isodow FROM local)::int AS d
      UNION SELECT 1 + floor(random() * 7)::int FROM generate_series(1, 1 + floor(random() * 3)::int)) x;
    rule := 'FREQ=WEEKLY;BYDAY=' || (SELECT string_agg(wd[d::int], ',' ORDER BY d::int) FROM jsonb_array_elements_text(days) d);
  END IF;
  r := random();
  IF r < 0.6 OR (NOT near AND r >= 0.85) THEN
    n := 1 + floor(random() * 8)::int; rule := rule || ';COUNT=' || n;
  ELSIF r < 0.85 THEN
    until := at + floor(random() * 20) * interval '1 day' + floor(random() * 48) * interval '30 minutes';
    rule := rule || ';UNTIL=' || to_char(until AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"');
  END IF;  -- else (a start near now) open-ended: cut at the horizon
  SELECT coalesce(jsonb_agg((local + floor(random() * 10) * interval '1 day')::date::text), '[]')
    INTO skip FROM generate_series(1, floor(random() * 3)::int);
  RETURN jsonb_build_object('seriesId', sid, 'employeeId', pick('E', 6), 'deskId', pick('D', 5),
           'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'tz', tz, 'rrule', rule,
           'skip', skip, 'kind', kind, 'k', k, 'n', n, 'days', days, 'until', until);
END $$;

-- an amendment of a series' last event, as people make them: skip one of
-- its days, book fewer or more days, move it to another desk, unskip
CREATE FUNCTION amended(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r double precision := random(); n int := 1 + floor(random() * 8)::int;
BEGIN
  IF r < 0.45 THEN
    RETURN jsonb_set(p, '{skip}', coalesce(p->'skip', '[]') || to_jsonb(((p->>'at')::timestamptz AT TIME ZONE (p->>'tz')
             + floor(random() * 8) * (p->>'k')::int * interval '1 day')::date::text));
  ELSIF r < 0.7 AND p->>'n' IS NOT NULL THEN
    RETURN jsonb_set(jsonb_set(p, '{n}', to_jsonb(n)), '{rrule}',
                     to_jsonb(regexp_replace(p->>'rrule', 'COUNT=[0-9]+', 'COUNT=' || n)));
  ELSIF r < 0.85 THEN
    RETURN jsonb_set(p, '{deskId}', to_jsonb(pick('D', 5)));
  END IF;
  RETURN jsonb_set(p, '{skip}', '[]');
END $$;

CREATE PROCEDURE run(seed double precision, steps int) LANGUAGE plpgsql AS $$
DECLARE
  r double precision; op text; a timestamptz; b timestamptz; d bigint; nseries int := 0; sid text;
BEGIN
  PERFORM setseed(seed);
  CREATE TEMP TABLE before (LIKE reporting.bookings);
  CREATE TEMP TABLE want AS SELECT * FROM expected WHERE false;
  FOR i IN 1..steps LOOP
    PERFORM set_config('phoenix.set_based_threshold', CASE WHEN random() < 0.3 THEN '1' ELSE '2000' END, false);
    PERFORM set_config('phoenix.rows_in_c', CASE WHEN random() < 0.5 THEN 'off' ELSE 'on' END, false);
    TRUNCATE before;
    INSERT INTO before SELECT * FROM reporting.bookings;
    r := random();
    a := timestamptz '2026-02-20' + random() * interval '100 days';
    b := a + (1 + random() * 10) * interval '1 day';
    IF r < 0.25 OR nseries = 0 THEN
      op := 'new series';
      nseries := nseries + 1;
      PERFORM phoenix.emit('desk.series', series_payload('S' || nseries));
    ELSIF r < 0.50 THEN
      op := 'amend a series';
      sid := 'S' || (1 + floor(random() * nseries))::int;
      PERFORM phoenix.emit('desk.series', CASE WHEN random() < 0.7
        THEN coalesce(amended((SELECT payload FROM phoenix.event_log WHERE event_type = 'desk.series'
                                 AND payload->>'seriesId' = sid ORDER BY position DESC LIMIT 1)), series_payload(sid))
        ELSE series_payload(sid) END);
    ELSIF r < 0.58 THEN
      op := 'emit_batch of series (some amended twice)';
      PERFORM phoenix.emit_batch((SELECT jsonb_agg(jsonb_build_object('type', 'desk.series', 'payload',
                series_payload('S' || (1 + floor(random() * (nseries + 2)))::int)))
                FROM generate_series(1, 1 + floor(random() * 6)::int)));
      nseries := nseries + 2;
    ELSIF r < 0.78 THEN
      op := 'desk move';
      IF random() < 0.6 THEN PERFORM phoenix.put('desk', pick('D', 5), jsonb_build_object('room', pick('Room ', 9)), a);
      ELSE PERFORM phoenix.put('desk', pick('D', 5), jsonb_build_object('room', pick('Room ', 9)), a, b); END IF;
    ELSIF r < 0.92 THEN
      op := 'rename';
      PERFORM phoenix.put('employee', pick('E', 6), jsonb_build_object('name', pick('Name', 20)),
                          CASE WHEN random() < 0.8 THEN a ELSE now() - interval '1 hour' END);
    ELSE
      op := 'retract desk';
      PERFORM phoenix.retract('desk', pick('D', 5), a, b);
    END IF;
    IF i % 100 = 1 THEN
      ANALYZE phoenix.event_log, phoenix_entity.desk_history, phoenix_entity.employee_history, reporting.bookings;
    END IF;
    TRUNCATE want;
    INSERT INTO want SELECT * FROM expected;
    SELECT count(*) INTO d FROM ((TABLE actual EXCEPT ALL TABLE want) UNION ALL (TABLE want EXCEPT ALL TABLE actual)) x;
    IF d > 0 THEN RAISE EXCEPTION 'step %: % — the series projection differs from its recomputation in % rows', i, op, d; END IF;
    SELECT count(*) INTO d FROM before o JOIN reporting.bookings n USING (occurrence_id)
     WHERE (o.series_id, o.effective_at, o.occurrence_date, o.employee_id, o.desk_id, o.desk_room, o.employee_name, o.dow)
           IS NOT DISTINCT FROM
           (n.series_id, n.effective_at, n.occurrence_date, n.employee_id, n.desk_id, n.desk_room, n.employee_name, n.dow)
       AND o.change_seq <> n.change_seq;
    IF d > 0 THEN RAISE EXCEPTION 'step %: % — % unchanged rows took a new change_seq', i, op, d; END IF;
  END LOOP;
END $$;

CALL run(((:seed % 2000000) - 1000000) / 1000001.0, :steps);
SELECT format('ok: %s occurrence rows of %s series, %s series events',
              (SELECT count(*) FROM reporting.bookings), (SELECT count(DISTINCT series_id) FROM reporting.bookings),
              (SELECT count(*) FROM phoenix.event_log WHERE event_type = 'desk.series')) AS result;
-- a rebuild from the log gives the same rows again
SELECT phoenix.rebuild_projection('bookings') >= 0 AS rebuilt;
DO $$ BEGIN
  IF (SELECT count(*) FROM ((TABLE actual EXCEPT ALL TABLE expected) UNION ALL (TABLE expected EXCEPT ALL TABLE actual)) x) > 0
  THEN RAISE EXCEPTION 'rebuild differs'; END IF;
END $$;
SQL
