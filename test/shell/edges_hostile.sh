#!/usr/bin/env bash
# The hostile-input campaign ("Guarantees at the edges"): generated inputs
# that mix valid events with what breaks naive bulk loaders — keys too large
# for an index (5,000 random characters), oversized strings, NUL and other
# control escapes, lone surrogates, invalid UTF-8 and NUL bytes (CSV files),
# deep nesting, numbers too large for numeric or for a bigint column, dates
# out of range (year 0, 294277, infinity), wrong types after a
# compatibility => 'none' schema change, unknown types, malformed envelopes,
# over-long event ids, ids repeated with the same or another payload, and
# ids of the form Phoenix generates (this database's node: refused; another
# database's: a producer's id) —
# sent through every path: emit_batch (jsonb and text), ingest_csv (server
# file), single emit, and replay_dead_letters.
#
# After every round:
#   - each bulk call returned, and accepted + rejected = its inputs (no call
#     aborted: no neighbour lost to one bad element);
#   - every input is in exactly one of the event log or the pending dead
#     letters (found by its source and source position; an id sent twice
#     with the same payload may be logged under either input's position);
#   - a single emit either logged its event or raised, with nothing left;
#   - both projections equal their rebuild, and the events projection equals
#     a plain-SQL recomputation from the log;
#   - the server is the one that started (no crash).
#
#   PHOENIX_FUZZ_N   inputs in all (default 3,000: make test's slice)
#   PHOENIX_SEED     the seed (default fixed; "random" draws one); printed
set -euo pipefail
N=${PHOENIX_FUZZ_N:-3000}
ROUNDS=${PHOENIX_FUZZ_ROUNDS:-3}
case "${PHOENIX_SEED:-}" in
  '') SEED=20261206 ;;
  random) SEED=$(( (RANDOM << 15) | RANDOM )) ;;
  *) SEED=$PHOENIX_SEED ;;
esac
echo "hostile-input campaign: seed $SEED, $N inputs, $ROUNDS rounds (PHOENIX_SEED=$SEED to repeat)"
psql() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -qAt "$@"; }
dir=$(mktemp -d /tmp/phoenix-hostile.XXXXXX); chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT

psql <<'SQL' >/dev/null
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('employee', key => 'employee_id',
       attributes => '{"name":"text","department":"text","grade":"integer","since":"date"}');
SELECT phoenix.create_event_type('emp.changed', schema => '{"type":"object","required":["employeeId"],
  "properties":{"employeeId":{"type":"string"},"name":{"type":"string"},"department":{"type":"string"},
                "grade":{"type":"integer"},"since":{"type":"string","format":"date"}}}',
  entity => 'employee', key_field => 'employeeId',
  sets => '{"name":"name","department":"department","grade":"grade","since":"since"}');
SELECT phoenix.create_event_type('swipe', schema => '{"type":"object","required":["employeeId","n"],
  "properties":{"employeeId":{"type":"string"},"floor":{"type":"string"},"n":{"type":"integer"},
                "at":{"type":"string"},"day":{"type":"string","format":"date"},"note":{"type":"string"},
                "tags":{"type":"array"}}}', time_field => 'at');
SELECT phoenix.create_projection('swipes', source => 'swipe',
  columns => '{"employee_id":"employeeId","floor":"floor","n":"n","day":"day"}',
  enrich => '[{"entity":"employee","key":"employee_id","attributes":{"name":"event_time","department":"event_time"}}]');
SELECT phoenix.create_projection('swipe_latest', source => 'swipe',
  columns => '{"employee_id":"employeeId","floor":"floor"}', kind => 'latest', latest_key => 'employee_id');
SQL
start=$(psql -c "SELECT pg_postmaster_start_time()")

# generate: one directory per round, a manifest of every input (tab-separated)
node=$(psql -c "SELECT min(node) FROM phoenix.generated_id_nodes")   # the node of this database's generated ids
python3 - "$SEED" "$N" "$ROUNDS" "$dir" "$node" <<'PY'
import json, random, sys, os
seed, total, rounds, d, node = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
rnd = random.Random(seed)
HEX = '0123456789abcdef'
def rhex(n): return ''.join(rnd.choice(HEX) for _ in range(n))
def big_key(): return 'K' + rhex(5000)      # random: does not compress under the btree limit
ids = []                                      # (event_id, type, payload) of earlier valid inputs
counter = [0]
def new_id():
    counter[0] += 1
    return 'ev-%d-%d' % (seed % 100000, counter[0])
def dumps(o): return json.dumps(o, separators=(',', ':'), ensure_ascii=False)
def generated_form(of_node):
    """An id of the form Phoenix generates (src/ingest/eventid.c: ms | 8 | position | node), naming
    a time and position it never logged: refused with this database's node, a producer's id with another."""
    ms, pos = rnd.randrange(1 << 48), rnd.randrange(1 << 48)
    high = (ms << 16) | 0x8000 | (pos >> 36)
    low = (2 << 62) | ((pos & ((1 << 36) - 1)) << 26) | of_node
    h = '%016x%016x' % (high, low)
    return '-'.join([h[:8], h[8:12], h[12:16], h[16:20], h[20:]])

def element(path, rn):
    """One emit_batch element as JSON text, its event_id (or None), and whether
    it repeats an earlier id.  From round 2 on, n and grade are strings."""
    emp = 'E%d' % rnd.randrange(200)
    eid = new_id()
    late = rn >= 2
    if rnd.random() < 0.25:
        typ = 'emp.changed'
        p = {'employeeId': emp, 'name': 'Name %s' % rhex(4), 'department': rnd.choice(['Sales', 'Ops', 'R&D'])}
        if rnd.random() < 0.5: p['grade'] = str(rnd.randrange(1, 12)) if late else rnd.randrange(1, 12)
        if rnd.random() < 0.3: p['since'] = '20%02d-0%d-1%d' % (rnd.randrange(30), rnd.randrange(1, 9), rnd.randrange(9))
    else:
        typ = 'swipe'
        n = rnd.randrange(-1000, 1000)
        p = {'employeeId': emp, 'floor': 'F%d' % rnd.randrange(9), 'n': str(n) if late else n,
             'at': '2026-%02d-%02dT%02d:00:00Z' % (rnd.randrange(1, 13), rnd.randrange(1, 29), rnd.randrange(24))}
    env = {'type': typ, 'payload': p, 'event_id': eid}
    swap = {}                       # placeholder string -> raw JSON text
    h = rnd.random()
    if h < 0.55:
        if rnd.random() < 0.3: ids.append((eid, typ, p))
    elif h < 0.59: p['employeeId'] = big_key()                 # index row too large (entity / latest key)
    elif h < 0.61: p['employeeId'] = 'E' + 'x' * 3000          # long but compressible
    elif h < 0.63: p['note' if typ == 'swipe' else 'name'] = rhex(1) * rnd.randrange(10000, 200000)
    elif h < 0.66: p['note' if typ == 'swipe' else 'name'] = 'ctl\u0001\u001f\u007f\t\n'
    elif h < 0.69:                                             # \u0000 (text path; jsonb cannot hold it)
        p['employeeId'] = '@NUL@'
        swap['"@NUL@"'] = '"E\\u0000x"' if path == 't' else '"E\\u0002x"'
    elif h < 0.71:                                             # lone surrogate (text path)
        p['employeeId'] = '@SUR@'
        swap['"@SUR@"'] = '"E\\ud800"' if path == 't' else '"E\\u00ffx"'
    elif h < 0.74:                                             # deep nesting
        depth = rnd.choice([50, 600, 1500])
        p['tags'] = '@DEEP@'
        swap['"@DEEP@"'] = '[' * depth + ']' * depth
    elif h < 0.77:                                             # huge numbers
        key = 'n' if typ == 'swipe' else 'grade'
        p[key] = '@NUM@'
        swap['"@NUM@"'] = rnd.choice(['1e300', '123456789012345678901234567890', '-9223372036854775809',
                                      '9223372036854775807', '"1e300"', '"99999999999999999999"'] +
                                     (['1e999999', '-1e999999'] if path == 't' else []))
    elif h < 0.81:                                             # dates out of range
        if typ == 'swipe':
            if rnd.random() < 0.5: p['at'] = rnd.choice(['0000-01-01T00:00:00Z', '294277-01-01T00:00:00Z', 'infinity', '-infinity', '2026-02-30T00:00:00Z'])
            else: p['day'] = rnd.choice(['0000-06-15', '9999-12-31', '5874897-01-01'])
        else: p['since'] = rnd.choice(['0000-01-01', '294277-01-01', 'infinity'])
    elif h < 0.85:                                             # wrong types (refused, or after the change a failing cast)
        if typ == 'swipe': p['n'] = rnd.choice(['nine', '12', '', '1.5', 7])
        else: p['grade'] = rnd.choice(['abc', '7', 3.5, 4])
    elif h < 0.88 and ids:                                     # a repeated id: same or another payload
        oid, otyp, op = rnd.choice(ids)
        env = {'type': otyp, 'payload': op if rnd.random() < 0.5 else dict(op, floor='Fx', name='other'), 'event_id': oid}
        return dumps(env), oid, True
    elif h < 0.90: env['type'] = rnd.choice(['late.type', 'no.such.type', 'T' + rhex(5000)])
    elif h < 0.92: env['event_id'] = 'id-' + rhex(300)
    elif h < 0.94: env['effective_at'] = rnd.choice(['294277-01-01T00:00:00Z', 'infinity', 'soon', 5, '0000-01-01T00:00:00Z'])
    elif h < 0.95: env = rnd.choice([7, 'str', [], None, {'type': 'swipe'}, {'payload': {}}])
    elif h < 0.96: env['payload'] = dumps(p)[:rnd.randrange(1, 20)]   # payload as broken JSON text
    elif h < 0.975: env['event_id'] = generated_form(node if rnd.random() < 0.7 else (node + 1) % (1 << 26))
    text = dumps(env)
    for k, v in swap.items(): text = text.replace(k, v, 1)
    return text, (env.get('event_id') if isinstance(env, dict) else None), False

per_round = total // rounds
for rn in range(1, rounds + 1):
    rd = '%s/r%d' % (d, rn); os.makedirs(rd); os.chmod(rd, 0o755)
    n_round = per_round if rn < rounds else total - per_round * (rounds - 1)
    manifest = open('%s/manifest' % rd, 'w')       # source \t position \t event_id \t kind
    tsql, jsql, esql = open('%s/text.sql' % rd, 'w'), open('%s/jsonb.sql' % rd, 'w'), open('%s/single.sql' % rd, 'w')
    calls = open('%s/calls' % rd, 'w')              # file \t source \t n
    done, call = 0, 0
    csv_files = []
    while done < n_round:
        call += 1
        k = min(n_round - done, rnd.choice([1, 7, 50, 300, 1200]))
        which = rnd.random()
        if which < 0.04:                            # single emits
            k = min(k, 20)
            src = 'r%d-e%d' % (rn, call)
            for i in range(k):
                text, eid, rep = element('t', rn)
                try: env = json.loads(text) if '\\u0000' not in text and '\\ud800' not in text and '1e999999' not in text else None
                except (RecursionError, ValueError): env = None
                if not isinstance(env, dict) or not isinstance(env.get('payload'), (dict, str)) or not isinstance(env.get('type'), str):
                    env = {'type': 'swipe', 'payload': {'employeeId': 'E1', 'n': '1' if rn >= 2 else 1}, 'event_id': new_id()}
                eid = env.get('event_id') or new_id()
                pay = env['payload'] if isinstance(env['payload'], str) else dumps(env['payload'])
                esql.write("SELECT phoenix.emit($t$%s$t$, $p$%s$p$::text, event_id => $i$%s$i$, source => '%s');\n"
                           % (env['type'], pay, eid, src))
                manifest.write('%s\t%d\t%s\tsingle\n' % (src, i, eid))
            done += k
        elif which < 0.30:                          # CSV file, with bytes no text argument can hold
            src = 'r%d-c%d' % (rn, call)
            fn = '%s/c%d.csv' % (rd, call)
            with open(fn, 'wb') as f:
                f.write(b'id,employeeId,floor,n,at,day,note\n')
                for i in range(k):
                    eid = new_id()
                    row = [eid.encode(), ('E%d' % rnd.randrange(200)).encode(), b'F1', b'%d' % rnd.randrange(100),
                           b'2026-03-%02dT10:00:00Z' % rnd.randrange(1, 28), b'', b'ok']
                    h = rnd.random()
                    if h < 0.05: row[1] = big_key().encode()
                    elif h < 0.09: row[6] = b'bad\xff\xfebytes'
                    elif h < 0.12: row[6] = b'nul\x00byte'
                    elif h < 0.14: row[1] = b'E\xc3'
                    elif h < 0.18: row[3] = rnd.choice([b'1e300', b'99999999999999999999', b'nine', b'1e999999'])
                    elif h < 0.22: row[4] = rnd.choice([b'0000-01-01T00:00:00Z', b'294277-01-01T00:00:00Z', b'infinity'])
                    elif h < 0.24: row[5] = b'0000-06-15'
                    elif h < 0.26: row = row[:rnd.randrange(1, 6)]
                    elif h < 0.28: row[0] = b'x' * 300
                    elif h < 0.30: row[6] = rhex(1).encode() * 50000
                    f.write(b','.join(row) + b'\n')
                    manifest.write('%s\tline %d\t%s\tcsv\n' % (src, i + 2, eid))
            os.chmod(fn, 0o644)
            calls.write('%s\t%s\t%d\tcsv\n' % (fn, src, k))
            done += k
        else:
            path = 't' if which < 0.65 else 'j'
            src = 'r%d-%s%d' % (rn, path, call)
            elems = []
            for i in range(k):
                text, eid, rep = element(path, rn)
                elems.append(text)
                manifest.write('%s\tindex %d\t%s\t%s\n' % (src, i, eid if isinstance(eid, str) else '', 'repeat' if rep else 'batch'))
            body = '[' + ','.join(elems) + ']'
            out = tsql if path == 't' else jsql
            out.write("SELECT '%s', accepted, rejected FROM phoenix.emit_batch($b$%s$b$::%s, '%s');\n"
                      % (src, body, 'text' if path == 't' else 'jsonb', src))
            calls.write('-\t%s\t%d\t%s\n' % (src, k, path))
            done += k
    for f in (manifest, tsql, jsql, esql, calls): f.close()
PY

check_round() { # check_round <round dir> <tag>
  local rd=$1 tag=$2
  psql -c "TRUNCATE manifest" -c "\\copy manifest FROM '$rd/manifest'"
  # every input exactly once: log (by source and position), pending dead
  # letter, or (repeats) the log holds its id
  psql -c "
    WITH logged AS (SELECT DISTINCT source, source_position FROM phoenix.event_log),
         dead AS (SELECT DISTINCT source, source_position FROM phoenix.dead_letters WHERE replayed_at IS NULL),
         repeated AS (SELECT DISTINCT event_id FROM manifest WHERE kind = 'repeat'),
         m AS (
      SELECT m.*, l.source IS NOT NULL AS logged, d.source IS NOT NULL AS dead,
             r.event_id IS NOT NULL AND EXISTS (SELECT 1 FROM phoenix.event_ids i WHERE i.event_id = m.event_id) AS id_logged
        FROM manifest m
        LEFT JOIN logged l ON l.source = m.source AND l.source_position = m.position
        LEFT JOIN dead d ON d.source = m.source AND d.source_position = m.position
        LEFT JOIN repeated r ON r.event_id = m.event_id
       WHERE m.kind <> 'single')
    INSERT INTO problems
    SELECT '$tag', source, position, CASE WHEN logged AND dead THEN 'both' ELSE 'lost' END
      FROM m WHERE (logged AND dead) OR NOT (logged OR dead OR id_logged)"
  # single emits: logged under their id and source, or refused with nothing left
  psql -c "
    INSERT INTO problems
    SELECT '$tag', m.source, min(m.position), 'single emit left a dead letter'
      FROM manifest m JOIN (SELECT DISTINCT source FROM phoenix.dead_letters) d ON d.source = m.source
     WHERE kind = 'single' GROUP BY m.source"
  # projections: equal to their rebuild, and (events) to a plain recomputation
  psql -c "
    CREATE TEMP TABLE before_swipes AS SELECT event_id, employee_id, floor, n, day, employee_name, employee_department FROM reporting.swipes;
    CREATE TEMP TABLE before_latest AS SELECT event_id, employee_id, floor FROM reporting.swipe_latest;
    SET client_min_messages = warning;
    SELECT phoenix.rebuild_projection('swipes'); SELECT phoenix.rebuild_projection('swipe_latest');
    INSERT INTO problems SELECT '$tag', 'swipes', event_id, 'differs from its rebuild' FROM (
      (TABLE before_swipes EXCEPT ALL SELECT event_id, employee_id, floor, n, day, employee_name, employee_department FROM reporting.swipes)
      UNION ALL
      (SELECT event_id, employee_id, floor, n, day, employee_name, employee_department FROM reporting.swipes EXCEPT ALL TABLE before_swipes)) x;
    INSERT INTO problems SELECT '$tag', 'swipe_latest', event_id, 'differs from its rebuild' FROM (
      (TABLE before_latest EXCEPT ALL SELECT event_id, employee_id, floor FROM reporting.swipe_latest)
      UNION ALL (SELECT event_id, employee_id, floor FROM reporting.swipe_latest EXCEPT ALL TABLE before_latest)) x;
    INSERT INTO problems SELECT '$tag', 'swipes', event_id, 'differs from plain SQL over the log' FROM (
      (SELECT event_id, employee_id, floor, n, day FROM reporting.swipes
       EXCEPT ALL
       SELECT event_id, payload->>'employeeId', payload->>'floor', (payload->>'n')::bigint, (payload->>'day')::date
         FROM phoenix.event_log WHERE event_type = 'swipe')
      UNION ALL
      (SELECT event_id, payload->>'employeeId', payload->>'floor', (payload->>'n')::bigint, (payload->>'day')::date
         FROM phoenix.event_log WHERE event_type = 'swipe'
       EXCEPT ALL
       SELECT event_id, employee_id, floor, n, day FROM reporting.swipes)) x;
    DROP TABLE before_swipes, before_latest;" >/dev/null
  [ "$(psql -c "SELECT pg_postmaster_start_time()")" = "$start" ] || { echo "the server restarted (crash) in $tag"; exit 1; }
}

psql -c "CREATE TABLE manifest (source text, position text, event_id text, kind text);
         CREATE TABLE problems (round text, source text, position text, what text);" >/dev/null
inputs=0; aborted=0
for r in $(seq 1 "$ROUNDS"); do
  rd=$dir/r$r
  if [ "$r" = 2 ]; then
    # the schema changes under the producers: n and grade become strings
    psql >/dev/null <<'SQL'
SELECT phoenix.create_event_type('swipe', schema => '{"type":"object","required":["employeeId","n"],
  "properties":{"employeeId":{"type":"string"},"floor":{"type":"string"},"n":{"type":"string"},
                "at":{"type":"string"},"day":{"type":"string"},"note":{"type":"string"},"tags":{"type":"array"}}}',
  time_field => 'at', compatibility => 'none');
SELECT phoenix.create_event_type('emp.changed', schema => '{"type":"object","required":["employeeId"],
  "properties":{"employeeId":{"type":"string"},"name":{"type":"string"},"department":{"type":"string"},
                "grade":{"type":"string"},"since":{"type":"string"}}}',
  entity => 'employee', key_field => 'employeeId',
  sets => '{"name":"name","department":"department","grade":"grade","since":"since"}', compatibility => 'none');
SQL
  fi
  # bulk calls: each must return its counts
  while IFS=$'\t' read -r file src n kind; do
    if [ "$kind" = csv ]; then
      out=$("$PGBIN/psql" -X -qAt -c "SELECT accepted + rejected FROM phoenix.ingest_csv('swipe', '$file', source => '$src', id_field => 'id')" 2>"$rd/err_$src") || true
      if [ "$out" != "$n" ]; then aborted=$((aborted + 1)); echo "ingest_csv $src: $n rows, returned '$out': $(head -c 300 "$rd/err_$src")"; fi
    fi
  done <"$rd/calls"
  for f in text jsonb; do
    "$PGBIN/psql" -X -qAt -F $'\t' -f "$rd/$f.sql" >"$rd/$f.out" 2>"$rd/$f.err" || true
    if [ -s "$rd/$f.err" ]; then echo "errors from emit_batch ($f):"; cut -c1-300 "$rd/$f.err" | head -5; fi
  done
  # single emits: each returned a position or raised (one ERROR line each)
  "$PGBIN/psql" -X -qAt -f "$rd/single.sql" >"$rd/single.out" 2>"$rd/single.err" || true
  singles=$(wc -l <"$rd/single.sql"); answered=$(( $(wc -l <"$rd/single.out") + $(grep -c 'ERROR:' "$rd/single.err" || true) ))
  if [ "$singles" != "$answered" ]; then aborted=$((aborted + 1)); echo "single emit: $singles statements, $answered answers"; fi
  # every batch call returned accepted + rejected = its elements
  bad=$(python3 - "$rd" <<'PY'
import sys
rd = sys.argv[1]
want = {}
for line in open(rd + '/calls'):
    f, src, n, kind = line.rstrip('\n').split('\t')
    if kind != 'csv': want[src] = int(n)
got = {}
for f in ('text', 'jsonb'):
    for line in open('%s/%s.out' % (rd, f)):
        src, a, r = line.rstrip('\n').split('\t')
        got[src] = int(a) + int(r)
print(sum(1 for s, n in want.items() if got.get(s) != n))
PY
)
  aborted=$((aborted + bad))
  # replay: after round 1 the late type exists, so its dead letters come in
  [ "$r" = 1 ] && psql -c "SELECT phoenix.create_event_type('late.type', '{\"type\":\"object\"}')" >/dev/null
  pending=$(psql -c "SELECT count(*) FROM phoenix.dead_letters WHERE replayed_at IS NULL AND replayable")
  replay=$(psql -c "SELECT replayed + rejected FROM phoenix.replay_dead_letters()" 2>"$rd/replay.err") || true
  if [ "$replay" != "$pending" ]; then aborted=$((aborted + 1)); echo "replay: $pending pending, returned '$replay' $(head -c 300 "$rd/replay.err")"; fi
  check_round "$rd" "round $r"
  inputs=$((inputs + $(wc -l <"$rd/manifest")))
  echo "round $r: $(wc -l <"$rd/manifest") inputs; log $(psql -c "SELECT count(*) FROM phoenix.event_log"), dead letters $(psql -c "SELECT count(*) FILTER (WHERE replayed_at IS NULL) || ' pending, ' || count(*) FILTER (WHERE replayed_at IS NOT NULL) || ' replayed' FROM phoenix.dead_letters")"
done

problems=$(psql -c "SELECT count(*) FROM problems")
lost=$(psql -c "SELECT count(*) FROM problems WHERE what = 'lost'")
psql -c "SELECT round, what, count(*), min(source || ' ' || position) FROM problems GROUP BY 1, 2 ORDER BY 1, 2" | head -20
psql -c "SELECT sqlstate, count(*), min(left(reason, 110)) FROM phoenix.dead_letters GROUP BY 1 ORDER BY 2 DESC"
crashes=0
[ "$(psql -c "SELECT pg_postmaster_start_time()")" = "$start" ] || crashes=1
echo "seed $SEED: $inputs inputs, $aborted aborted calls, $lost lost, $problems problems, $crashes crashes"
[ "$aborted" = 0 ] && [ "$problems" = 0 ] && [ "$crashes" = 0 ]
