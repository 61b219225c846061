#!/usr/bin/env bash
# scripts/upgrade_draft.sh — draft the DDL missing from the upgrade script.
#
# Builds Phoenix, starts a throwaway cluster, installs the current version
# fresh and, in another database, the latest frozen release (releases/)
# updated with ALTER EXTENSION phoenix UPDATE (i.e. through the upgrade
# script as it is now).  Every object whose definition differs
# (test/upgrade/objects.sql) is printed as the DDL that makes the updated
# database match: CREATE OR REPLACE for functions and views, ADD COLUMN /
# CONSTRAINT / INDEX IF NOT EXISTS, DROP for objects that are gone, and a
# "-- TODO" line where only a person can write it (a new table: copy its
# CREATE TABLE from src/sql/).  Nothing is printed when the upgrade is
# complete.  Review the draft, then append it:
#
#   bash scripts/upgrade_draft.sh > /tmp/draft.sql
#   cat /tmp/draft.sql >> upgrade/phoenix--0.1.0--0.2.0.sql
#   PHOENIX_TESTS=upgrade make test      # fresh == updated, data and stories
#
# src/sql/90_grants.sql need not be repeated: make appends it to every
# upgrade script.  PHOENIX_KEEP=1 keeps the cluster's sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh
prev=$(ls releases/phoenix--*.sql 2>/dev/null | sed 's/.*phoenix--\(.*\)\.sql/\1/' | sort -V | tail -1)
[ -n "$prev" ] || die "no frozen release in releases/"
cur=$(sed -n "s/^default_version = '\(.*\)'/\1/p" phoenix.control)
[ -f "upgrade/phoenix--$prev--$cur.sql" ] || die "no upgrade/phoenix--$prev--$cur.sql (run scripts/release.sh?)"
build_extension >&2
unset PHOENIX_SANDBOX
sandbox_create >&2
trap sandbox_destroy EXIT
cluster_start postgres >&2
work=$PHOENIX_SANDBOX/draft; mkdir -p "$work"
psql_q -d postgres -c "CREATE DATABASE draft_fresh" -c "CREATE DATABASE draft_updated"
psql_q -d draft_fresh -c "CREATE EXTENSION phoenix CASCADE" >/dev/null
psql_q -d draft_updated -c "CREATE EXTENSION phoenix VERSION '$prev' CASCADE" -c "ALTER EXTENSION phoenix UPDATE" >/dev/null
psql_q -d draft_fresh -At -F $'\t' -f test/upgrade/objects.sql >"$work/fresh.tsv"
psql_q -d draft_updated -At -F $'\t' -f test/upgrade/objects.sql >"$work/updated.tsv"
python3 - "$work/fresh.tsv" "$work/updated.tsv" "$prev" "$cur" <<'PY'
import sys
def load(p):
    d = {}
    for line in open(p, encoding='utf-8'):
        kind, ident, definition, ddl = line.rstrip('\n').split('\t')
        un = lambda s: s.replace('\\n', '\n').replace('\\\\', '\\')
        d[(kind, ident)] = (un(definition), un(ddl))
    return d
fresh, updated, prev, cur = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3], sys.argv[4]
order = ['table', 'sequence', 'column', 'constraint', 'index', 'options', 'function', 'view', 'trigger', 'other']
drop = {'function': 'DROP FUNCTION {i};', 'view': 'DROP VIEW {i};', 'index': 'DROP INDEX {i};',
        'table': 'DROP TABLE {i};', 'sequence': 'DROP SEQUENCE {i};', 'other': '-- TODO: drop {i}',
        'column': 'ALTER TABLE {t} DROP COLUMN {c};', 'constraint': 'ALTER TABLE {t} DROP CONSTRAINT {c};',
        'trigger': 'DROP TRIGGER {c} ON {t};', 'options': 'ALTER TABLE {i} RESET ({names});'}
out = []
for kind in reversed(order):                       # what is gone first, dependants before what they use
    for (k, i) in sorted(updated):
        if k == kind and (k, i) not in fresh:
            t, _, c = i.rpartition('.' if k == 'column' else ' ')
            names = ', '.join(o.split('=')[0] for o in updated[(k, i)][0].strip('{}').split(',')) if k == 'options' else ''
            out.append(drop[k].format(i=i, t=t, c=c, names=names))
for kind in order:
    for (k, i) in sorted(fresh):
        if k != kind or updated.get((k, i), (None,))[0] == fresh[(k, i)][0]:
            continue
        if (k, i) in updated and k == 'options':      # SET what is new; RESET what is gone by hand
            out.append(fresh[(k, i)][1] + '\n-- (was %s: RESET any option no longer set)' % updated[(k, i)][0])
        elif (k, i) in updated and k in ('column', 'constraint', 'index', 'trigger', 'table', 'sequence'):
            out.append('-- TODO: %s %s changed: was\n--   %s\n-- now\n--   %s' % (k, i, updated[(k, i)][0], fresh[(k, i)][0]))
        elif (k, i) in updated and k == 'view':
            out.append('-- (if its columns changed, DROP VIEW %s first)\n%s' % (i, fresh[(k, i)][1]))
        else:
            out.append(fresh[(k, i)][1])
if out:
    print('-- Drafted by scripts/upgrade_draft.sh for phoenix %s -> %s: review, then append to\n'
          '-- upgrade/phoenix--%s--%s.sql (grants come from src/sql/90_grants.sql, appended by make).\n' % (prev, cur, prev, cur))
    print('\n\n'.join(out))
else:
    print('-- upgrade/phoenix--%s--%s.sql is complete: an updated install has every object of a fresh one' % (prev, cur), file=sys.stderr)
PY
