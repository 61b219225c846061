-- phoenix 0.1.0 -> 0.2.0.  Repeat here, as DDL, every change made to src/sql/
-- since 0.1.0 was released, and bring along the tables earlier code made for
-- the data when what create_projection or create_entity make changes (a
-- fillfactor, an index: loop over phoenix.projections / phoenix.entities).
-- test/shell/upgrade.sh compares the result with a fresh install
-- (docs/upgrades.md; scripts/upgrade_draft.sh drafts the catalog DDL).
\echo Use "ALTER EXTENSION phoenix UPDATE TO '0.2.0'" to load this file. \quit

-- Chained steps (a site keyed by desk_site_id, the desk step's site_id) are
-- reached through their parent's history since 0.2.0 (projection.c's
-- chain_filter) rather than by an index on the reporting table: projections
-- made earlier get the index on the parent entity's history that
-- create_projection now makes (projdef.c's index_chain_parent), and lose the
-- reporting table's (key column, effective_at) index, which only cost writes.
DO $chain$
DECLARE
  c record;
  idx regclass;
BEGIN
  FOR c IN
    SELECT p.schema_name, p.table_name, s.key_column, ps.entity,
           substr(s.key_column, length(ps.prefix) + 2) AS attr, e.key_name
      FROM phoenix.projections p
      JOIN phoenix.projection_steps s ON s.projection_id = p.projection_id
      JOIN phoenix.projection_steps ps ON ps.projection_id = p.projection_id AND ps.step <> s.step
      JOIN phoenix.entities e ON e.name = ps.entity
     WHERE s.key_column IN (SELECT ps.prefix || '_' || a FROM unnest(ps.event_time || ps.current) a)
        OR (ps.by_attribute IS NOT NULL AND s.key_column = ps.match_column)
     ORDER BY p.projection_id, s.step
  LOOP
    IF c.attr <> c.key_name THEN
      EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON phoenix_entity.%I (%I, valid_from) WHERE recorded_to = ''infinity''',
                     left(c.entity || '_' || c.attr || '_asof', 63), c.entity || '_history', c.attr);
    END IF;
    FOR idx IN
      SELECT i.indexrelid::regclass FROM pg_catalog.pg_index i
       WHERE i.indrelid = pg_catalog.to_regclass(format('%I.%I', c.schema_name, c.table_name))
         AND i.indnatts = 2
         AND (SELECT array_agg(a.attname::text ORDER BY k.ord)
                FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
             = ARRAY[c.key_column, 'effective_at']
    LOOP
      EXECUTE format('DROP INDEX %s', idx);
    END LOOP;
  END LOOP;
END
$chain$;

-- A step key's (key column, effective_at) index holds no duplicates to merge
-- (a key's entries differ by their effective time): since 0.2.0
-- create_projection makes it without deduplication (projdef.c's
-- projdef_create_indexes), which would only search every full leaf page in
-- vain before splitting it.  Projections made earlier follow.
DO $dedup$
DECLARE
  idx regclass;
BEGIN
  FOR idx IN
    SELECT i.indexrelid::regclass
      FROM phoenix.projections p
      JOIN phoenix.projection_steps s ON s.projection_id = p.projection_id
      JOIN pg_catalog.pg_index i ON i.indrelid = pg_catalog.to_regclass(format('%I.%I', p.schema_name, p.table_name))
     WHERE i.indnatts = 2
       AND (SELECT array_agg(a.attname::text ORDER BY k.ord)
              FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
           = ARRAY[s.key_column, 'effective_at']
     GROUP BY i.indexrelid
  LOOP
    EXECUTE format('ALTER INDEX %s SET (deduplicate_items = off)', idx);
  END LOOP;
END
$dedup$;

-- create_projection gains fillfactor (d4a764c): the old signature goes (the
-- grants that follow make the new one SECURITY DEFINER as in a fresh install).
-- Reporting tables made earlier keep the fillfactor they were made with (85,
-- the default).
DROP FUNCTION phoenix.create_projection(text, text, jsonb, jsonb, jsonb, text, text, text, interval, interval);
CREATE FUNCTION phoenix.create_projection(name text, source text,
    columns jsonb DEFAULT '{}', enrich jsonb DEFAULT '[]', derive jsonb DEFAULT '{}',
    schema text DEFAULT 'reporting', kind text DEFAULT 'events',
    latest_key text DEFAULT NULL, fresh_for interval DEFAULT NULL, horizon interval DEFAULT NULL,
    fillfactor integer DEFAULT 85)
  RETURNS regclass
  AS 'MODULE_PATHNAME', 'phoenix_create_projection' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION phoenix.create_projection(text, text, jsonb, jsonb, jsonb, text, text, text, interval, interval, integer) IS
  'Phoenix: create a reporting table fed by an event type, enriched as of each event''s time, and fill it from the log';

-- Ids generated since 0.2.0 name their event's log position and are not
-- claimed in phoenix.event_ids (src/ingest/eventid.c); the ids generated
-- before stay claimed there, and are recognised as before.
COMMENT ON TABLE phoenix.event_ids IS 'Phoenix: every event id a producer gave, and the log position it was accepted at (idempotency)';
CREATE TABLE phoenix.generated_id_nodes (
  node integer NOT NULL CHECK (node >= 0 AND node < 67108864)
);
COMMENT ON TABLE phoenix.generated_id_nodes IS 'Phoenix: nodes of the event ids this database generates (do not edit)';
INSERT INTO phoenix.generated_id_nodes
  SELECT pg_catalog.floor(pg_catalog.random() * 67108864)::integer % 67108864;
CREATE FUNCTION phoenix.generated_id_nodes_changed() RETURNS trigger
  AS 'MODULE_PATHNAME', 'phoenix_generated_id_nodes_changed' LANGUAGE C;
COMMENT ON FUNCTION phoenix.generated_id_nodes_changed() IS 'Phoenix: every session reads the generated ids'' nodes again at commit';
CREATE TRIGGER generated_id_nodes_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON phoenix.generated_id_nodes FOR EACH STATEMENT EXECUTE FUNCTION phoenix.generated_id_nodes_changed();
SELECT pg_catalog.pg_extension_config_dump('phoenix.generated_id_nodes', '');
