-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_forget_entity;
CREATE DATABASE regress_forget_entity;
\c regress_forget_entity
\set ECHO all
-- phoenix.forget on entities: every recorded version and assertion of the key
-- gets keyed pseudonyms; tombstone; audit; roles; bad input.
CREATE EXTENSION phoenix CASCADE;
-- A fixed secret makes the pseudonyms in this file reproducible.
SET phoenix.forget_secret = 'regress secret';

-- Search every table Phoenix owns (found in pg_catalog, so tables added later
-- are covered too) for any of the needles, in any column, jsonb included;
-- partitions are reported under their partitioned table.
CREATE FUNCTION pg_temp.pii_hits(needles text[])
RETURNS TABLE (relation text, hits bigint) LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel, coalesce(pg_partition_root(c.oid), c.oid)::regclass AS root
             FROM pg_class c
            WHERE c.relnamespace::regnamespace::text IN ('phoenix', 'phoenix_entity', 'reporting')
              AND c.relkind = 'r' ORDER BY 1
  LOOP
    EXECUTE format('SELECT count(*) FROM %s t WHERE EXISTS (SELECT 1 FROM unnest($1) n '
                   'WHERE strpos(lower(t::text), lower(n)) > 0)', r.rel)
      INTO hits USING needles;
    IF hits > 0 THEN relation := r.root::text; RETURN NEXT; END IF;
  END LOOP;
END $$;

SELECT phoenix.create_entity('employee', key => 'employee_id',
       attributes => '{"name":"text","email":"text","department":"text","birthday":"date"}',
       pii => '{name,email,birthday}');
SELECT phoenix.put('employee', 'E42', '{"name":"Ada Lovelace","email":"ada@example.com","department":"Finance","birthday":"1815-12-10"}',
                   valid_from => '2026-11-02');
SELECT phoenix.put('employee', 'E42', '{"department":"Accounting"}', valid_from => '2026-11-25');
SELECT phoenix.put('employee', 'E42', '{"email":"ada.l@example.com"}', valid_from => '2026-11-20', valid_to => '2026-11-22');
SELECT phoenix.put('employee', 'E7', '{"name":"Grace Hopper","email":"grace@example.com","department":"Finance"}',
                   valid_from => '2026-11-02');
SELECT count(*) AS versions_of_e42 FROM phoenix_entity.employee_history WHERE employee_id = 'E42';

-- before: the needles are there
SELECT * FROM pg_temp.pii_hits('{Ada Lovelace,ada@example.com,ada.l@example.com,1815-12-10}');

SELECT phoenix.forget('employee', 'E42', reason => 'erasure request 2026-117');

-- after: nowhere, in any table Phoenix owns
SELECT * FROM pg_temp.pii_hits('{Ada Lovelace,Lovelace,ada@example.com,ada.l@example.com,1815-12-10}');
-- E7 untouched
SELECT * FROM pg_temp.pii_hits('{Grace Hopper,grace@example.com}');

-- the timeline keeps its shape: same periods, departments, pseudonyms instead of PII
SELECT valid_from, valid_to, attributes FROM phoenix.history('employee', 'E42') ORDER BY valid_from;
-- every recorded version, superseded ones too
SELECT name, email, department, birthday, recorded_to = 'infinity' AS current
  FROM phoenix_entity.employee_history WHERE employee_id = 'E42'
 ORDER BY valid_from, recorded_from, recorded_to;
SELECT attributes FROM phoenix.assertions WHERE key = 'E42' ORDER BY assertion_id;
-- one value of hers, one pseudonym in every version; her two addresses, two
SELECT count(DISTINCT name) AS name_pseudonyms, count(DISTINCT email) AS email_pseudonyms,
       bool_and(name ~ '^forgotten-[0-9a-f]{20}$') AS names_shaped,
       bool_and(email ~ '^[0-9a-f]{20}@forgotten\.invalid$') AS emails_shaped
  FROM phoenix_entity.employee_history WHERE employee_id = 'E42';
SELECT name AS ada_name_pseudonym FROM phoenix_entity.employee_history WHERE employee_id = 'E42' LIMIT 1 \gset

-- idempotent: nothing left to scrub, the history does not change
CREATE TEMP TABLE before AS SELECT * FROM phoenix_entity.employee_history;
SELECT phoenix.forget('employee', 'E42', reason => 'repeat');
SELECT count(*) AS differences FROM (
  (SELECT * FROM phoenix_entity.employee_history EXCEPT ALL SELECT * FROM before)
  UNION ALL
  (SELECT * FROM before EXCEPT ALL SELECT * FROM phoenix_entity.employee_history)) d;

-- tombstone: a later write about the forgotten key stores pseudonyms only
SELECT phoenix.put('employee', 'E42', '{"name":"Ada King","department":"Audit"}', valid_from => '2026-11-27');
SELECT phoenix.get('employee', 'E42', valid_at => '2026-11-28') ->> 'name' ~ '^forgotten-' AS pseudonymised,
       phoenix.get('employee', 'E42', valid_at => '2026-11-28') ->> 'name' <> :'ada_name_pseudonym' AS another_value_another_pseudonym,
       phoenix.get('employee', 'E42', valid_at => '2026-11-28') ->> 'department' AS department;
SELECT * FROM pg_temp.pii_hits('{Ada King}');
-- ... and other keys are not affected
SELECT phoenix.put('employee', 'E7', '{"name":"Grace B. Hopper"}', valid_from => '2026-11-27');
SELECT phoenix.get('employee', 'E7', valid_at => '2026-11-28') ->> 'name' AS e7_name;

-- the audit: no PII, the key only as a keyed hash
SELECT entity, length(key_hash) AS hash_hex_length, key_hash ~ '^[0-9a-f]+$' AS hex,
       erased_by, reason, scrubbed
  FROM phoenix.erasures ORDER BY erasure_id;
SELECT count(*) AS tombstones FROM phoenix.forgotten_keys;
SELECT count(*) >= 4 AS value_hashes FROM phoenix.forgotten_values;

-- pseudonyms depend on the secret: stable under one, different under another
-- (each forget of E7 here is rolled back)
BEGIN;
SELECT phoenix.forget('employee', 'E7') IS NOT NULL AS forgot;
SELECT name AS p_regress FROM phoenix_entity.employee_history WHERE employee_id = 'E7' LIMIT 1 \gset
ROLLBACK;
BEGIN;
SET LOCAL phoenix.forget_secret = 'another secret';
SELECT phoenix.forget('employee', 'E7') IS NOT NULL AS forgot;
SELECT name AS p_another FROM phoenix_entity.employee_history WHERE employee_id = 'E7' LIMIT 1 \gset
ROLLBACK;
BEGIN;
RESET phoenix.forget_secret;
SELECT phoenix.forget('employee', 'E7') IS NOT NULL AS forgot;
SELECT name AS p_table FROM phoenix_entity.employee_history WHERE employee_id = 'E7' LIMIT 1 \gset
ROLLBACK;
SET phoenix.forget_secret = 'regress secret';
BEGIN;
SELECT phoenix.forget('employee', 'E7') IS NOT NULL AS forgot;
SELECT :'p_regress' <> :'p_another' AS differs_under_another_secret,
       :'p_regress' <> :'p_table' AS table_secret_differs,
       name = :'p_regress' AS same_again
  FROM phoenix_entity.employee_history WHERE employee_id = 'E7' LIMIT 1;
ROLLBACK;
SELECT count(*) AS table_secrets FROM phoenix.forget_secret;

-- bad input
\set VERBOSITY terse
SELECT phoenix.forget('nosuch', 'E42');
SELECT phoenix.forget('employee', NULL);
SELECT count(*) AS erasures_before FROM phoenix.erasures;
SELECT phoenix.forget('employee', 'E999', reason => 'no such key');
SELECT count(*) AS erasures_after FROM phoenix.erasures;

-- roles: only phoenix_admin (or the owner) may forget, not even a writer; the secret and the
-- tombstones are the owner's alone, the audit is readable by phoenix_admin
DROP ROLE IF EXISTS forget_nobody;
DROP ROLE IF EXISTS forget_admin;
CREATE ROLE forget_nobody IN ROLE phoenix_writer;
CREATE ROLE forget_admin IN ROLE phoenix_admin;
SET ROLE forget_nobody;
SELECT phoenix.forget('employee', 'E7');
SELECT * FROM phoenix.erasures;
RESET ROLE;
SET ROLE forget_admin;
SELECT * FROM phoenix.forget_secret;
SELECT * FROM phoenix.forgotten_keys;
SELECT count(*) AS audit_rows FROM phoenix.erasures;
SELECT phoenix.forget('employee', 'E7', reason => 'erasure request 2026-118');
RESET ROLE;
SELECT erased_by, reason FROM phoenix.erasures ORDER BY erasure_id DESC LIMIT 1;
SELECT * FROM pg_temp.pii_hits('{Grace Hopper,Grace B. Hopper,grace@example.com}');
DROP ROLE forget_nobody;
DROP ROLE forget_admin;

-- dead tuples: the VACUUM commands for what forget rewrote
SELECT * FROM phoenix.forget_vacuum_commands();
SELECT * FROM phoenix.forget_vacuum_commands() \gexec
