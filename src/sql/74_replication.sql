
-- ---------------------------------------------------------------------------
-- Logical replication of the reporting schema (e.g. to a Cloud SQL replica
-- that BigQuery federates with).
-- ---------------------------------------------------------------------------

CREATE FUNCTION phoenix.publish_reporting(publication name DEFAULT 'phoenix_reporting',
                                          schema name DEFAULT 'reporting')
  RETURNS name
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  missing text;
BEGIN
  IF to_regnamespace(quote_ident(schema)) IS NULL THEN
    RAISE EXCEPTION 'schema "%" does not exist', schema USING ERRCODE = 'invalid_schema_name';
  END IF;
  -- Updates and deletes of a published table need a replica identity.
  SELECT string_agg(quote_ident(c.relname), ', ' ORDER BY c.relname) INTO missing
    FROM pg_class c
   WHERE c.relnamespace = to_regnamespace(quote_ident(schema)) AND c.relkind IN ('r', 'p')
     AND NOT c.relispartition
     AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
     AND c.relreplident IN ('d', 'n');
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'tables without a primary key cannot be published: %', missing
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Give them a primary key (projections have one: event_id, or the latest key).';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = publication) THEN
    EXECUTE format('ALTER PUBLICATION %I SET TABLES IN SCHEMA %I', publication, schema);
  ELSE
    EXECUTE format('CREATE PUBLICATION %I FOR TABLES IN SCHEMA %I', publication, schema);
  END IF;
  RETURN publication;
END
$fn$;
COMMENT ON FUNCTION phoenix.publish_reporting(name, name) IS
  'Phoenix: publish every table of the reporting schema (now and later) for logical replication; returns the publication name';
