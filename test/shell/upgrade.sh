#!/usr/bin/env bash
# ALTER EXTENSION phoenix UPDATE from every released version (releases/
# phoenix--X.Y.Z.sql, frozen at release time) to the current one, with data in
# place (test/upgrade/data.sql: entities with history, corrections and a
# retraction, the log with several event types and dead letters, projections
# of each kind including a booking series, a paused subscription, a disabled
# publication, an export cursor, a forget, changes waiting to come due).
# Afterwards the updated database must equal a fresh install given the same
# steps, compared as text:
#   - the extension's objects (test/upgrade/signature.sql);
#   - the objects Phoenix made for the data: history and reporting tables,
#     their indexes, storage options, triggers (test/upgrade/structure.sql);
#   - every row of every table and every sequence (test/upgrade/contents.sql);
#   - the data's answers through the API (test/upgrade/check.sql);
#   - then the stories played on it (test/upgrade/stories.sql: new events,
#     late corrections cascading into rows made before the update, apply_due,
#     series amendments, replayed dead letters, forget, rebuilds), and every
#     row again.
# Each release is updated twice: installed on the current binary, and made
# by its own phoenix.so (built from its commit in releases/COMMITS) in a
# private cluster that then restarts on the current binaries, as a real
# upgrade does.  Each frozen release must still match its sha256 in
# releases/SHA256SUMS (a released script is never edited), and every C
# function it declares must still be in phoenix.so.
#
# The harness also checks itself on a synthetic previous version (the
# current script plus an obsolete function): a correct upgrade script passes,
# one that forgets to drop the function must be caught.
set -euo pipefail
ROOT=$PHOENIX_ROOT
. "$ROOT/test/cluster_lib.sh"
CUR=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/phoenix.control")
EXTDIR=$PHOENIX_SANDBOX/usr/share/postgresql/15/extension
WORK=$(mktemp -d /tmp/phoenix-upgrade.XXXXXX)
chmod 755 "$WORK"
q() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -At "$@"; }
# qd <db> <file>: run a file of test/upgrade/ with the database's export
# directory; the directory and the database's name read EXPORTDIR and DB
qd() {
  local dir=$WORK/export-$1
  [ -d "$dir" ] || { mkdir -p "$dir"; chmod 777 "$dir"; }
  q -d "$1" -v exportdir="$dir" -f "$ROOT/test/upgrade/$2" | sed "s|$dir|EXPORTDIR|g; s|$1|DB|g"
}
newdb() { q -d postgres -c "DROP DATABASE IF EXISTS \"$1\"" -c "CREATE DATABASE \"$1\""; }
cleanup() {
  rm -f "$EXTDIR/phoenix--0.0.0.sql" "$EXTDIR/phoenix--0.0.0--$CUR.sql"
  for db in upg_fresh upg_synthetic upg_synthetic_bad $(ls "$ROOT"/releases/phoenix--*.sql 2>/dev/null |
             sed 's/.*phoenix--\(.*\)\.sql/upg_\1 upg_ids_\1/' | tr . _); do
    q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
  done
  second_cluster_stop
  rm -rf "${OLD_TREES[@]}"
  [ -n "${PHOENIX_KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
OLD_TREES=()
trap cleanup EXIT

# Frozen releases are never edited: each matches its recorded sha256.
(cd "$ROOT/releases" && for f in phoenix--*.sql; do
   [ -e "$f" ] || continue
   grep -q " $f\$" SHA256SUMS || { echo "releases/$f has no line in releases/SHA256SUMS"; exit 1; }
 done
 [ ! -e SHA256SUMS ] || sha256sum --quiet -c SHA256SUMS) ||
  { echo "a frozen release differs from its recorded sha256 (releases/ files are never edited)"; exit 1; }

# The current phoenix.so keeps every C function a frozen release declares
# (a database stays at that version until ALTER EXTENSION UPDATE runs, on the
# new binary): one removed needs a stub raising feature_not_supported.
SO=$PHOENIX_SANDBOX/usr/lib/postgresql/15/lib/phoenix.so
for f in "$ROOT"/releases/phoenix--*.sql; do
  [ -e "$f" ] || continue
  missing=$(comm -23 <(grep -o "'MODULE_PATHNAME', *'[A-Za-z0-9_]*'" "$f" | sed "s/.*, *'\(.*\)'/\1/" | sort -u) \
                     <(nm -D --defined-only "$SO" | awk '{ print $3 }' | sort -u))
  [ -z "$missing" ] || { echo "$(basename "$f") declares C functions phoenix.so no longer has:" $missing \
                              "(keep each as a stub raising feature_not_supported: docs/upgrades.md)"; exit 1; }
done

# after_update <db> <tag>: everything compared, in order, into $WORK/<tag>.*
after_update() {
  local db=$1 t=$2
  q -d "$db" -f "$ROOT/test/upgrade/signature.sql" > "$WORK/$t.sig" || return 1
  q -d "$db" -f "$ROOT/test/upgrade/structure.sql" > "$WORK/$t.structure" || return 1
  qd "$db" contents.sql > "$WORK/$t.contents" || return 1
  qd "$db" check.sql > "$WORK/$t.check" || return 1
  qd "$db" stories.sql > "$WORK/$t.stories" || return 1
  q -d "$db" -f "$ROOT/test/upgrade/structure.sql" > "$WORK/$t.structure2" || return 1
  qd "$db" contents.sql > "$WORK/$t.contents2"
}

# The reference: a fresh install of the current version, with the same data.
newdb upg_fresh 2>/dev/null
q -d upg_fresh -c "CREATE EXTENSION phoenix CASCADE" >/dev/null
qd upg_fresh data.sql >/dev/null
after_update upg_fresh fresh
[ -s "$WORK/fresh.sig" ] || { echo "empty signature"; exit 1; }
grep -q '^ok: a late correction reaches a booking' "$WORK/fresh.stories" || { echo "the stories did not run"; exit 1; }

# upgrade_from <version> <db>: install that version, put data in, update, compare
upgrade_from() {
  local v=$1 db=$2 what
  newdb "$db" 2>/dev/null
  q -d "$db" -c "CREATE EXTENSION phoenix VERSION '$v' CASCADE" >/dev/null
  qd "$db" data.sql >/dev/null
  q -d "$db" -c "ALTER EXTENSION phoenix UPDATE" >/dev/null
  compare_updated "$v" "$db"
}

# compare_updated <what> <db>: the updated database against the fresh one
compare_updated() {
  local v=$1 db=$2 what
  [ "$(q -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'phoenix'")" = "$CUR" ] ||
    { echo "$v: not at $CUR after the update"; return 1; }
  after_update "$db" "$db" || { echo "$v: a step failed on the updated database (above)"; return 1; }
  for what in sig:"extension objects" structure:"objects made for the data" contents:"table contents after the update" \
              check:"answers after the update" stories:"answers of the stories" \
              structure2:"objects made for the data, after the stories" contents2:"table contents after the stories"; do
    if ! diff -u "$WORK/fresh.${what%%:*}" "$WORK/$db.${what%%:*}" > "$WORK/$db.diff"; then
      echo "$v: ${what#*:} differ from a fresh install's:"; head -40 "$WORK/$db.diff"; return 1
    fi
  done
}

# release_so <version>: the phoenix.so of that release, built once from its
# commit (releases/COMMITS) into $PHOENIX_RELEASE_CACHE/<commit>/ (default
# ~/.cache/phoenix/release-builds, shared by every checkout on the machine);
# the commit's install script must be the frozen one.
release_so() {
  local v=$1 commit cache src
  commit=$(awk -v v="$v" '$1 == v { print $2 }' "$ROOT/releases/COMMITS" 2>/dev/null)
  [ -n "$commit" ] || { echo "releases/COMMITS names no commit for $v" >&2; return 1; }
  cache=${PHOENIX_RELEASE_CACHE:-${HOME:-/tmp}/.cache/phoenix/release-builds}/$commit
  if [ ! -f "$cache/phoenix.so" ]; then
    git -C "$ROOT" cat-file -e "$commit^{commit}" 2>/dev/null ||
      { echo "the commit of $v ($commit) is not in this clone (git fetch it)" >&2; return 1; }
    src=$(mktemp -d /tmp/phoenix-release-src.XXXXXX)
    git -C "$ROOT" archive "$commit" | tar -x -C "$src"
    echo "building phoenix $v from $commit (once; cached in $cache)" >&2
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$src" -s -j2 "phoenix--$v.sql" all >"$src/build.log" 2>&1 ||
      { tail -20 "$src/build.log" >&2; rm -rf "$src"; return 1; }
    cmp -s "$src/phoenix--$v.sql" "$ROOT/releases/phoenix--$v.sql" ||
      { echo "the install script of $commit is not releases/phoenix--$v.sql" >&2; rm -rf "$src"; return 1; }
    mkdir -p "$cache.$$" && cp "$src/phoenix.so" "$cache.$$/" && rm -rf "$src" &&
      { mv -T "$cache.$$" "$cache" 2>/dev/null || rm -rf "$cache.$$"; }   # another run may have won
  fi
  echo "$cache/phoenix.so"
}

# upgrade_binary_from <version> <db>: the real thing — a private cluster
# running the release's own phoenix.so makes the data (so the tables that
# create_entity and create_projection make are the old code's), is stopped,
# starts again on the current binaries, and is updated; then compared as above.
upgrade_binary_from() {
  local v=$1 db=$2 so old
  so=$(release_so "$v") || return 1
  old=$(mktemp -d /tmp/phoenix-release-bin.XXXXXX); chmod 755 "$old"
  OLD_TREES+=("$old")
  cp -a "$PHOENIX_SANDBOX/usr" "$old/"
  cp "$so" "$old/usr/lib/postgresql/15/lib/phoenix.so"
  PGBIN=$old/usr/lib/postgresql/15/bin second_cluster_start "$db"
  PGHOST=$S_PGHOST PGPORT=$S_PGPORT q -d "$db" -c "CREATE EXTENSION phoenix VERSION '$v' CASCADE" >/dev/null
  PGHOST=$S_PGHOST PGPORT=$S_PGPORT qd "$db" data.sql >/dev/null
  as_pg "$old/usr/lib/postgresql/15/bin/pg_ctl" -D "$S_PGDATA" -w -t 60 stop -m fast >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$S_PGDATA" -l "$S_SANDBOX/server.log" -w -t 60 start >/dev/null
  # until the update, the old declarations run on the new binary: reads work
  PGHOST=$S_PGHOST PGPORT=$S_PGPORT qd "$db" check.sql >/dev/null ||
    { echo "$v: reads fail on the new binary before ALTER EXTENSION phoenix UPDATE"; return 1; }
  PGHOST=$S_PGHOST PGPORT=$S_PGPORT q -d "$db" -c "ALTER EXTENSION phoenix UPDATE" >/dev/null
  PGHOST=$S_PGHOST PGPORT=$S_PGPORT compare_updated "$v (its own binary)" "$db"
  local rc=$?
  second_cluster_stop
  return $rc
}

# generated_ids_across <version> <db>: an event sent without an id before the
# update (its id a claimed version 7 UUID: the release has no node table, so
# the current binary makes the old form) is the same event when repeated
# after it, and the ids made after it name their position, unclaimed, and
# are recognised too (src/ingest/eventid.c)
generated_ids_across() {
  local v=$1 db=$2 old new
  # emitted <payload>: "<event id> <position>" of the event emitted without an id
  emitted() { q -d "$db" -c "SELECT event_id || ' ' || position FROM phoenix.event_log
                             WHERE position = $(q -d "$db" -c "SELECT phoenix.emit('reading', '$1')")"; }
  newdb "$db" 2>/dev/null
  q -d "$db" -c "CREATE EXTENSION phoenix VERSION '$v' CASCADE" >/dev/null
  q -d "$db" -c "SELECT phoenix.create_event_type('reading', '{\"type\":\"object\"}')" >/dev/null
  old=$(emitted '{"v": 1}')
  [ "$(q -d "$db" -c "SELECT count(*) FROM phoenix.event_ids WHERE event_id = '${old% *}'")" = 1 ] ||
    { echo "$v: an id generated before the update ($old) was not claimed"; return 1; }
  q -d "$db" -c "ALTER EXTENSION phoenix UPDATE" >/dev/null
  [ "$(q -d "$db" -c "SELECT phoenix.emit('reading', '{\"v\": 1}', event_id => '${old% *}')")" = "${old#* }" ] ||
    { echo "$v: the repeat of an id generated before the update was not the same event"; return 1; }
  new=$(emitted '{"v": 2}')
  [[ "$new" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-8 ]] || { echo "$v: after the update, a new id is $new"; return 1; }
  [ "$(q -d "$db" -c "SELECT count(*) FROM phoenix.event_ids WHERE event_id = '${new% *}'")" = 0 ] ||
    { echo "$v: an id generated after the update was claimed"; return 1; }
  [ "$(q -d "$db" -c "SELECT phoenix.emit('reading', '{\"v\": 2}', event_id => '${new% *}')")" = "${new#* }" ] ||
    { echo "$v: the repeat of an id generated after the update was not the same event"; return 1; }
  q -d postgres -c "DROP DATABASE \"$db\"" >/dev/null
}

# 1. Every real release: with the current binary, then with its own.
n=0
for f in "$ROOT"/releases/phoenix--*.sql; do
  [ -e "$f" ] || continue
  v=$(basename "$f" .sql); v=${v#phoenix--}
  [ "$v" = "$CUR" ] && { echo "releases/ holds the current version $CUR: bump default_version after freezing"; exit 1; }
  upgrade_from "$v" "upg_$(tr . _ <<<"$v")"
  generated_ids_across "$v" "upg_ids_$(tr . _ <<<"$v")"
  upgrade_binary_from "$v" "upg_binary_$(tr . _ <<<"$v")"
  n=$((n + 1))
done
echo "upgraded from $n released version(s) to $CUR"

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
