#!/usr/bin/env bash
# ALTER EXTENSION phoenix UPDATE from every released version (releases/
# phoenix--X.Y.Z.sql, frozen at release time) to the current one, with data in
# place: afterwards the extension's objects equal a fresh install's
# (test/upgrade/signature.sql), the data still answers the same and takes
# new writes the same way (test/upgrade/check.sql), and the stories
# (sql/story*.sql, sql/projection_stories.sql) give their expected output on
# a database updated from the release.  At least one release must be frozen.
#
# When src/sql/ gains or changes an object, the upgrade script must repeat it:
# scripts/upgrade_draft.sh prints the DDL still missing (see test/README.md).
#
# The harness also checks itself on a synthetic previous version (the
# current script plus an obsolete function): a correct upgrade script passes,
# one that forgets to drop the function must be caught.
set -euo pipefail
ROOT=$PHOENIX_ROOT
CUR=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/phoenix.control")
EXTDIR=$PHOENIX_SANDBOX/usr/share/postgresql/15/extension
WORK=$(mktemp -d /tmp/phoenix-upgrade.XXXXXX)
q() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -At "$@"; }
newdb() { q -d postgres -c "DROP DATABASE IF EXISTS \"$1\"" -c "CREATE DATABASE \"$1\""; }
cleanup() {
  rm -f "$EXTDIR/phoenix--0.0.0.sql" "$EXTDIR/phoenix--0.0.0--$CUR.sql"
  for db in upg_fresh upg_synthetic upg_synthetic_bad upg_story $(ls "$ROOT"/releases/phoenix--*.sql 2>/dev/null |
             sed 's/.*phoenix--\(.*\)\.sql/upg_\1/' | tr . _); do
    q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# The reference: a fresh install of the current version, with the same data.
newdb upg_fresh 2>/dev/null
q -d upg_fresh -c "CREATE EXTENSION phoenix CASCADE" >/dev/null
q -d upg_fresh -f "$ROOT/test/upgrade/signature.sql" > "$WORK/fresh.sig"
q -d upg_fresh -f "$ROOT/test/upgrade/data.sql" >/dev/null
q -d upg_fresh -f "$ROOT/test/upgrade/check.sql" > "$WORK/fresh.check"
[ -s "$WORK/fresh.sig" ] || { echo "empty signature"; exit 1; }

# upgrade_from <version> <db>: install that version, put data in, update, compare
upgrade_from() {
  local v=$1 db=$2
  newdb "$db" 2>/dev/null
  q -d "$db" -c "CREATE EXTENSION phoenix VERSION '$v' CASCADE" >/dev/null
  q -d "$db" -f "$ROOT/test/upgrade/data.sql" >/dev/null
  q -d "$db" -c "ALTER EXTENSION phoenix UPDATE" >/dev/null
  [ "$(q -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'phoenix'")" = "$CUR" ] ||
    { echo "$v: not at $CUR after the update"; return 1; }
  q -d "$db" -f "$ROOT/test/upgrade/signature.sql" > "$WORK/$db.sig"
  if ! diff -u "$WORK/fresh.sig" "$WORK/$db.sig" > "$WORK/$db.diff"; then
    echo "$v: upgraded objects differ from a fresh install:"; head -40 "$WORK/$db.diff"
    echo "(upgrade/phoenix--$v--$CUR.sql lacks these changes of src/sql/: bash scripts/upgrade_draft.sh drafts them)"
    return 1
  fi
  q -d "$db" -f "$ROOT/test/upgrade/check.sql" > "$WORK/$db.check"
  diff -u "$WORK/fresh.check" "$WORK/$db.check" || { echo "$v: data reads differently after the update"; return 1; }
}

# 1. Every real release.
n=0
for f in "$ROOT"/releases/phoenix--*.sql; do
  [ -e "$f" ] || continue
  v=$(basename "$f" .sql); v=${v#phoenix--}
  [ "$v" = "$CUR" ] && { echo "releases/ holds the current version $CUR: bump default_version after freezing"; exit 1; }
  upgrade_from "$v" "upg_$(tr . _ <<<"$v")"
  n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "no frozen release in releases/: nothing to upgrade from (scripts/release.sh)"; exit 1; }
echo "upgraded from $n released version(s) to $CUR"

# 1b. The stories on a database updated from the latest release: the same
# expected output, except that the extension is there already.
latest=$(ls "$ROOT"/releases/phoenix--*.sql | sed 's/.*phoenix--\(.*\)\.sql/\1/' | sort -V | tail -1)
PG_REGRESS=$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress
mkdir -p "$WORK/stories/sql" "$WORK/stories/expected"
for story in story1_late_presence story4_forgotten_employee projection_stories; do
  # (without the lines that make a database of its own: it runs in the updated one)
  sed -e '/^\\set ECHO none$/,/^\\set ECHO all$/d' \
      -e 's/^CREATE EXTENSION phoenix CASCADE;$/CREATE EXTENSION IF NOT EXISTS phoenix CASCADE;/' \
    "$ROOT/sql/$story.sql" > "$WORK/stories/sql/$story.sql"
  sed -e '/^\\set ECHO none$/d' -e 's/^CREATE EXTENSION phoenix CASCADE;$/CREATE EXTENSION IF NOT EXISTS phoenix CASCADE;/' \
      -e 's/^NOTICE:  installing required extension "btree_gist"$/NOTICE:  extension "phoenix" already exists, skipping/' \
    "$ROOT/expected/$story.out" > "$WORK/stories/expected/$story.out"
  newdb upg_story 2>/dev/null
  q -d upg_story -c "CREATE EXTENSION phoenix VERSION '$latest' CASCADE" -c "ALTER EXTENSION phoenix UPDATE" >/dev/null 2>&1
  if ! "$PG_REGRESS" --bindir="$PGBIN" --inputdir="$WORK/stories" --outputdir="$WORK/stories" --host="$PGHOST" \
       --port="$PGPORT" --user=postgres --use-existing --dbname=upg_story "$story" >"$WORK/stories/$story.log" 2>&1; then
    echo "$story differs on a database updated from $latest:"; head -60 "$WORK/stories/regression.diffs"; exit 1
  fi
done
echo "stories pass on a database updated from $latest"

# 2. The harness on a synthetic previous version 0.0.0.
sed 's/^\\echo .*//' "$PHOENIX_SANDBOX/usr/share/postgresql/15/extension/phoenix--$CUR.sql" > "$EXTDIR/phoenix--0.0.0.sql"
cat >> "$EXTDIR/phoenix--0.0.0.sql" <<'SQL'
CREATE FUNCTION phoenix.obsolete() RETURNS int LANGUAGE sql AS 'SELECT 1';
SQL
echo "DROP FUNCTION phoenix.obsolete();" > "$EXTDIR/phoenix--0.0.0--$CUR.sql"
upgrade_from 0.0.0 upg_synthetic
echo "-- forgets to drop phoenix.obsolete()" > "$EXTDIR/phoenix--0.0.0--$CUR.sql"
if upgrade_from 0.0.0 upg_synthetic_bad >/dev/null 2>&1; then
  echo "the harness missed an object left behind by an upgrade script"; exit 1
fi
grep -q 'obsolete' "$WORK/upg_synthetic_bad.diff" || { echo "the difference was not the obsolete function"; exit 1; }
echo ok
