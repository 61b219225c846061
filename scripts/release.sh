#!/usr/bin/env bash
# scripts/release.sh <next-version> — freeze the current version and open the next.
#
#   1. builds phoenix--<current>.sql from src/sql/ and freezes it as
#      releases/phoenix--<current>.sql (committed; installed by make install,
#      so CREATE EXTENSION phoenix VERSION '<current>' keeps working);
#   2. sets default_version = '<next-version>' in phoenix.control;
#   3. starts upgrade/phoenix--<current>--<next-version>.sql, where every
#      change made to src/sql/ from now on must be repeated as DDL.
#
# test/shell/upgrade.sh then checks, on every make test, that updating from
# each frozen release yields exactly the objects of a fresh install.
set -euo pipefail
cd "$(dirname "$0")/.."
next=${1:?usage: scripts/release.sh <next-version>}
cur=$(sed -n "s/^default_version = '\(.*\)'/\1/p" phoenix.control)
[ "$next" != "$cur" ] || { echo "next version equals the current one ($cur)" >&2; exit 1; }
[ ! -e "releases/phoenix--$cur.sql" ] || { echo "releases/phoenix--$cur.sql exists already" >&2; exit 1; }
make -s "phoenix--$cur.sql"
mkdir -p releases upgrade
cp "phoenix--$cur.sql" "releases/phoenix--$cur.sql"
sed -i "s/^default_version = '.*'/default_version = '$next'/" phoenix.control
cat > "upgrade/phoenix--$cur--$next.sql" <<SQL
-- phoenix $cur -> $next.  Repeat here, as DDL, every change made to src/sql/
-- since $cur was released (test/shell/upgrade.sh compares the result with a
-- fresh install).
\\echo Use "ALTER EXTENSION phoenix UPDATE TO '$next'" to load this file. \\quit
SQL
echo "froze releases/phoenix--$cur.sql; now at $next; edit upgrade/phoenix--$cur--$next.sql"
echo "then: git add releases/phoenix--$cur.sql upgrade/phoenix--$cur--$next.sql phoenix.control && git tag v$cur"
