#!/usr/bin/env bash
# scripts/release.sh <next-version> — freeze the current version and open the next.
#
#   1. builds phoenix--<current>.sql from src/sql/ and freezes it as
#      releases/phoenix--<current>.sql (committed; installed by make install,
#      so CREATE EXTENSION phoenix VERSION '<current>' keeps working), records
#      its sha256 in releases/SHA256SUMS and the commit (HEAD: the sources of
#      the release, so the tree must be clean) in releases/COMMITS;
#   2. sets default_version = '<next-version>' in phoenix.control;
#   3. starts upgrade/phoenix--<current>--<next-version>.sql, where every
#      change made to src/sql/ from now on must be repeated as DDL.
#
# test/shell/upgrade.sh then checks, on every make test, that updating from
# each frozen release (with data in place, on the release's own binary too)
# yields exactly what a fresh install gives.  docs/upgrades.md has the rules.
set -euo pipefail
cd "$(dirname "$0")/.."
next=${1:?usage: scripts/release.sh <next-version>}
cur=$(sed -n "s/^default_version = '\(.*\)'/\1/p" phoenix.control)
[ "$next" != "$cur" ] || { echo "next version equals the current one ($cur)" >&2; exit 1; }
[ ! -e "releases/phoenix--$cur.sql" ] || { echo "releases/phoenix--$cur.sql exists already" >&2; exit 1; }
git diff --quiet HEAD -- src Makefile phoenix.control ||
  { echo "src/, Makefile or phoenix.control differ from HEAD: commit first (HEAD is recorded as the release)" >&2; exit 1; }
make -s "phoenix--$cur.sql"
mkdir -p releases upgrade
cp "phoenix--$cur.sql" "releases/phoenix--$cur.sql"
(cd releases && sha256sum "phoenix--$cur.sql" >> SHA256SUMS)
printf '%s %s\n' "$cur" "$(git rev-parse HEAD)" >> releases/COMMITS
sed -i "s/^default_version = '.*'/default_version = '$next'/" phoenix.control
cat > "upgrade/phoenix--$cur--$next.sql" <<SQL
-- phoenix $cur -> $next.  Repeat here, as DDL, every change made to src/sql/
-- since $cur was released, and bring along the tables earlier code made for
-- the data when what create_projection or create_entity make changes (a
-- fillfactor, an index: loop over phoenix.projections / phoenix.entities).
-- test/shell/upgrade.sh compares the result with a fresh install
-- (docs/upgrades.md; scripts/upgrade_draft.sh drafts the catalog DDL).
\\echo Use "ALTER EXTENSION phoenix UPDATE TO '$next'" to load this file. \\quit
SQL
echo "froze releases/phoenix--$cur.sql; now at $next; edit upgrade/phoenix--$cur--$next.sql"
echo "then: git add releases/ upgrade/phoenix--$cur--$next.sql phoenix.control && git tag v$cur $(git rev-parse --short HEAD)"
