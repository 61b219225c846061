-- test/upgrade/objects.sql — every object of the phoenix extension as
-- "kind <TAB> identity <TAB> definition <TAB> DDL that creates it in an upgrade
-- script", one line each (newlines in definitions escaped as \n).  Read by
-- scripts/upgrade_draft.sh to draft upgrade/phoenix--A--B.sql from the
-- difference between a fresh install and an updated one.
WITH members AS (
  SELECT d.classid, d.objid FROM pg_depend d
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'phoenix')),
objs AS (
  SELECT 'function' AS kind, p.oid::regprocedure::text AS ident,
         pg_get_functiondef(p.oid) AS def,
         pg_get_functiondef(p.oid) || ';' ||
           coalesce(E'\nCOMMENT ON FUNCTION ' || p.oid::regprocedure::text || ' IS ' ||
                    quote_literal(obj_description(p.oid, 'pg_proc')) || ';', '') AS ddl
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
   WHERE p.prokind IN ('f', 'p', 'w')
  UNION ALL
  SELECT 'view', c.oid::regclass::text, pg_get_viewdef(c.oid),
         'CREATE OR REPLACE VIEW ' || c.oid::regclass::text || ' AS' || E'\n' || pg_get_viewdef(c.oid) ||
           coalesce(E'\nCOMMENT ON VIEW ' || c.oid::regclass::text || ' IS ' ||
                    quote_literal(obj_description(c.oid, 'pg_class')) || ';', '')
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
   WHERE c.relkind = 'v'
  UNION ALL
  SELECT 'table', c.oid::regclass::text, c.relkind::text,
         '-- TODO: CREATE TABLE ' || c.oid::regclass::text || ' (copy its CREATE TABLE, COMMENT and any'
         || ' pg_extension_config_dump from src/sql/; its columns, constraints and indexes follow)'
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
   WHERE c.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'column', c.oid::regclass::text || '.' || a.attname,
         format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
           || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
         'ALTER TABLE ' || c.oid::regclass::text || ' ADD COLUMN IF NOT EXISTS ' || quote_ident(a.attname) || ' '
           || format_type(a.atttypid, a.atttypmod)
           || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), '')
           || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END || ';'
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
   WHERE c.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'constraint', con.conrelid::regclass::text || ' ' || con.conname, pg_get_constraintdef(con.oid),
         'ALTER TABLE ' || con.conrelid::regclass::text || ' ADD CONSTRAINT ' || quote_ident(con.conname) || ' '
           || pg_get_constraintdef(con.oid) || ';'
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_constraint con ON con.conrelid = c.oid
  UNION ALL
  SELECT 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
         regexp_replace(pg_get_indexdef(i.indexrelid), '^CREATE (UNIQUE )?INDEX ', 'CREATE \1INDEX IF NOT EXISTS ') || ';'
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_index i ON i.indrelid = c.oid
   WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = c.oid)
  UNION ALL
  SELECT 'trigger', t.tgrelid::regclass::text || ' ' || t.tgname, pg_get_triggerdef(t.oid), pg_get_triggerdef(t.oid) || ';'
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
  UNION ALL
  SELECT 'options', c.oid::regclass::text, c.reloptions::text,
         'ALTER TABLE ' || c.oid::regclass::text || ' SET (' || array_to_string(c.reloptions, ', ') || ');'
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
   WHERE c.relkind IN ('r', 'p', 'm') AND c.reloptions IS NOT NULL   -- an index's are in its definition
  UNION ALL
  SELECT 'sequence', c.oid::regclass::text, '', '-- TODO: CREATE SEQUENCE ' || c.oid::regclass::text || ' (see src/sql/)'
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
   WHERE c.relkind = 'S'
  UNION ALL
  SELECT 'other', pg_describe_object(m.classid, m.objid, 0), '', '-- TODO: ' || pg_describe_object(m.classid, m.objid, 0)
    FROM members m
   WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass)
)
SELECT kind, ident, replace(replace(def, E'\\', E'\\\\'), E'\n', E'\\n'), replace(replace(ddl, E'\\', E'\\\\'), E'\n', E'\\n')
  FROM objs ORDER BY kind, ident;
