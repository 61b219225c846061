-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_projection_key_locks;
CREATE DATABASE regress_projection_key_locks;
\c regress_projection_key_locks
\set ECHO all
-- An arrival share-locks the keys its payloads name, one advisory lock per
-- hash bucket of a step's key (projection.c, projection_lock_payload_keys),
-- so that a cascade of one of those keys waits for it.  The buckets are
-- marked first and only the distinct ones locked: here every bucket a key
-- falls in, as a cascade computes it (hashtext & 255), and no other.
-- Then the same session goes on after the extension is dropped and created
-- again: its cached OIDs (the change-number sequence, the log's) are
-- forgotten through Phoenix's one relcache callback.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
CREATE FUNCTION set_up() RETURNS void LANGUAGE sql AS $$
  SELECT phoenix.create_entity('person', 'person_id', '{"team":"text"}');
  SELECT phoenix.create_entity('room', 'room_id', '{"floor":"integer"}');
  SELECT phoenix.create_event_type('seen',
    schema => '{"type":"object","properties":{"who":{"type":"string"},"room":{"type":"integer"},"n":{"type":"integer"},
                "at":{"type":"string","format":"date-time"}}}', time_field => 'at');
  SELECT phoenix.create_projection('sightings', source => 'seen', columns => '{"who":"who","room":"room","n":"n"}',
    enrich => '[{"entity":"person","key":"who","attributes":{"team":"event_time"}},
                {"entity":"room","key":"room","attributes":{"floor":"event_time"}}]');
  SELECT count(phoenix.put('person', 'P' || i, jsonb_build_object('team', 'T' || i % 3), '2025-01-01'))
    FROM generate_series(1, 600) i;
  SELECT count(phoenix.put('room', i::text, jsonb_build_object('floor', i % 4), '2025-01-01'))
    FROM generate_series(1, 5) i;
$$;
SELECT set_up();
-- 1,200 events naming 600 people (strings) and 5 rooms (numbers: their text)
CREATE TABLE sent AS
  SELECT i AS n, 'P' || (i % 600 + 1) AS who, i % 5 + 1 AS room FROM generate_series(1, 1200) i;
BEGIN;
SELECT phoenix.emit_batch((SELECT jsonb_agg(jsonb_build_object('type', 'seen', 'payload',
         jsonb_build_object('who', who, 'room', room, 'n', n, 'at', '2025-03-01T00:00:00Z')) ORDER BY n)
         FROM sent)) IS NOT NULL AS emitted;
-- the buckets locked per step (one lock class each), as sets
CREATE TEMP TABLE locked AS
  SELECT classid, array_agg(objid::int ORDER BY objid) AS buckets, count(*) AS locks
    FROM pg_locks
   WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND objsubid::int = x'5058'::int AND mode = 'ShareLock'
   GROUP BY classid;
SELECT count(*) AS classes, sum(locks) AS locks FROM locked;
SELECT (SELECT buckets FROM locked WHERE cardinality(buckets) > 5)
       = (SELECT array_agg(DISTINCT hashtext(who) & 255 ORDER BY hashtext(who) & 255) FROM sent) AS people_buckets_exact,
       (SELECT buckets FROM locked WHERE cardinality(buckets) <= 5)
       = (SELECT array_agg(DISTINCT hashtext(room::text) & 255 ORDER BY hashtext(room::text) & 255) FROM sent) AS room_buckets_exact;
COMMIT;
SELECT count(*) AS rows, count(DISTINCT change_seq) AS change_numbers, min(change_seq) > 0 AS numbered
  FROM reporting.sightings;

-- the same session, after the extension is dropped and created again
DROP EXTENSION phoenix CASCADE;
CREATE EXTENSION phoenix CASCADE;
SELECT set_up();
SELECT phoenix.emit('seen', '{"who":"P1","room":2,"n":1,"at":"2025-03-01T00:00:00Z"}') IS NOT NULL AS emitted;
SELECT n, who, person_team, room_floor, change_seq > 0 AS numbered FROM reporting.sightings;
SELECT phoenix.next_change_seq() > 0 AS sequence_found;
