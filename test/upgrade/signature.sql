-- test/upgrade/signature.sql — every object of the phoenix extension, as
-- text, sorted: what a fresh install and an upgraded one must agree on.
-- (pg_dump leaves extension members out, so the catalogs are asked directly.)
WITH members AS (
  SELECT d.classid, d.objid
    FROM pg_depend d
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'phoenix'))
SELECT line FROM (
  SELECT 'function ' || p.oid::regprocedure || ' ' || pg_get_functiondef(p.oid) AS line
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
   WHERE p.prokind IN ('f', 'p', 'w')
  UNION ALL
  SELECT 'aggregate ' || p.oid::regprocedure
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
   WHERE p.prokind = 'a'
  UNION ALL
  SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text || ' acl ' || coalesce(c.relacl::text, '-')
         || ' options ' || coalesce(c.reloptions::text, '-') || ' replica identity ' || c.relreplident::text
         || ' persistence ' || c.relpersistence::text
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  UNION ALL
  SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  UNION ALL
  SELECT 'constraint ' || con.conrelid::regclass || ' ' || pg_get_constraintdef(con.oid)
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_constraint con ON con.conrelid = c.oid
  UNION ALL
  SELECT 'index ' || regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON', 'INDEX ON')
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_index i ON i.indrelid = c.oid
  UNION ALL
  SELECT 'view ' || c.oid::regclass || ' ' || pg_get_viewdef(c.oid)
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
   WHERE c.relkind IN ('v', 'm')
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid)
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
  UNION ALL
  SELECT 'type ' || t.oid::regtype
    FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
  UNION ALL
  SELECT 'schema ' || n.nspname || ' acl ' || coalesce(n.nspacl::text, '-')
    FROM members m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
  UNION ALL
  SELECT 'other ' || m.classid::regclass || ' ' || pg_describe_object(m.classid, m.objid, 0)
    FROM members m
   WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass,
                           'pg_namespace'::regclass)
  UNION ALL
  SELECT 'function acl ' || p.oid::regprocedure || ' ' || coalesce(p.proacl::text, '-')
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
) s
ORDER BY line;
