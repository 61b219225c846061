
-- ---------------------------------------------------------------------------
-- Forgetting a person (src/forget.c): the pseudonym secret, tombstones, the
-- audit of erasures, and the SQL API.
--
-- Every table here is readable only by the extension owner, except the audit
-- (phoenix_admin may read it).  forget() checks its caller's role itself and
-- does its work as the owner, so phoenix_admin needs no write access to
-- history tables, the event log or dead letters.
-- ---------------------------------------------------------------------------

-- The per-database secret of the keyed pseudonyms (HMAC-SHA256).  One row,
-- made by the first forget from the server's strong random source (two v4
-- UUIDs: 244 random bits) — not here: the table is dumped as configuration,
-- and a restore brings the row it had.  The GUC phoenix.forget_secret, when
-- set, is used instead.
CREATE TABLE phoenix.forget_secret (
  one         boolean PRIMARY KEY DEFAULT true CHECK (one),
  secret      bytea NOT NULL CHECK (length(secret) >= 16),
  created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE phoenix.forget_secret IS
  'Phoenix: the secret key of erasure pseudonyms and hashes (owner only; phoenix.forget_secret GUC overrides)';

-- Tombstones: keys that were forgotten (as keyed hashes), and keyed hashes of
-- every PII value they ever had, with the valid periods in which the value
-- was theirs, so that late events naming them by value then are recognised
-- without keeping the value (and events naming it when someone else held it
-- are not).
CREATE TABLE phoenix.forgotten_keys (
  entity_id    int NOT NULL REFERENCES phoenix.entities ON DELETE CASCADE,
  key_hash     bytea NOT NULL,
  forgotten_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (entity_id, key_hash)
);
COMMENT ON TABLE phoenix.forgotten_keys IS
  'Phoenix tombstones: keyed hashes (HMAC-SHA256) of forgotten entity keys; events about them are scrubbed on arrival';

CREATE TABLE phoenix.forgotten_values (
  entity_id    int NOT NULL REFERENCES phoenix.entities ON DELETE CASCADE,
  attribute    text NOT NULL,
  value_hash   bytea NOT NULL,
  key_hash     bytea NOT NULL,           -- whose: the forgotten key's keyed hash
  periods      tstzmultirange NOT NULL DEFAULT '{}',
  PRIMARY KEY (entity_id, attribute, value_hash, key_hash)
);
COMMENT ON TABLE phoenix.forgotten_values IS
  'Phoenix tombstones: keyed hashes of every PII attribute value a forgotten key had, and when it was theirs (recognises late events naming them by value)';

-- The audit of erasures: no PII (the key only as its keyed hash).
CREATE TABLE phoenix.erasures (
  erasure_id   bigserial PRIMARY KEY,
  entity       text NOT NULL,
  key_hash     text NOT NULL,
  erased_at    timestamptz NOT NULL DEFAULT now(),
  erased_by    name NOT NULL,
  reason       text,
  scrubbed     jsonb NOT NULL
);
COMMENT ON TABLE phoenix.erasures IS
  'Phoenix audit: every phoenix.forget call (entity, keyed hash of the key, when, by whom, reason, rows scrubbed per table); holds no PII';

SELECT pg_catalog.pg_extension_config_dump('phoenix.forget_secret', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.forgotten_keys', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.forgotten_values', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.erasures', '');
SELECT pg_catalog.pg_extension_config_dump('phoenix.erasures_erasure_id_seq', '');

REVOKE ALL ON phoenix.forget_secret, phoenix.forgotten_keys, phoenix.forgotten_values,
              phoenix.erasures FROM PUBLIC;
GRANT SELECT ON phoenix.erasures TO phoenix_admin;

CREATE FUNCTION phoenix.forget(entity text, key text, reason text DEFAULT NULL)
  RETURNS jsonb
  AS 'MODULE_PATHNAME', 'phoenix_forget' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.forget(text, text, text) IS
  'Phoenix: erase every PII value of an entity key everywhere Phoenix stored it (keyed pseudonyms), leave a tombstone, audit; returns rows scrubbed per table';

-- A thin wrapper over the audit: VACUUM itself cannot run inside a function.
CREATE FUNCTION phoenix.forget_vacuum_commands()
  RETURNS SETOF text
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  AS $$
    SELECT format('VACUUM %s', to_regclass(t.relation))
      FROM (SELECT DISTINCT s.key AS relation
              FROM phoenix.erasures e, jsonb_each_text(e.scrubbed) s
             WHERE s.value::bigint > 0) t
     WHERE to_regclass(t.relation) IS NOT NULL
     ORDER BY 1
  $$;
COMMENT ON FUNCTION phoenix.forget_vacuum_commands() IS
  'Phoenix: one VACUUM command per table an erasure rewrote (run them with \gexec: VACUUM cannot run inside a function)';

REVOKE ALL ON FUNCTION phoenix.forget(text, text, text), phoenix.forget_vacuum_commands() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION phoenix.forget(text, text, text), phoenix.forget_vacuum_commands() TO phoenix_admin;
