-- phoenix 0.1.0 -> 0.2.0.  Repeat here, as DDL, every change made to src/sql/
-- since 0.1.0 was released, and bring along the tables earlier code made for
-- the data when what create_projection or create_entity make changes (a
-- fillfactor, an index: loop over phoenix.projections / phoenix.entities).
-- test/shell/upgrade.sh compares the result with a fresh install
-- (docs/upgrades.md; scripts/upgrade_draft.sh drafts the catalog DDL).
\echo Use "ALTER EXTENSION phoenix UPDATE TO '0.2.0'" to load this file. \quit
