-- The extension installs (with btree_gist) and its schemas and roles exist.
CREATE EXTENSION phoenix CASCADE;
SELECT nspname FROM pg_namespace WHERE nspname IN ('phoenix', 'phoenix_entity', 'reporting') ORDER BY 1;
SELECT rolname FROM pg_roles WHERE rolname LIKE 'phoenix\_%' ORDER BY 1;
