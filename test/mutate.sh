#!/usr/bin/env bash
# test/mutate.sh — mutation testing of the test suite (on demand; not part of
# make test).  Each mutant in test/mutants.txt is one deliberate bug: an exact
# search/replace in one source file.  For each, in a private copy of the
# working tree, the mutant is applied, the suites it names run (scripts/test.sh
# with PHOENIX_TESTS set to its regex), and the mutant is "killed" when they
# fail, "survived" when they pass.  A survivor is a bug the tests cannot see.
#
#   bash test/mutate.sh                 every mutant (and a baseline run first)
#   MUTANTS=regex bash test/mutate.sh   only mutants whose name matches
#   MUTANTS_SKIP=regex                  leave out mutants whose name matches
#   MUTATE_BASELINE=0                   skip the unmutated baseline run
#   MUTANT_TIMEOUT=seconds              per mutant (default 1800); a timeout counts as killed
#   PHOENIX_STEPS (default 1000)        timeline_differential's steps, passed through
#
# test/mutants.txt: a mutant is
#   == <name> <file name glob> <PHOENIX_TESTS regex>
#   # <what the bug is>
#   -<line of the exact text to find>      (one or more lines)
#   +<line of the text to put instead>     (one or more lines)
# The file is found by name under src/ (src/ is organised in folders), and the
# text must occur exactly once across the files of that name: otherwise the
# run stops before anything else, naming the mutant, so that a refactoring
# that moves code cannot silently turn a mutant into a no-op.
# Exit status: 0 when every mutant was killed, 1 when some survived, 2 when
# the list or the baseline is broken.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIST=${MUTANTS_FILE:-$ROOT/test/mutants.txt}
ONLY=${MUTANTS:-.}
SKIP=${MUTANTS_SKIP:-^$}
export PHOENIX_STEPS=${PHOENIX_STEPS:-1000}
WORK=$(mktemp -d /tmp/phoenix-mutate.XXXXXX); chmod 755 "$WORK"
LOGS=$WORK/logs; mkdir -p "$LOGS"
SB=$WORK/sandbox
stop_leftovers() {
  [ -f "$SB/data/postmaster.pid" ] || return 0
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$SB/usr/lib/postgresql/15/bin/pg_ctl" -D "$SB/data" stop -m immediate
  else "$SB/usr/lib/postgresql/15/bin/pg_ctl" -D "$SB/data" stop -m immediate; fi >/dev/null 2>&1 || true
}
cleanup() { stop_leftovers; rm -rf "$WORK/tree" "$SB"; }
trap cleanup EXIT

# mutant_tool <check|apply|revert> <tree> <name>: the list's parser
mutant_tool() {
  python3 - "$LIST" "$@" <<'PY'
import sys, os, fnmatch
lst, action, tree = sys.argv[1], sys.argv[2], sys.argv[3]
want = sys.argv[4] if len(sys.argv) > 4 else None
mutants, cur = [], None
for line in open(lst).read().split('\n'):
    if line.startswith('== '):
        name, glob, tests = line[3:].split(' ', 2)
        cur = {'name': name, 'glob': glob, 'tests': tests, 'why': '', 'search': [], 'replace': []}
        mutants.append(cur)
    elif cur is None or line == '':
        continue
    elif line.startswith('# '): cur['why'] = line[2:]
    elif line.startswith('-'): cur['search'].append(line[1:])
    elif line.startswith('+'): cur['replace'].append(line[1:])
    else: sys.exit('%s: cannot read line %r' % (lst, line))
def files(glob):
    for d, _, fs in os.walk(os.path.join(tree, 'src')):
        for f in fs:
            if fnmatch.fnmatch(f, glob): yield os.path.join(d, f)
def locate(m):
    s = '\n'.join(m['search'])
    hits = [(f, open(f).read().count(s)) for f in files(m['glob'])]
    found = [f for f, n in hits if n]
    if sum(n for _, n in hits) != 1 or not m['replace']:
        sys.exit('mutant %s: its text occurs %d times in src/**/%s (must be exactly once)'
                 % (m['name'], sum(n for _, n in hits), m['glob']))
    return found[0], s, '\n'.join(m['replace'])
if action == 'check':
    names = set()
    for m in mutants:
        if m['name'] in names: sys.exit('mutant %s: listed twice' % m['name'])
        names.add(m['name'])
        locate(m)
    for m in mutants: print('%s\t%s\t%s' % (m['name'], m['tests'], m['why']))
    sys.exit(0)
m = next(m for m in mutants if m['name'] == want)
f, s, r = locate(m) if action == 'apply' else (None, None, None)
if action == 'apply':
    text = open(f).read()
    open(f + '.orig-mutate', 'w').write(text)
    open(f, 'w').write(text.replace(s, r))
    print(os.path.relpath(f, tree))
PY
}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
# A private copy of the working tree (tracked and untracked files, not ignored ones).
mkdir -p "$WORK/tree"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$WORK/tree" 2>/dev/null
mutant_tool check "$WORK/tree" >"$WORK/list" || exit 2
mapfile -t rows < <(awk -F'\t' -v only="$ONLY" -v skip="$SKIP" '$1 ~ only && $1 !~ skip' "$WORK/list")
[ ${#rows[@]} -gt 0 ] || { echo "no mutant matches MUTANTS=$ONLY"; exit 2; }
log "${#rows[@]} mutants; work in $WORK"

run_suites() { # run_suites <regex> <log>: scripts/test.sh in the copy
  stop_leftovers; rm -rf "$SB"; mkdir -p "$SB"
  (cd "$WORK/tree" && PHOENIX_SANDBOX=$SB PHOENIX_TESTS=$1 timeout "${MUTANT_TIMEOUT:-1800}" bash scripts/test.sh) >"$2" 2>&1
}

if [ "${MUTATE_BASELINE:-1}" != 0 ]; then
  union=$(printf '%s\n' "${rows[@]}" | cut -f2 | paste -sd'|')
  log "baseline: the suites must pass unmutated"
  if ! run_suites "$union" "$LOGS/baseline.log"; then
    grep -E 'FAILED|passed' "$LOGS/baseline.log" | tail -5
    echo "baseline failed (log: $LOGS/baseline.log): fix the suites first"; trap - EXIT; exit 2
  fi
fi

killed=0; survived=(); n=0
for row in "${rows[@]}"; do
  IFS=$'\t' read -r name tests why <<<"$row"
  n=$((n + 1))
  file=$(mutant_tool apply "$WORK/tree" "$name") || exit 2
  start=$(date +%s)
  run_suites "$tests" "$LOGS/$name.log"; rc=$?
  # restored by content, so that its time is newer than the mutant's object
  cat "$WORK/tree/$file.orig-mutate" >"$WORK/tree/$file"; rm "$WORK/tree/$file.orig-mutate"
  secs=$(( $(date +%s) - start ))
  if [ $rc != 0 ] && [ $rc != 124 ] && ! grep -qE '^  (ok|FAILED) ' "$LOGS/$name.log"; then
    # no suite ran: the build or the cluster failed, which proves nothing
    printf '%3d BROKEN    %-34s %4ss  (log: %s)\n' "$n" "$name" "$secs" "$LOGS/$name.log"
    tail -5 "$LOGS/$name.log"; trap - EXIT; stop_leftovers; exit 2
  elif [ $rc != 0 ]; then
    killed=$((killed + 1))
    by=$(grep -oE 'FAILED +[^ ]+' "$LOGS/$name.log" | awk '{print $2}' | paste -sd, -)
    [ $rc = 124 ] && by="timeout"
    printf '%3d killed    %-34s %4ss  by %s\n' "$n" "$name" "$secs" "$by"
  else
    survived+=("$name")
    printf '%3d SURVIVED  %-34s %4ss  %s (%s)\n' "$n" "$name" "$secs" "$why" "$file"
  fi
done
echo "$n mutants: $killed killed, ${#survived[@]} survived${survived:+: ${survived[*]}}"
if [ ${#survived[@]} -gt 0 ]; then trap - EXIT; stop_leftovers; echo "logs: $LOGS"; exit 1; fi
