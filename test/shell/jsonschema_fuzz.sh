#!/usr/bin/env bash
# test/shell/jsonschema_fuzz.sh — randomized test of the JSON Schema validator.
#
# A seeded loop (PHOENIX_FUZZ_SEED, default 20261127; PHOENIX_FUZZ_N cases,
# default 100000) generates schemas and instances and sends every one through
# phoenix.schema_errors and phoenix.schema_valid:
#   - schemas drawn from the supported keywords, with an instance generated
#     to conform to each (it must be valid), and broken copies of it (wrong
#     type, missing required property, extra property in a closed model,
#     over-long string: each must be invalid);
#   - random garbage schemas (keywords with random values: most are
#     malformed), with random instances;
#   - deep nesting (up to 12,000 levels), huge strings (up to 1 MB) and odd
#     Unicode (combining marks, emoji, zero-width, astral, control chars);
#   - 20,000 strings near the date-time / date shape, differentially against
#     PostgreSQL's timestamptz and date input;
#   - 3,000 random schema edits through schema_compatibility: a "compatible"
#     verdict must never let data through that the reading schema rejects.
# Every call must return or raise a clean error (invalid_parameter_value,
# invalid_regular_expression, feature_not_supported, stack depth): any other
# error, a disagreement between schema_valid and schema_errors, a wrong
# answer from an oracle above, or a server crash fails the test.
set -euo pipefail
. "$PHOENIX_ROOT/test/seed.sh"; phoenix_seed 20261127 >/dev/null; SEED=$PHOENIX_SEED_VALUE
N=${PHOENIX_FUZZ_N:-100000}
PSQL=("$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q)
echo "seed $SEED, $N cases"

"${PSQL[@]}" <<'SQL'
CREATE EXTENSION phoenix CASCADE;

CREATE FUNCTION fz_int(lo int, hi int) RETURNS int LANGUAGE sql AS
  $$ SELECT lo + floor(random() * (hi - lo + 1))::int $$;
CREATE FUNCTION fz_pick(a anyarray) RETURNS anyelement LANGUAGE sql AS
  $$ SELECT a[fz_int(1, cardinality(a))] $$;

-- A string of `n` characters from a pool of odd ones (no pattern to satisfy).
CREATE FUNCTION fz_text(n int) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(fz_pick(ARRAY['a','Z','é','ß','漢','😀', U&'\0301', U&'\200B', U&'\FDFA',
                                           U&'\+01D518', '"', '\', E'\n', U&'\0001', ' ', '~', '/']), ''), '')
    FROM generate_series(1, n) $$;

-- A random schema of the supported keywords, `depth` levels of objects/arrays at most.
CREATE FUNCTION fz_schema(depth int, ndefs int) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  k int := fz_int(1, CASE WHEN depth > 0 THEN 11 ELSE 8 END);
  s jsonb; props jsonb := '{}'; req jsonb := '[]'; lo int; n int;
BEGIN
  IF ndefs > 0 AND random() < 0.1 THEN
    RETURN jsonb_build_object('$ref', '#/$defs/d' || fz_int(1, ndefs));
  END IF;
  CASE k
  WHEN 1 THEN
    lo := fz_int(0, 5);
    s := jsonb_build_object('type', 'string', 'minLength', lo, 'maxLength', lo + fz_int(0, 20));
  WHEN 2 THEN
    s := jsonb_build_object('type', 'string', 'format', fz_pick(ARRAY['date-time','date','email','uuid']));
  WHEN 3 THEN
    s := jsonb_build_object('type', 'string', 'pattern', '^[a-z]*$', 'maxLength', fz_int(0, 30));
  WHEN 4 THEN
    lo := fz_int(-1000, 1000);
    s := jsonb_build_object('type', 'integer', 'minimum', lo, 'maximum', lo + fz_int(0, 1000));
  WHEN 5 THEN
    s := jsonb_build_object('type', 'number', 'exclusiveMinimum', -1.5, 'exclusiveMaximum', fz_int(0, 100) + 0.25);
  WHEN 6 THEN
    s := jsonb_build_object('enum', jsonb_build_array(fz_int(0, 9), 'x' || fz_int(0, 9), NULL, true, jsonb_build_object('k', fz_int(0, 3))));
  WHEN 7 THEN
    s := jsonb_build_object('const', fz_pick(ARRAY['1'::jsonb, '"c"', '[1,{"a":null}]', 'false', '{"b":2.50}']));
  WHEN 8 THEN
    s := jsonb_build_object('type', fz_pick(ARRAY['"boolean"'::jsonb, '"null"', '["boolean","null"]']));
  WHEN 9, 10 THEN
    n := fz_int(0, 6);
    FOR i IN 1..n LOOP
      props := props || jsonb_build_object(fz_pick(ARRAY['p', 'a b', 'ключ', '😀', 'x/y', 't~', '']) || i, fz_schema(depth - 1, ndefs));
      IF random() < 0.5 THEN req := req || to_jsonb(fz_pick(ARRAY(SELECT jsonb_object_keys(props)))); END IF;
    END LOOP;
    s := jsonb_build_object('type', 'object', 'properties', props, 'required', req);
    CASE fz_int(1, 3)
      WHEN 1 THEN s := s || '{"additionalProperties": false}';
      WHEN 2 THEN s := s || jsonb_build_object('additionalProperties', fz_schema(0, ndefs));
      ELSE NULL;
    END CASE;
  ELSE
    s := jsonb_build_object('type', 'array', 'items', fz_schema(depth - 1, ndefs));
  END CASE;
  IF random() < 0.1 THEN s := s || '{"x-pii": true, "default": null, "title": "t", "x-unknown": {"type": "string"}}'; END IF;
  RETURN s;
END $$;

-- An instance valid against schema `s` (as fz_schema makes them); root for $ref.
CREATE FUNCTION fz_conform(s jsonb, root jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  r jsonb := '{}'; k text; v jsonb; lo numeric; n int;
BEGIN
  IF s ? '$ref' THEN RETURN fz_conform(root #> string_to_array(substr(s->>'$ref', 3), '/'), root); END IF;
  IF s ? 'const' THEN RETURN s->'const'; END IF;
  IF s ? 'enum' THEN
    v := s->'enum'->fz_int(0, jsonb_array_length(s->'enum') - 1);
    -- 1 and 1.0 are the same JSON value
    IF jsonb_typeof(v) = 'number' AND random() < 0.5 THEN v := to_jsonb((v::text || '.0')::numeric); END IF;
    RETURN v;
  END IF;
  IF jsonb_typeof(s->'type') = 'array' THEN RETURN fz_pick(ARRAY['true'::jsonb, 'null']); END IF;
  CASE s->>'type'
  WHEN 'string' THEN
    IF s->>'format' = 'date-time' THEN
      RETURN to_jsonb(to_char(timestamptz '2000-01-01' + random() * interval '10000 days', 'YYYY-MM-DD"T"HH24:MI:SS.US')
                      || fz_pick(ARRAY['Z', 'z', '+05:30', '-15:59', '+00:00']));
    ELSIF s->>'format' = 'date' THEN
      RETURN to_jsonb(to_char(date '0001-01-01' + fz_int(0, 3000000), 'YYYY-MM-DD'));
    ELSIF s->>'format' = 'uuid' THEN
      RETURN to_jsonb(CASE WHEN random() < 0.5 THEN upper(md5(random()::text)::uuid::text) ELSE md5(random()::text)::uuid::text END);
    ELSIF s->>'format' = 'email' THEN
      RETURN to_jsonb(fz_pick(ARRAY['a.b', 'x+y', '"q r"', 'o''k']) || '@' || fz_pick(ARRAY['example.com', 'x-y.org', '[10.0.0.1]', '[IPv6:2001:db8::1]']));
    ELSIF s ? 'pattern' THEN
      RETURN to_jsonb(repeat(chr(97 + fz_int(0, 25)), fz_int(0, (s->>'maxLength')::int)));
    END IF;
    RETURN to_jsonb(fz_text(fz_int((s->>'minLength')::int, (s->>'maxLength')::int)));
  WHEN 'integer' THEN
    lo := fz_int((s->>'minimum')::int, (s->>'maximum')::int);
    RETURN CASE WHEN random() < 0.3 THEN to_jsonb(lo + 0.000) ELSE to_jsonb(lo) END;
  WHEN 'number' THEN
    RETURN to_jsonb(round((-1.4 + random() * ((s->>'exclusiveMaximum')::numeric + 1.3))::numeric, 3));
  WHEN 'object' THEN
    FOR k, v IN SELECT * FROM jsonb_each(s->'properties') LOOP
      IF s->'required' ? k OR random() < 0.5 THEN r := r || jsonb_build_object(k, fz_conform(v, root)); END IF;
    END LOOP;
    IF jsonb_typeof(s->'additionalProperties') = 'object' THEN
      FOR i IN 1..fz_int(0, 2) LOOP
        r := r || jsonb_build_object('extra' || i, fz_conform(s->'additionalProperties', root));
      END LOOP;
    END IF;
    RETURN r;
  WHEN 'array' THEN
    n := fz_int(0, 4);
    RETURN coalesce((SELECT jsonb_agg(fz_conform(s->'items', root)) FROM generate_series(1, n)), '[]');
  WHEN 'null' THEN
    RETURN 'null';
  ELSE
    RETURN to_jsonb(random() < 0.5);
  END CASE;
END $$;

-- Random junk in the shape of a schema: keywords with random values.
CREATE FUNCTION fz_junk(depth int) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  r jsonb := '{}';
  kws text[] := '{type,properties,required,additionalProperties,items,enum,const,minimum,maximum,exclusiveMinimum,exclusiveMaximum,minLength,maxLength,pattern,format,$defs,$ref,x-pii,default,allOf,$id,prefixItems,foo}';
BEGIN
  IF depth <= 0 OR random() < 0.3 THEN
    RETURN fz_pick(ARRAY['1'::jsonb, '-1', '2.5', '"string"', '"integer"', '"^[a-"', '"(a|b)*c"', '"date-time"', '"#"',
                         '"#/$defs/x"', '"#/nowhere"', '"http://x/y"', 'true', 'false', 'null', '[]', '["a","a"]',
                         '["string","null"]', '{}', '1e400', to_jsonb(fz_text(3))]);
  END IF;
  IF random() < 0.2 THEN RETURN jsonb_build_array(fz_junk(depth - 1), fz_junk(depth - 1)); END IF;
  FOR i IN 1..fz_int(1, 4) LOOP
    r := r || jsonb_build_object(fz_pick(kws), fz_junk(depth - 1));
  END LOOP;
  RETURN r;
END $$;

CREATE TABLE fz_failure (n int, what text, schema text, instance text, detail text);
CREATE TABLE fz_count (kind text NOT NULL);  -- one row per call

-- One call: schema_errors and schema_valid must agree; expect: true valid,
-- false invalid, NULL either.  Clean errors are counted, others recorded.
CREATE FUNCTION fz_call(n int, what text, s jsonb, i jsonb, expect boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE nerr bigint; ok boolean; outcome text;
BEGIN
  BEGIN
    SELECT count(*) INTO nerr FROM phoenix.schema_errors(s, i);
    ok := phoenix.schema_valid(s, i);
    IF ok <> (nerr = 0) THEN
      INSERT INTO fz_failure VALUES (n, what, left(s::text, 2000), left(i::text, 2000),
        format('schema_valid %s but schema_errors returned %s rows', ok, nerr));
    ELSIF expect IS NOT NULL AND ok <> expect THEN
      INSERT INTO fz_failure VALUES (n, what, left(s::text, 2000), left(i::text, 2000),
        format('expected valid=%s, got %s: %s', expect, ok,
               (SELECT string_agg(path || ' ' || keyword || ': ' || message, '; ') FROM phoenix.schema_errors(s, i))));
    END IF;
    outcome := CASE WHEN ok THEN 'valid' ELSE 'invalid' END;
  EXCEPTION
    WHEN invalid_parameter_value OR invalid_regular_expression OR feature_not_supported OR statement_too_complex THEN
      outcome := 'error ' || SQLSTATE;
    WHEN OTHERS THEN
      INSERT INTO fz_failure VALUES (n, what, left(s::text, 2000), left(i::text, 2000), 'unclean error ' || SQLSTATE || ': ' || SQLERRM);
      outcome := 'unclean';
  END;
  INSERT INTO fz_count VALUES (outcome);
END $$;

-- Break a conforming instance in a way `s` must reject, or return NULL.
CREATE FUNCTION fz_break(s jsonb, i jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE k text;
BEGIN
  CASE s->>'type'
  WHEN 'string' THEN
    IF s ? 'maxLength' AND random() < 0.5 THEN RETURN to_jsonb(repeat('😀', (s->>'maxLength')::int + 1)); END IF;
    RETURN '12345';
  WHEN 'integer' THEN RETURN fz_pick(ARRAY['1.5'::jsonb, '"1"', to_jsonb((s->>'maximum')::int + 1)]);
  WHEN 'number' THEN RETURN fz_pick(ARRAY['-1.5'::jsonb, '"1.0"', 'null']);
  WHEN 'array' THEN RETURN '{}';
  WHEN 'object' THEN
    IF jsonb_array_length(s->'required') > 0 AND random() < 0.5 THEN
      RETURN i - (s->'required'->>fz_int(0, jsonb_array_length(s->'required') - 1));
    ELSIF s->'additionalProperties' = 'false' THEN
      RETURN i || '{"zz_not_declared": 1}';
    END IF;
    RETURN '[]';
  ELSE RETURN NULL;
  END CASE;
END $$;
SQL

# JOBS sessions in parallel, each with its own share of the cases and its
# own seed derived from SEED, so a run is reproducible from SEED alone.
JOBS=${PHOENIX_FUZZ_JOBS:-4}
chunk=$(( (N + JOBS - 1) / JOBS ))
pids=()
for j in $(seq 0 $((JOBS - 1))); do
  first=$((j * chunk + 1)); last=$(( (j + 1) * chunk < N ? (j + 1) * chunk : N ))
  "${PSQL[@]}" -v seed="$((SEED + j))" -v first="$first" -v last="$last" <<'SQL' &
SELECT setseed(((:seed::bigint % 2000000000) / 2000000000.0)::float8) \gset
SET fz.first = :'first';
SET fz.last = :'last';
DO $$
DECLARE
  s jsonb; root jsonb; i jsonb; b jsonb; defs jsonb; depth int;
BEGIN
  FOR n IN current_setting('fz.first')::int..current_setting('fz.last')::int LOOP
    CASE
    WHEN n % 1000 = 0 THEN
      -- deep nesting under a recursive schema: valid, or a clean "nesting" error
      -- (12,000 levels is about what the server's JSON parser takes with a 2MB stack)
      depth := fz_int(100, 12000);
      i := (repeat('[', depth) || repeat(']', depth))::jsonb;
      PERFORM fz_call(n, 'deep', '{"$defs":{"n":{"type":"array","items":{"$ref":"#/$defs/n"}}},"$ref":"#/$defs/n"}', i, NULL);
    WHEN n % 500 = 0 THEN
      -- a huge string of odd characters against length and pattern limits
      i := to_jsonb(repeat(fz_text(8), fz_int(1000, 130000)));
      PERFORM fz_call(n, 'huge', jsonb_build_object('maxLength', fz_int(0, 2000000), 'pattern', '^[^x]*$', 'format', 'email'), i, NULL);
    WHEN n % 4 = 0 THEN
      PERFORM fz_call(n, 'junk', fz_junk(4), fz_pick(ARRAY['null'::jsonb, '1', '"a"', '[1,"b",{}]', '{"a":{"b":[null]}}', to_jsonb(fz_text(5))]), NULL);
    ELSE
      defs := '{}';
      FOR d IN 1..fz_int(0, 2) LOOP
        defs := defs || jsonb_build_object('d' || d, fz_schema(1, 0));
      END LOOP;
      s := fz_schema(3, (SELECT count(*) FROM jsonb_object_keys(defs))::int);
      root := CASE WHEN defs = '{}' THEN s ELSE s || jsonb_build_object('$defs', defs) END;
      i := fz_conform(root, root);
      IF n % 4 = 1 THEN
        PERFORM fz_call(n, 'conforming', root, i, true);
      ELSE
        b := fz_break(s, i);
        IF b IS NOT NULL THEN
          PERFORM fz_call(n, 'broken', root, b, false);
        ELSE
          PERFORM fz_call(n, 'random', root, fz_pick(ARRAY['null'::jsonb, '0', '"s"', '[]', '{}', i]), NULL);
        END IF;
      END IF;
    END CASE;
  END LOOP;
END $$;
SQL
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

# Differential check of the date-time and date formats against PostgreSQL's
# own parsers, on strings near the RFC 3339 shape: every accepted string must
# cast (to the same calendar day, for dates), and every string in RFC 3339
# shape that timestamptz / date accept — minus hour 24 and leap seconds,
# which PostgreSQL takes and RFC 3339 bounds — must be accepted.
"${PSQL[@]}" -v seed="$SEED" <<'SQL'
SELECT setseed(((:seed::bigint % 2000000000) / 2000000000.0)::float8 / 2) \gset
CREATE FUNCTION fz_cast(s text, t regtype) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SELECT %L::%s', s, t);
  RETURN true;
EXCEPTION WHEN OTHERS THEN
  RETURN false;
END $$;
DO $$
DECLARE
  s text; d text; ok boolean; shaped boolean;
BEGIN
  FOR n IN 1..20000 LOOP
    d := lpad(fz_int(0, 10000)::text, fz_pick(ARRAY[4, 4, 4, 3, 5]), '0') || '-' ||
         lpad(fz_int(0, 13)::text, 2, '0') || '-' || lpad(fz_int(0, 32)::text, 2, '0');
    s := d || fz_pick(ARRAY['T', 't', ' ', 'T']) || lpad(fz_int(0, 24)::text, 2, '0') || ':' ||
         lpad(fz_int(0, 60)::text, 2, '0') || ':' || lpad(fz_int(0, 61)::text, 2, '0') ||
         fz_pick(ARRAY['', '.5', '.123456789', '.']) ||
         fz_pick(ARRAY['Z', 'z', '', '+' || lpad(fz_int(0, 24)::text, 2, '0') || ':' || lpad(fz_int(0, 60)::text, 2, '0'),
                       '-' || lpad(fz_int(0, 24)::text, 2, '0') || ':' || lpad(fz_int(0, 60)::text, 2, '0'), '+01']);
    ok := phoenix.schema_valid('{"format":"date-time"}', to_jsonb(s));
    shaped := s ~ '^\d{4}-\d{2}-\d{2}[Tt]([01]\d|2[0-3]):\d{2}:([0-5]\d)(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$';
    IF ok AND NOT fz_cast(s, 'timestamptz') THEN
      INSERT INTO fz_failure VALUES (n, 'date-time', '{"format":"date-time"}', s, 'accepted, but timestamptz refuses it');
    ELSIF shaped AND NOT ok AND fz_cast(s, 'timestamptz') THEN
      INSERT INTO fz_failure VALUES (n, 'date-time', '{"format":"date-time"}', s, 'refused, but it is RFC 3339 and a timestamptz');
    END IF;
    ok := phoenix.schema_valid('{"format":"date"}', to_jsonb(d));
    IF ok AND NOT (fz_cast(d, 'date') AND to_char(d::date, 'YYYY-MM-DD') = d) THEN
      INSERT INTO fz_failure VALUES (n, 'date', '{"format":"date"}', d, 'accepted, but date refuses it or reads another day');
    ELSIF d ~ '^\d{4}-\d{2}-\d{2}$' AND NOT ok AND fz_cast(d, 'date') THEN
      INSERT INTO fz_failure VALUES (n, 'date', '{"format":"date"}', d, 'refused, but it is RFC 3339 and a date');
    END IF;
    INSERT INTO fz_count VALUES ('formats');
  END LOOP;
END $$;
SQL

# Soundness of schema_compatibility: mutate a random schema; whenever the
# mutation is judged backward compatible, instances valid under the old
# schema must be valid under the new one (and the other way round for
# forward).
"${PSQL[@]}" -v seed="$SEED" <<'SQL'
SELECT setseed(((:seed::bigint % 2000000000) / 2000000000.0)::float8 / 3) \gset
-- One random edit in every object/array/string/number node, each with probability p.
CREATE FUNCTION fz_mutate(s jsonb, p float8) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE k text; v jsonb;
BEGIN
  IF jsonb_typeof(s) <> 'object' THEN RETURN s; END IF;
  IF s ? 'properties' THEN
    FOR k, v IN SELECT * FROM jsonb_each(s->'properties') LOOP
      s := jsonb_set(s, ARRAY['properties', k], fz_mutate(v, p));
    END LOOP;
  END IF;
  IF s ? 'items' THEN s := jsonb_set(s, '{items}', fz_mutate(s->'items', p)); END IF;
  IF random() >= p THEN RETURN s; END IF;
  CASE fz_int(1, 12)
    WHEN 1 THEN RETURN s - 'required';
    WHEN 2 THEN RETURN s || '{"required": []}' || jsonb_build_object('required', coalesce((SELECT jsonb_agg(x) FROM jsonb_object_keys(s->'properties') x), '[]'));
    WHEN 3 THEN RETURN s - 'additionalProperties';
    WHEN 4 THEN RETURN s || '{"additionalProperties": false}';
    WHEN 5 THEN RETURN CASE WHEN s ? 'properties' THEN jsonb_set(s, '{properties,zz_new}', fz_pick(ARRAY['{"type":"string"}'::jsonb, '{}', '{"type":"integer","default":0}'])) ELSE s END;
    WHEN 6 THEN RETURN CASE WHEN s ? 'properties' AND s->'properties' <> '{}' THEN jsonb_set(s, '{properties}', (s->'properties') - fz_pick(ARRAY(SELECT jsonb_object_keys(s->'properties')))) ELSE s END;
    WHEN 7 THEN RETURN CASE WHEN s ? 'maxLength' THEN jsonb_set(s, '{maxLength}', to_jsonb(greatest(0, (s->>'maxLength')::int + fz_int(-2, 2)))) ELSE s || '{"maxLength": 3}' END;
    WHEN 8 THEN RETURN CASE WHEN s ? 'minimum' THEN jsonb_set(s, '{minimum}', to_jsonb((s->>'minimum')::int + fz_int(-2, 2))) ELSE s || '{"minimum": 0}' END;
    WHEN 9 THEN RETURN CASE WHEN s->>'type' = 'integer' THEN s || '{"type":"number"}' WHEN s->>'type' = 'number' THEN s || '{"type":"integer"}' ELSE s || '{"type":["string","null"]}' END;
    WHEN 10 THEN RETURN CASE WHEN s ? 'enum' THEN jsonb_set(s, '{enum}', (s->'enum') - fz_int(0, 4)) ELSE s END;
    WHEN 11 THEN RETURN s - 'format' - 'pattern' - 'maxLength' - 'minLength' - 'minimum' - 'maximum';
    ELSE RETURN s - 'type';
  END CASE;
END $$;
DO $$
DECLARE
  old jsonb; new jsonb; i jsonb; bw boolean; fw boolean; defs jsonb;
BEGIN
  FOR n IN 1..3000 LOOP
    defs := '{}';
    FOR d IN 1..fz_int(0, 2) LOOP
      defs := defs || jsonb_build_object('d' || d, fz_schema(1, 0));
    END LOOP;
    old := fz_schema(3, (SELECT count(*) FROM jsonb_object_keys(defs))::int);
    IF defs <> '{}' THEN old := old || jsonb_build_object('$defs', defs); END IF;
    new := fz_mutate(old, 0.7);
    BEGIN
      SELECT compatible INTO bw FROM phoenix.schema_compatibility(old, new, 'backward');
      SELECT compatible INTO fw FROM phoenix.schema_compatibility(old, new, 'forward');
    EXCEPTION WHEN invalid_parameter_value OR invalid_regular_expression OR feature_not_supported THEN
      INSERT INTO fz_count VALUES ('compat error');
      CONTINUE;
    END;
    INSERT INTO fz_count VALUES (CASE WHEN bw AND fw THEN 'compat full' WHEN bw THEN 'compat backward' WHEN fw THEN 'compat forward' ELSE 'compat none' END);
    FOR k IN 1..4 LOOP
      i := fz_conform(old, old);
      IF bw AND phoenix.schema_valid(old, i) AND NOT phoenix.schema_valid(new, i) THEN
        INSERT INTO fz_failure VALUES (n, 'compat backward', old::text || '  ->  ' || new::text, i::text,
          'judged backward compatible, but the new schema rejects data valid under the old one');
      END IF;
      i := fz_conform(new, new);
      IF fw AND phoenix.schema_valid(new, i) AND NOT phoenix.schema_valid(old, i) THEN
        INSERT INTO fz_failure VALUES (n, 'compat forward', old::text || '  ->  ' || new::text, i::text,
          'judged forward compatible, but the old schema rejects data valid under the new one');
      END IF;
    END LOOP;
  END LOOP;
END $$;
SQL

"${PSQL[@]}" -A -t <<'SQL'
SELECT format('%-12s %s', kind, count(*)) FROM fz_count GROUP BY kind ORDER BY kind;
SELECT format('total calls  %s', count(*)) FROM fz_count;
SELECT format('FAILURE case %s (%s): %s%sschema   %s%sinstance %s', n, what, detail, E'\n', schema, E'\n', left(instance, 300))
  FROM fz_failure ORDER BY n LIMIT 20;
SQL
failures=$("${PSQL[@]}" -A -t -c "SELECT count(*) FROM fz_failure")
total=$("${PSQL[@]}" -A -t -c "SELECT count(*) FROM fz_count")
valid=$("${PSQL[@]}" -A -t -c "SELECT count(*) FROM fz_count WHERE kind = 'valid'")
invalid=$("${PSQL[@]}" -A -t -c "SELECT count(*) FROM fz_count WHERE kind = 'invalid'")
echo "$failures failures"
[ "$total" -ge "$N" ] && [ "$valid" -gt 0 ] && [ "$invalid" -gt 0 ] && [ "$failures" = 0 ]
