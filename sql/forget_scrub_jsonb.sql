-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_forget_scrub_jsonb;
CREATE DATABASE regress_forget_scrub_jsonb;
\c regress_forget_scrub_jsonb
\set ECHO all
-- forget_scrub_jsonb(doc, fields, null_fields): what forget applies to
-- payloads and assertions.  Top-level members in fields are pseudonymised
-- (strings: the same pseudonym as forget_pseudonym; other values: null),
-- those in null_fields nulled; nothing else changes.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SET phoenix.forget_secret = 'forget_scrub_jsonb test secret';
CREATE TEMP TABLE d AS SELECT '{"name":"Ada Lovelace","email":"ada@example.com","age":36,"tags":["x"],
  "nick":null,"badge":"B-1","note":"Ada Lovelace wrote it","team":{"name":"Ada Lovelace"}}'::jsonb AS doc;
CREATE TEMP TABLE s AS
  SELECT phoenix.forget_scrub_jsonb(doc, '{name,email,age,tags,nick}', '{badge}') AS r FROM d;
-- strings become the value's pseudonym (an address keeps an address's shape)
SELECT r->>'name' = phoenix.forget_pseudonym('Ada Lovelace') AS name_pseudonymised,
       r->>'name' <> 'Ada Lovelace' AS name_changed,
       r->>'name' ~ '^forgotten-[0-9a-f]{20}$' AS name_shape,
       r->>'email' = phoenix.forget_pseudonym('ada@example.com') AS email_pseudonymised,
       r->>'email' ~ '^[0-9a-f]{20}@forgotten\.invalid$' AS email_shape
  FROM s;
-- other values in fields, and every value in null_fields, become null
SELECT r->'age' AS age, r->'tags' AS tags, r->'nick' AS nick, r->'badge' AS badge FROM s;
-- members not listed, and nested objects, are left as they are
SELECT r->'note' AS note, r->'team' AS team, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(r) k) AS keys FROM s;
-- a pseudonym maps to itself: scrubbing twice changes nothing more
SELECT phoenix.forget_scrub_jsonb(r, '{name,email,age,tags,nick}', '{badge}') = r AS idempotent FROM s;
-- a member in both lists is nulled
SELECT phoenix.forget_scrub_jsonb('{"name":"Ada"}', '{name}', '{name}') AS both_lists;
-- nothing listed, not an object, or a member absent: the document unchanged
SELECT phoenix.forget_scrub_jsonb(doc, '{}', '{}') = doc AS nothing_listed,
       phoenix.forget_scrub_jsonb(doc, '{missing}') = doc AS absent_member FROM d;
SELECT phoenix.forget_scrub_jsonb('["Ada Lovelace"]', '{name}') AS array_doc,
       phoenix.forget_scrub_jsonb('"Ada Lovelace"', '{name}') AS scalar_doc,
       phoenix.forget_scrub_jsonb('{}', '{name}') AS empty_doc;
-- STRICT: a NULL argument gives NULL
SELECT phoenix.forget_scrub_jsonb(NULL, '{name}') IS NULL AS null_doc,
       phoenix.forget_scrub_jsonb('{"name":"x"}', NULL) IS NULL AS null_fields;
-- phoenix_admin only
CREATE ROLE scrub_writer IN ROLE phoenix_writer;
SET ROLE scrub_writer;
SELECT phoenix.forget_scrub_jsonb('{"name":"Ada"}', '{name}');
RESET ROLE;
DROP ROLE scrub_writer;
