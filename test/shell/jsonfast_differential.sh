#!/usr/bin/env bash
# The fast JSON reader (src/json/jsonfast.c) against the server's JSON parser:
# 20,000 generated JSON texts (escapes of every kind, \u escapes and
# surrogates, number forms, literals, odd spacing, deep nesting, duplicate
# keys), many of them slightly broken, each
#   - as an element of an emit_batch text literal: accepted elements log
#     exactly the jsonb bytes jsonb_in makes of the payload, and a batch
#     holding a broken one raises exactly the error of its ::jsonb cast;
#   - as a payload sent as JSON text (softparse_json): logged with the bytes
#     of ::jsonb when that is an object, dead-lettered otherwise (numbers
#     with exponents beyond 1000 are refused by softparse_json by design).
# Seed: test/seed.sh (fixed by default; PHOENIX_SEED=random for a new one).
set -euo pipefail
. "$PHOENIX_ROOT/test/seed.sh"; phoenix_seed 20261206; SEED=$PHOENIX_SEED_VALUE
psql() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -qAt "$@"; }
dir=$(mktemp -d /tmp/phoenix-jsonfast.XXXXXX); chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT

python3 - "$SEED" "$dir" <<'PY'
import random, sys
seed, d = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(seed)
def ws():
    return ''.join(rnd.choice(' \t\n\r') for _ in range(rnd.choice([0, 0, 0, 1, 2])))
def string():
    parts = []
    for _ in range(rnd.randrange(0, 8)):
        r = rnd.random()
        if r < 0.5: parts.append(rnd.choice(['a', 'Z', 'key', '9', ' ', 'é', '€', '😀', '-', ':', ',', '{', ']']))
        elif r < 0.75: parts.append('\\' + rnd.choice('"\\/bfnrt'))
        elif r < 0.9: parts.append(rnd.choice(['\\u00e9', '\\u0041', '\\uD83D\\uDE00', '\\u20ac', '\\u0000', '\\uD800', '\\uDE00x', '\\u12', '\\x']))
        else: parts.append(rnd.choice(['\t', '\x01', '\n']))      # raw control characters: invalid
    return '"' + ''.join(parts) + '"'
def number():
    return rnd.choice(['0', '-0', '7', '-12', '3.25', '-0.5', '0.930', '-0.00', '10.10', '0.000000000000000001',
                       '999999999999999999', '-123456789012345678', '1234567890.12345678', '12345678901234567.5',
                       '1e5', '1E+2', '2.50e-3', '12345678901234567890',
                       '1e999', '1e1001', '-1e-999', '0.1' + '0' * 40, '9' * 400, '00', '1.', '.5', '-', '1e', '+1',
                       '1x', '0x10', '1.5e+', 'Infinity', 'NaN'])
def literal():
    return rnd.choice(['true', 'false', 'null', 'tru', 'nul', 'falsey', 'True'])
def value(depth):
    r = rnd.random()
    if depth < 6 and r < 0.25: return obj(depth + 1)
    if depth < 6 and r < 0.35: return '[' + ws() + (',' + ws()).join(value(depth + 1) for _ in range(rnd.randrange(0, 4))) + ws() + ']'
    if r < 0.38: return '[' * 70 + '1' + ']' * 70
    if r < 0.6: return string()
    if r < 0.85: return number()
    return literal()
def obj(depth):
    keys = [rnd.choice(['"v"', '"s"', '"v"', '"k\\n"', '"\\u006b"', '"é"', '""', string()]) for _ in range(rnd.randrange(0, 5))]
    return '{' + ws() + (',' + ws()).join(k + ws() + ':' + ws() + value(depth) for k in keys) + ws() + '}'
def breakit(t):
    r = rnd.random()
    i = rnd.randrange(len(t) + 1)
    if r < 0.3: return t[:i]
    if r < 0.6: return t[:i] + rnd.choice(['"', '{', '}', ']', ',', ':', 'x', '\\']) + t[i:]
    return t[:i] + t[i + 1:]
with open('%s/texts.tsv' % d, 'w', encoding='utf-8') as out:
    for i in range(20000):
        t = obj(0) if rnd.random() < 0.9 else value(0)
        if rnd.random() < 0.25: t = breakit(t)
        t = ws() + t + ws()
        out.write('%d\t%s\n' % (i, t.replace('\\', '\\\\').replace('\t', '\\t').replace('\n', '\\n').replace('\r', '\\r')))
    # whatever the seed: JSON strings holding JSON text (a string payload is
    # read as JSON text), and the number forms built without numeric_in
    fixed = ['"{}"', ' "{\\"v\\": 1}" ', '"[1]"', '"x"', '"{"', '{"n": [0, -0, 0.930, -0.00, 999999999999999999, 12345678901234567.5]}']
    for k, t in enumerate(fixed):
        out.write('%d\t%s\n' % (20000 + k, t.replace('\\', '\\\\')))
PY

psql >/dev/null <<SQL
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('fz', '{}');
CREATE TABLE texts (i int PRIMARY KEY, t text);
\copy texts FROM '$dir/texts.tsv'
-- what the server makes of each text as a payload, or its error
CREATE FUNCTION try_jsonb(t text, OUT j jsonb, OUT err text) LANGUAGE plpgsql AS \$\$
BEGIN j := t::jsonb; EXCEPTION WHEN OTHERS THEN err := SQLERRM; END \$\$;
CREATE TABLE expected AS SELECT i, t, (try_jsonb(t)).* FROM texts;
-- Elements that are JSON but not jsonb-readable by the batch reader (a NUL
-- or lone-surrogate escape, an exponent beyond softparse's 1000) are
-- dead-lettered with their index by design (sql/emit_batch_text.sql and
-- sql/edges_isolation.sql check those); sections 1 and 2 compare the rest.
CREATE VIEW batch_comparable AS
  SELECT * FROM expected WHERE t !~ 'e1001' AND t !~* '\\\\u0000' AND t !~* '\\\\ud[89a-f]';
-- the same text inside a batch element: the error a whole batch would raise
CREATE FUNCTION try_batch(t text, OUT ok boolean, OUT err text) LANGUAGE plpgsql AS \$\$
BEGIN PERFORM phoenix.emit_batch('[{"type":"fz","payload":' || t || '}]'); ok := true;
      EXCEPTION WHEN OTHERS THEN ok := false; err := SQLERRM; END \$\$;
CREATE FUNCTION try_cast(t text) RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN PERFORM ('[{"type":"fz","payload":' || t || '}]')::jsonb; RETURN NULL;
      EXCEPTION WHEN OTHERS THEN RETURN SQLERRM; END \$\$;
SQL
echo "texts: $(psql -c "SELECT count(*) FILTER (WHERE err IS NULL) || ' valid, ' || count(*) FILTER (WHERE err IS NOT NULL) || ' broken' FROM expected")"

# 1. valid texts as batch elements (text literal, 1,000 per batch)
psql -c "SELECT sum(r.accepted + r.rejected) FROM (SELECT '[' || string_agg(
           '{\"type\":\"fz\",\"event_id\":\"b' || i || '\",\"payload\":' || t || '}', ',' ORDER BY i) || ']' AS b
           FROM batch_comparable WHERE err IS NULL GROUP BY i / 1000) s, LATERAL phoenix.emit_batch(s.b) r" >/dev/null
# (a payload that is a JSON string is read as JSON text, as emit_batch
# documents: the string "{}" is the payload {})
bad=$(psql -c "
  SELECT count(*) FROM (SELECT e.*, CASE WHEN jsonb_typeof(e.j) = 'object' THEN e.j
                                         WHEN jsonb_typeof(e.j) = 'string' THEN (try_jsonb(e.j #>> '{}')).j END AS p
                          FROM batch_comparable e WHERE e.err IS NULL) e
    LEFT JOIN phoenix.event_log l ON l.event_id = 'b' || e.i
    LEFT JOIN phoenix.dead_letters d ON d.event_id = 'b' || e.i
   WHERE NOT CASE WHEN jsonb_typeof(e.p) = 'object'
                  THEN l.position IS NOT NULL AND jsonb_send(l.payload) = jsonb_send(e.p)
                  ELSE l.position IS NULL AND d.dead_letter_id IS NOT NULL END")
[ "$bad" = 0 ] || { psql -c "
  SELECT e.i, left(e.t, 120), l.position, left(d.reason, 200) FROM (SELECT e.*, CASE WHEN jsonb_typeof(e.j) = 'object' THEN e.j
                                         WHEN jsonb_typeof(e.j) = 'string' THEN (try_jsonb(e.j #>> '{}')).j END AS p
                          FROM batch_comparable e WHERE e.err IS NULL) e
    LEFT JOIN phoenix.event_log l ON l.event_id = 'b' || e.i
    LEFT JOIN phoenix.dead_letters d ON d.event_id = 'b' || e.i
   WHERE NOT CASE WHEN jsonb_typeof(e.p) = 'object'
                  THEN l.position IS NOT NULL AND jsonb_send(l.payload) = jsonb_send(e.p)
                  ELSE l.position IS NULL AND d.dead_letter_id IS NOT NULL END LIMIT 5"
                    echo "batch elements: $bad payloads differ from jsonb_in's"; exit 1; }

# 2. broken texts: the batch raises exactly the error of the jsonb cast
bad=$(psql -c "
  SELECT count(*) FROM (SELECT e.i, (try_batch(e.t)).*, try_cast(e.t) AS cast_err FROM batch_comparable e
                         WHERE e.err IS NOT NULL) s
   WHERE ok OR err IS DISTINCT FROM cast_err")
[ "$bad" = 0 ] || { psql -c "SELECT e.i, e.t, (try_batch(e.t)).err, try_cast(e.t) FROM batch_comparable e WHERE e.err IS NOT NULL
                              AND (try_batch(e.t)).err IS DISTINCT FROM try_cast(e.t) LIMIT 5"
                    echo "broken batch elements: $bad errors differ from the jsonb cast's"; exit 1; }

# 3. every text as a payload sent as JSON text (softparse_json)
psql -c "SELECT sum(r.accepted + r.rejected) FROM (SELECT jsonb_agg(jsonb_build_object(
           'type', 'fz', 'event_id', 's' || i, 'payload', t) ORDER BY i) AS b FROM expected GROUP BY i / 1000) s,
           LATERAL phoenix.emit_batch(s.b) r" >/dev/null
bad=$(psql -c "
  SELECT count(*) FROM expected e
    LEFT JOIN phoenix.event_log l ON l.event_id = 's' || e.i
    LEFT JOIN phoenix.dead_letters d ON d.event_id = 's' || e.i
   WHERE NOT CASE WHEN jsonb_typeof(e.j) = 'object'
                  THEN l.position IS NOT NULL AND jsonb_send(l.payload) = jsonb_send(e.j)
                       -- softparse's documented limit: exponents beyond 1000 are refused
                       OR d.reason LIKE '%number out of range%' AND e.t ~ 'e1001'
                  ELSE l.position IS NULL AND d.dead_letter_id IS NOT NULL END")
[ "$bad" = 0 ] || { echo "text payloads: $bad differ from jsonb_in's or were not dead-lettered"; exit 1; }
echo "ok"
