#!/usr/bin/env bash
# Randomized bad input through the CSV reader, emit_batch and the registry:
# 100,000 generated CSV rows (valid, wrong types, bad times, invalid UTF-8,
# NUL, ragged, huge, quoted newlines), 20,000 batch elements with random JSON
# text (truncated, deeply nested, wrong shapes), and 300 random schemas.
# Every input must be accepted or dead-lettered, the counts must add up, and
# the server must stay up.  The generator also knows, for most inputs, which
# way they must go (every field valid; or a certain fault: ragged, invalid
# UTF-8, NUL, an integer out of range or not a number, an unknown type, an
# invalid schema keyword), and those verdicts are checked one by one: a
# validator that accepts everything, or refuses everything, fails.  Schema
# refusals must be clean errors (no internal error, no lost connection).
# Seed: test/seed.sh (fixed by default; PHOENIX_SEED=random for a new one).
set -euo pipefail
. "$PHOENIX_ROOT/test/seed.sh"; phoenix_seed 20261206; SEED=$PHOENIX_SEED_VALUE
psql() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -qAt "$@"; }
dir=$(mktemp -d /tmp/phoenix-fuzz.XXXXXX); chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT

psql -c "CREATE EXTENSION phoenix CASCADE" >/dev/null
psql -c "SELECT phoenix.create_event_type('fuzz.row', '{\"type\":\"object\",\"required\":[\"id\",\"at\"],
  \"properties\":{\"id\":{\"type\":\"string\",\"maxLength\":40},\"at\":{\"type\":\"string\"},
  \"n\":{\"type\":\"integer\",\"minimum\":-1000,\"maximum\":1000},\"x\":{\"type\":\"number\"},
  \"ok\":{\"type\":\"boolean\"},\"s\":{\"type\":\"string\",\"pattern\":\"^[a-z]*\$\"},
  \"mail\":{\"type\":\"string\",\"format\":\"email\"}},\"additionalProperties\":false}',
  time_field => 'at')" >/dev/null

python3 - "$SEED" "$dir" <<'PY'
import random, sys, json
seed, d = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(seed)
cols = ['id', 'at', 'n', 'x', 'ok', 's', 'mail']
def q(b):  # quote a CSV field (bytes)
    return b'"' + b.replace(b'"', b'""') + b'"'
def junk():
    return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 12)))
NOT_INT = [b'yesterday', b'9' * 2000, b'{"a":1}', b'line\nbreak', b'NaN', b'-']
BAD_TEXT = [b'\x00', b'\xff\xfe', b'\xc3']   # NUL, invalid UTF-8: the whole line is refused
def value(c, i):
    r = rnd.random()
    good = {'id': b'r%d' % i, 'at': b'2026-11-%02dT%02d:%02d:00Z' % (rnd.randint(1, 30), rnd.randint(0, 23), rnd.randint(0, 59)),
            'n': b'%d' % rnd.randint(-1000, 1000), 'x': b'%g' % rnd.uniform(-1e6, 1e6), 'ok': rnd.choice([b'true', b'f', b'1', b'no']),
            's': b'abc', 'mail': b'a@b.example'}[c]
    if r < 0.85: return good, 'good'
    bad = [b'', junk(), b'1e999999', b'-', b'9' * 2000, b'2026-02-30T00:00:00Z', b'99999-01-01', b'yesterday',
           b'2026-11-24T09:00:00+99:00', b'line\nbreak', b'"quoted"', b'\x00', b'\xff\xfe', b'\xc3', b'NaN', b'true',
           b'x' * rnd.randrange(1, 300000), b'{"a":1}', b'\xe2\x82\xac\xf0\x9f\x98\x80']
    v = rnd.choice(bad)
    return v, ('bad' if v in BAD_TEXT or (c == 'n' and (v in NOT_INT or v.startswith(b'xx'))) else '?')
rows = 0
verdicts = {'accept': [], 'reject': []}
for f in range(4):
    with open('%s/rows%d.csv' % (d, f), 'wb') as out:
        out.write(b','.join(c.encode() for c in cols) + b'\n')
        for i in range(f * 25000, (f + 1) * 25000):
            vals = [value(c, i) for c in cols]
            fields = [v for v, _ in vals]
            marks = [m for _, m in vals]
            r = rnd.random()
            ragged = r < 0.05
            if r < 0.03: fields = fields[:rnd.randrange(1, len(fields))]      # ragged: short
            elif r < 0.05: fields = fields + [b'extra']                       # ragged: long
            if marks[0] == 'good':          # the row can be told by its id
                if ragged or 'bad' in marks: verdicts['reject'].append('r%d' % i)
                elif all(m == 'good' for m in marks): verdicts['accept'].append('r%d' % i)
            out.write(b','.join(q(x) if rnd.random() < 0.5 or b',' in x or b'\n' in x or b'"' in x or b'\r' in x else x
                                for x in fields) + b'\n')
            rows += 1
with open('%s/rows.count' % d, 'w') as out: out.write(str(rows))
for k, ids in verdicts.items():
    with open('%s/csv_%s.txt' % (d, k), 'w') as out: out.write(''.join(x + '\n' for x in ids))
verdicts = {'accept': [], 'reject': []}
# emit_batch: JSON text payloads, many broken
with open('%s/batch.sql' % d, 'w') as out:
    n = 0
    for b in range(20):
        elems = []
        for i in range(1000):
            p = {'id': 'b%d' % n, 'at': '2026-11-23T09:00:00Z', 'n': rnd.randint(-2000, 2000)}
            t = json.dumps(p)
            r = rnd.random()
            intact = r >= 0.5
            if r < 0.2: t = t[:rnd.randrange(len(t))]
            elif r < 0.3: t = '[' * rnd.randrange(1, 3000) + ']' * rnd.randrange(0, 3000)
            elif r < 0.35: t = '{"a":' * rnd.randrange(1, 2000)
            elif r < 0.4: t = json.dumps(rnd.choice([None, 1, 'x', [1, 2], {'id': 5}]))
            elif r < 0.45: t = t.replace('"n"', '"n\\u0000"')
            elif r < 0.5: t = t.replace('0', '1e99999')
            e = {'type': rnd.choice(['fuzz.row'] * 9 + ['no.such']), 'payload': t}
            if rnd.random() < 0.1: e['event_id'] = 'b%d' % rnd.randrange(n + 1)
            if rnd.random() < 0.05: e['effective_at'] = rnd.choice(['2026-11-23', 'soon', 5])
            if rnd.random() < 0.02: e = rnd.choice([7, 'str', [], {'payload': {}}])
            if isinstance(e, dict) and 'type' in e and intact and 'event_id' not in e and 'effective_at' not in e:
                ok = e['type'] == 'fuzz.row' and -1000 <= p['n'] <= 1000
                verdicts['accept' if ok else 'reject'].append(p['id'])
            elems.append(e)
            n += 1
        out.write("SELECT accepted + rejected FROM phoenix.emit_batch(%s::jsonb);\n" % ("$j$" + json.dumps(elems) + "$j$"))
for k, ids in verdicts.items():
    with open('%s/batch_%s.txt' % (d, k), 'w') as out: out.write(''.join(x + '\n' for x in ids))
# random schemas: registered or refused, then fed random payloads.  A keyword
# value in INVALID makes the schema certainly invalid; one outside SAFE makes
# its fate unknown (left unchecked).
INVALID = {'type': ['nope', 5], 'minimum': ['x'], 'maxLength': [-1, 'a'], 'pattern': ['(', '[a-'],
           'enum': ['x'], 'required': ['a'], '$ref': ['#/nope', '#/$defs/x'], 'additionalProperties': [3]}
SAFE = {'type': ['object', 'string', 'integer', 'number', 'boolean', 'array', 'null'], 'minimum': [0, -1.5, 1e300],
        'maxLength': [0, 3], 'pattern': ['^a', '.*'], 'format': ['date-time', 'email', 'uuid', 'date'],
        'enum': [[1, 'a']], 'required': [['a'], []], 'additionalProperties': [True, False, {}]}
def verdict(s):
    v = 'good'
    for k, x in s.items():
        if k in ('properties', '$defs'):
            for sub in x.values():
                w = verdict(sub)
                if w == 'bad': return 'bad'
                if w == '?': v = '?'
        elif x in INVALID.get(k, []): return 'bad'
        elif x not in SAFE.get(k, []): v = '?'
    return v
schema_verdicts = {'accept': [], 'reject': []}
kw = [('type', lambda: rnd.choice(['object', 'string', 'integer', 'number', 'boolean', 'array', 'null', 'nope', 5])),
      ('minimum', lambda: rnd.choice([0, -1.5, 'x', 1e300])), ('maxLength', lambda: rnd.choice([0, 3, -1, 'a'])),
      ('pattern', lambda: rnd.choice(['^a', '(', '[a-', '.*'])), ('format', lambda: rnd.choice(['date-time', 'email', 'uuid', 'date', 'zzz'])),
      ('enum', lambda: rnd.choice([[1, 'a'], [], 'x'])), ('required', lambda: rnd.choice([['a'], 'a', []])),
      ('$ref', lambda: rnd.choice(['#', '#/$defs/x', '#/nope', 'http://x'])), ('additionalProperties', lambda: rnd.choice([True, False, {}, 3]))]
def schema(depth=0):
    s = {k: f() for k, f in rnd.sample(kw, rnd.randrange(0, 4))}
    if depth < 3 and rnd.random() < 0.5:
        s['properties'] = {c: schema(depth + 1) for c in rnd.sample(['a', 'b', 'c'], rnd.randrange(1, 3))}
    if rnd.random() < 0.2: s['$defs'] = {'x': schema(depth + 1)}
    return s
with open('%s/schemas.sql' % d, 'w') as out:
    for k in range(300):
        sch = schema()
        v = verdict(sch)
        if v != '?': schema_verdicts['accept' if v == 'good' else 'reject'].append('fz.%d' % k)
        out.write("SELECT phoenix.create_event_type('fz.%d', %s::jsonb);\n" % (k, "$s$" + json.dumps({'type': 'object', 'properties': {'p': sch}}) + "$s$"))
        payloads = [{'p': rnd.choice([None, 1, -2.5, 'abc', '2026-11-23T09:00:00Z', [1, 'a'], {'a': 1, 'b': 'x'}, True])} for _ in range(20)]
        out.write("SELECT phoenix.emit_batch(%s::jsonb) WHERE EXISTS (SELECT 1 FROM phoenix.event_types WHERE name = 'fz.%d');\n"
                  % ("$p$" + json.dumps([{'type': 'fz.%d' % k, 'payload': p} for p in payloads]) + "$p$", k))
for k, ids in schema_verdicts.items():
    with open('%s/schema_%s.txt' % (d, k), 'w') as out: out.write(''.join(x + '\n' for x in ids))
PY

rows=$(cat "$dir/rows.count")
total=0
for f in "$dir"/rows*.csv; do
  chmod 644 "$f"
  n=$(psql -c "SELECT accepted + rejected FROM phoenix.ingest_csv('fuzz.row', '$f', source => 'fuzz-csv')")
  total=$((total + n))
done
[ "$total" = "$rows" ] || { echo "CSV: $rows rows in, $total accepted + rejected"; exit 1; }
logged=$(psql -c "SELECT (SELECT count(*) FROM phoenix.event_log WHERE source = 'fuzz-csv') + (SELECT count(*) FROM phoenix.dead_letters WHERE source = 'fuzz-csv')")
[ "$logged" = "$rows" ] || { echo "CSV: $rows rows in, $logged logged or dead-lettered"; exit 1; }

batch=$(psql -f "$dir/batch.sql" | paste -sd+ | bc)
[ "$batch" = 20000 ] || { echo "emit_batch: 20000 in, $batch counted"; exit 1; }
logged=$(psql -c "SELECT (SELECT count(*) FROM phoenix.event_log WHERE source = 'emit_batch') + (SELECT count(*) FROM phoenix.dead_letters WHERE source = 'emit_batch')")
# repeats of an id with the same payload are accepted but logged once
dups=$(psql -c "SELECT 20000 - $logged")
[ "$dups" -ge 0 ] && [ "$dups" -lt 2000 ] || { echo "emit_batch: $logged logged or dead-lettered of 20000"; exit 1; }

"$PGBIN/psql" -X -q -At -v VERBOSITY=sqlstate -f "$dir/schemas.sql" >/dev/null 2>"$dir/schemas.err" || true
registered=$(psql -c "SELECT count(*) FROM phoenix.event_types WHERE name LIKE 'fz.%'")
echo "csv rows $rows, batch elements 20000, schemas registered $registered/300"
# every refused schema is one clean error with a SQLSTATE, never an internal
# error (XX...) or a lost connection
refused=$(grep -c 'ERROR:' "$dir/schemas.err" || true)
[ "$refused" = $((300 - registered)) ] || { echo "schemas: $registered registered but $refused errors"; head "$dir/schemas.err"; exit 1; }
if grep -q . <(grep -v -E '^psql:[^ ]+: ERROR:  [0-9A-Z]{5}$' "$dir/schemas.err") ||
   grep -q -E 'ERROR:  XX' "$dir/schemas.err"; then
  echo "schemas: unexpected errors:"; grep -v -E 'ERROR:  (22|42)[0-9A-Z]{3}$' "$dir/schemas.err" | head; exit 1
fi

# the verdicts the generator knows, one input at a time
for f in csv_accept csv_reject batch_accept batch_reject schema_accept schema_reject; do
  psql -c "CREATE TABLE verdict_$f (id text)" -c "\copy verdict_$f FROM '$dir/$f.txt'"
done
check_verdicts() { # <what> <accept table> <reject table> <SQL of the ids that got in>
  local bad
  bad=$(psql -c "SELECT (SELECT count(*) FROM $2 WHERE id NOT IN ($4)) || ' ' || (SELECT count(*) FROM $3 WHERE id IN ($4))
                 || ' of ' || (SELECT count(*) FROM $2) || '/' || (SELECT count(*) FROM $3)")
  echo "$1: $bad known-valid/known-invalid inputs wrongly refused / wrongly accepted"
  case "$bad" in "0 0 of "*) ;; *)
    psql -c "SELECT 'refused: ' || id FROM $2 WHERE id NOT IN ($4) LIMIT 3" -c "SELECT 'accepted: ' || id FROM $3 WHERE id IN ($4) LIMIT 3"
    exit 1 ;; esac
}
check_verdicts csv verdict_csv_accept verdict_csv_reject "SELECT payload->>'id' FROM phoenix.event_log WHERE source = 'fuzz-csv'"
check_verdicts emit_batch verdict_batch_accept verdict_batch_reject "SELECT payload->>'id' FROM phoenix.event_log WHERE source = 'emit_batch'"
check_verdicts schemas verdict_schema_accept verdict_schema_reject "SELECT name FROM phoenix.event_types"
psql -c "SELECT source, count(*) FROM phoenix.dead_letters GROUP BY 1 ORDER BY 1"
[ "$(psql -c 'SELECT 1')" = 1 ] || { echo "server is gone"; exit 1; }
echo ok
