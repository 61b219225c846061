
-- ---------------------------------------------------------------------------
-- BigQuery readiness: change numbers, the safe watermark, check_bigquery.
-- (src/changeseq.c, src/bigquery.c)
-- ---------------------------------------------------------------------------

-- Every insert or update of a reporting row takes its change_seq from here
-- (through phoenix.next_change_seq(), which also registers the writer for the
-- watermark).  CACHE 1: numbers must be handed out in the order of the calls.
CREATE SEQUENCE IF NOT EXISTS phoenix.change_seq;
ALTER SEQUENCE phoenix.change_seq CACHE 1 NO CYCLE;
COMMENT ON SEQUENCE phoenix.change_seq IS
  'Phoenix: change numbers of reporting rows (column change_seq); allocate with phoenix.next_change_seq()';

CREATE FUNCTION phoenix.next_change_seq() RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_next_change_seq'
  LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION phoenix.next_change_seq() IS
  'Phoenix: the next change number for a reporting row; registers the transaction as an in-flight writer until it ends';

CREATE FUNCTION phoenix.safe_change_seq() RETURNS bigint
  AS 'MODULE_PATHNAME', 'phoenix_safe_change_seq'
  LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION phoenix.safe_change_seq() IS
  'Phoenix: highest change_seq below which every writer has ended; pull change_seq <= this in a later statement and no late commit is skipped';

CREATE FUNCTION phoenix.check_bigquery(schema name DEFAULT 'reporting')
  RETURNS TABLE (table_name text, column_name text, data_type text, reason text, suggested_cast text)
  AS 'MODULE_PATHNAME', 'phoenix_check_bigquery'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION phoenix.check_bigquery(name) IS
  'Phoenix: columns of the schema''s tables and views that BigQuery federated queries cannot read, with the reason and a cast that makes them readable';
