-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_memo;
CREATE DATABASE regress_projection_memo;
\c regress_projection_memo
\set ECHO all
-- A backend remembers the entity versions its arriving rows read
-- (arrival.c's VersionMemo), from one emit to the next.  A version
-- remembered by an earlier emit is used again only once its row is read
-- again and is still the current version it was.  Each case below changes
-- a remembered version between two emits in this session — a correction,
-- a period cut short, a retraction, a rolled-back change, forget, a table
-- rewrite — and the second emit's row must read what the history holds now.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_entity('person', 'person_id', '{"name":"text","team":"text"}', pii => '{name}');
SELECT phoenix.create_event_type('seen',
  schema => '{"type":"object","properties":{"who":{"type":"string"},"n":{"type":"integer"},
              "at":{"type":"string","format":"date-time"}}}', time_field => 'at', refs => '{"who":"person"}');
SELECT phoenix.create_projection('sightings', source => 'seen',
  columns => '{"who":"who","n":"n"}',
  enrich => '[{"entity":"person","key":"who","attributes":{"team":"event_time","name":"current"}}]') IS NOT NULL AS created;
SELECT count(phoenix.put('person', 'P' || i, jsonb_build_object('name', 'Name ' || i, 'team', 'A'), '2025-01-01'))
  FROM generate_series(1, 40) i;

-- emit <n> about <who>; its row as the table holds it
CREATE FUNCTION seen(who text, n int, at text DEFAULT '2025-03-01T00:00:00Z')
RETURNS TABLE (event int, person text, team text, name text) LANGUAGE sql AS $$
  SELECT phoenix.emit('seen', jsonb_build_object('who', who, 'n', n, 'at', at));
  SELECT s.n, s.who, s.person_team, s.person_name FROM reporting.sightings s WHERE s.n = seen.n;
$$;

-- remembered, then used again unchanged
SELECT * FROM seen('P1', 1);
SELECT * FROM seen('P1', 2);
-- a correction of the remembered version (the same period, new values)
SELECT phoenix.put('person', 'P1', '{"team":"B","name":"Renamed"}', '2025-01-01');
SELECT * FROM seen('P1', 3);
-- the remembered version cut short: the event's time now in another one
SELECT phoenix.put('person', 'P1', '{"team":"C"}', '2025-02-15');
SELECT * FROM seen('P1', 4);
-- a retraction of the period the event falls in
SELECT phoenix.retract('person', 'P1', '2025-02-15');
SELECT * FROM seen('P1', 5);
-- a change rolled back: its versions were read by an emit inside it
SELECT * FROM seen('P2', 6);
BEGIN;
SELECT phoenix.put('person', 'P2', '{"team":"Z","name":"Never"}', '2025-01-01');
SELECT * FROM seen('P2', 7);
ROLLBACK;
SELECT * FROM seen('P2', 8);
-- a savepoint rolled back, the same
BEGIN;
SAVEPOINT s;
SELECT phoenix.put('person', 'P2', '{"team":"Y"}', '2025-01-01');
SELECT * FROM seen('P2', 9);
ROLLBACK TO SAVEPOINT s;
SELECT * FROM seen('P2', 10);
COMMIT;
-- a version ending exactly now (the transaction's start): the row's
-- `current` name is the next one's, whether the version at the event's time
-- was read from the table (first) or remembered (second)
BEGIN;
SELECT phoenix.put('person', 'P5', '{"name":"Old"}', '2025-01-01', now());
SELECT phoenix.put('person', 'P5', '{"name":"New"}', now());
SELECT * FROM seen('P5', 13);
SELECT * FROM seen('P5', 14);
COMMIT;
-- this transaction's own change after its emit remembered the version (a
-- remembered version is used unread only while this transaction holds no
-- write lock on the history)
SELECT phoenix.put('person', 'R' || i, '{"name":"R","team":"A"}', '2025-01-01') IS NOT NULL AS put
  FROM generate_series(1, 2) i;
BEGIN;
SELECT * FROM seen('R1', 17);
SELECT phoenix.put('person', 'R1', '{"team":"W"}', '2025-01-01');
SELECT * FROM seen('R1', 18);
COMMIT;
-- the same change committed with nothing after it: the next transaction
-- reads the version again (this backend's commit lets the next one use its
-- memory unread only when it wrote no remembered history)
BEGIN;
SELECT * FROM seen('R2', 19);
SELECT phoenix.put('person', 'R2', '{"team":"V"}', '2025-01-01');
COMMIT;
SELECT * FROM seen('R2', 20);
-- keys of each length the memory keeps (under 16 bytes inside its entry,
-- longer ones beside it): each key's correction is seen, and keys that
-- share their first 16 bytes stay apart, even the last two, which share
-- their hash too (the memory's key) and so take each other's place in it
CREATE TABLE long_keys (i int, k text);
INSERT INTO long_keys VALUES (1, 'fifteen-bytes-x'), (2, 'sixteen-bytes-xx'),
  (3, 'a-long-person-key-0001'), (4, 'a-long-person-key-0002'),
  (5, 'a-long-person-key-0011289'), (6, 'a-long-person-key-0166996');
SELECT count(DISTINCT hashtext(k)) = 1 AS same_hash FROM long_keys WHERE i IN (5, 6);
SELECT count(phoenix.put('person', k, jsonb_build_object('name', k, 'team', 'L' || i), '2025-01-01')) FROM long_keys;
SELECT s.* FROM long_keys, LATERAL seen(k, 600 + i) s ORDER BY i;
SELECT s.* FROM long_keys, LATERAL seen(k, 610 + i) s ORDER BY i;
SELECT count(phoenix.put('person', k, jsonb_build_object('team', 'N' || i), '2025-01-01')) FROM long_keys WHERE i IN (2, 3, 6);
SELECT s.* FROM long_keys, LATERAL seen(k, 620 + i) s ORDER BY i;
-- ...and while no transaction ends, remembered versions are used without
-- their rows being read again: a second pass over the same 30 people in one
-- transaction reads no block of the history.  A transaction ending elsewhere
-- in the cluster meanwhile makes a pass read them again, hence up to three
-- tries.  Under SERIALIZABLE every pass reads them (the predicate locks).
-- The same with keys kept beside their entries (16 bytes and longer).
SELECT count(phoenix.put('person', p || i, '{"name":"M","team":"A"}', '2025-01-01'))
  FROM unnest(ARRAY['M', 'long-person-key-of-M']) p, generate_series(1, 30) i;
CREATE FUNCTION second_pass_unread(base int, prefix text DEFAULT 'M') RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  history regclass := 'phoenix_entity.person_history';
  before bigint;
BEGIN
  FOR try IN 1..3 LOOP
    PERFORM seen(prefix || i, base + try * 100 + i) FROM generate_series(1, 30) i;
    before := pg_stat_get_xact_blocks_fetched(history);
    PERFORM seen(prefix || i, base + try * 100 + 50 + i) FROM generate_series(1, 30) i;
    IF pg_stat_get_xact_blocks_fetched(history) = before THEN
      RETURN true;
    END IF;
  END LOOP;
  RETURN false;
END
$$;
SELECT second_pass_unread(2000);
SELECT second_pass_unread(2500, 'long-person-key-of-M');
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT second_pass_unread(3000);
COMMIT;
-- forget: nothing of the person comes back from memory
SELECT * FROM seen('P3', 11);
SELECT phoenix.forget('person', 'P3') IS NOT NULL AS forgotten;
SELECT event, person, team, name LIKE 'forgotten-%' AS pseudonym FROM seen('P3', 12);
-- forget also empties what every backend remembers of that history (at
-- its next row), not only what it remembers of the person
SELECT count(phoenix.put('person', 'Q' || i, jsonb_build_object('name', 'Q ' || i, 'team', 'A'), '2025-01-01'))
  FROM generate_series(1, 300) i;
SELECT count(*) FROM generate_series(1, 300) i, LATERAL seen('Q' || i, 1000 + i) s;
SELECT sum(used_bytes) > 20000 AS remembering FROM pg_backend_memory_contexts WHERE name = 'phoenix arrival memo';
SELECT phoenix.forget('person', 'Q1') IS NOT NULL AS forgotten;
SELECT * FROM seen('Q2', 1301);
SELECT sum(used_bytes) < 4000 AS emptied FROM pg_backend_memory_contexts WHERE name = 'phoenix arrival memo';
-- the history rewritten (another file; rows at other places): every
-- remembered person is read again, and vacuum may cut the table short
SELECT count(*) FROM generate_series(4, 40) i, LATERAL seen('P' || i, 100 + i) s;
SELECT count(phoenix.put('person', 'P' || i, jsonb_build_object('team', 'D' || i), '2025-01-01'))
  FROM generate_series(4, 39) i;
VACUUM FULL phoenix_entity.person_history;
SELECT count(*) FILTER (WHERE s.team = 'D' || i) AS changed, count(*) FILTER (WHERE s.team = 'A' AND i = 40) AS unchanged
  FROM generate_series(4, 40) i, LATERAL seen('P' || i, 200 + i) s;
SELECT count(phoenix.put('person', 'P' || i, jsonb_build_object('team', 'E' || i), '2025-01-01'))
  FROM generate_series(4, 39) i;
VACUUM phoenix_entity.person_history;
SELECT count(*) FILTER (WHERE s.team = 'E' || i) AS changed, count(*) FILTER (WHERE s.team = 'A' AND i = 40) AS unchanged
  FROM generate_series(4, 40) i, LATERAL seen('P' || i, 300 + i) s;

-- phoenix.version_memo = 0: nothing remembered, the same rows
SET phoenix.version_memo = 0;
SELECT * FROM seen('P2', 15);
SELECT * FROM seen('P2', 16);
SET phoenix.version_memo = '64kB';
SELECT count(*) FROM generate_series(4, 40) i, LATERAL seen('P' || i, 400 + i) s WHERE s.team = 'E' || i OR i = 40;
RESET phoenix.version_memo;
-- every row beside a rebuild: none differs
CREATE TABLE before AS SELECT n, who, person_team, person_name FROM reporting.sightings;
SELECT phoenix.rebuild_projection('sightings') IS NOT NULL AS rebuilt;
SELECT count(*) AS differing FROM (
  (SELECT * FROM before EXCEPT SELECT n, who, person_team, person_name FROM reporting.sightings)
  UNION ALL
  (SELECT n, who, person_team, person_name FROM reporting.sightings EXCEPT SELECT * FROM before)) d;
