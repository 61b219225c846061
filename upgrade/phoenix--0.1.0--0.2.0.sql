-- phoenix 0.1.0 -> 0.2.0.  Repeat here, as DDL, every change made to src/sql/
-- since 0.1.0 was released (test/shell/upgrade.sh compares the result with a
-- fresh install).
\echo Use "ALTER EXTENSION phoenix UPDATE TO '0.2.0'" to load this file. \quit
