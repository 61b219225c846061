-- test/upgrade/structure.sql — the objects Phoenix made for the data rather
-- than its install script (entity history tables, views and functions,
-- reporting tables, event log partitions; whatever is in its schemas and is
-- not a member of the extension): their columns, constraints, indexes,
-- storage options, triggers and privileges.  After an update, the objects
-- the previous version made must be what the current version makes for the
-- same steps: a change to what create_entity or create_projection build
-- (an index, a fillfactor, an autovacuum setting) needs the upgrade script
-- to bring existing tables along.  (Privileges compare as what they grant: no
-- ACL yet reads as the default one, which the grants an upgrade script
-- re-applies make explicit.)
WITH made AS (
  SELECT c.oid, c.relkind FROM pg_class c
   WHERE c.relnamespace::regnamespace::text IN ('phoenix', 'phoenix_entity', 'reporting', 'api')
     AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
     AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'))
SELECT line FROM (
  SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text || ' persistence ' || c.relpersistence::text
         || ' replica identity ' || c.relreplident::text || ' options ' || coalesce(c.reloptions::text, '-')
         || ' acl ' || coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))::text
         || ' owner ' || c.relowner::regrole
         || coalesce(' partition of ' || i.inhparent::regclass || ' ' || pg_get_expr(c.relpartbound, c.oid), '') AS line
    FROM made m JOIN pg_class c ON c.oid = m.oid
    LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
  UNION ALL
  SELECT 'column ' || m.oid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
         || coalesce(' collate ' || nullif(a.attcollation, 0)::regcollation::text, '')
         || coalesce(' options ' || (SELECT array_agg(o ORDER BY o) FROM unnest(a.attoptions) o
                                     WHERE o NOT LIKE 'pg\_attver=%')::text, '')  -- the server's own
 || ' storage ' || a.attstorage::text
         || ' statistics ' || a.attstattarget || coalesce(' acl ' || a.attacl::text, '')
    FROM made m JOIN pg_attribute a ON a.attrelid = m.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = m.oid AND ad.adnum = a.attnum
  UNION ALL
  SELECT 'constraint ' || con.conrelid::regclass || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
    FROM made m JOIN pg_constraint con ON con.conrelid = m.oid
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid) || ' options ' || coalesce(ic.reloptions::text, '-')
    FROM made m JOIN pg_index i ON i.indrelid = m.oid JOIN pg_class ic ON ic.oid = i.indexrelid
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
    FROM made m JOIN pg_trigger t ON t.tgrelid = m.oid AND NOT t.tgisinternal
  UNION ALL
  SELECT 'view ' || m.oid::regclass || ' ' || pg_get_viewdef(m.oid)
    FROM made m WHERE m.relkind IN ('v', 'm')
  UNION ALL
  SELECT 'policy ' || p.polrelid::regclass || ' ' || p.polname || ' ' || p.polcmd::text || ' '
         || coalesce(pg_get_expr(p.polqual, p.polrelid), '-')
    FROM made m JOIN pg_policy p ON p.polrelid = m.oid
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure || ' ' || pg_get_functiondef(p.oid) || ' acl ' || coalesce(p.proacl, acldefault('f'::"char", p.proowner))::text
    FROM pg_proc p
   WHERE p.pronamespace::regnamespace::text IN ('phoenix', 'phoenix_entity', 'reporting', 'api')
     AND p.prokind IN ('f', 'p')
     AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  UNION ALL
  SELECT 'publication ' || pubname || ' ' || pubinsert || pubupdate || pubdelete || pubtruncate FROM pg_publication
  UNION ALL
  SELECT 'publication table ' || pubname || ' ' || schemaname || '.' || tablename FROM pg_publication_tables
) s
ORDER BY line COLLATE "C";
