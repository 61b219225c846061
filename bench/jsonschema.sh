#!/usr/bin/env bash
# bench/jsonschema.sh — the JSON Schema validator on 1M presence-like payloads.
#
#   parse            text -> jsonb only (the baseline every emit pays anyway)
#   parse+validate   text -> jsonb, then phoenix.schema_valid
#   scan / validate  the same on already-parsed jsonb, for the validator's
#                    own cost per event (validate - scan) / N
#
# BENCH_ROWS (default 1,000,000) payloads; BENCH_RUNS runs, medians quoted.
set -euo pipefail
ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-3}
PSQL=("$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -A -t)

"${PSQL[@]}" <<SQL
CREATE EXTENSION phoenix CASCADE;
SET synchronous_commit = off;
-- Six fields, as a badge reader sends them.
CREATE TABLE payload_text AS
SELECT json_build_object(
         'employeeId', 'E' || (i % 5000),
         'floorId',    'F' || (i % 40),
         'deviceId',   md5(i::text)::uuid,
         'detectedAt', to_char(timestamptz '2026-11-23' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'direction',  CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END,
         'confidence', round((i % 100) / 100.0, 2))::text AS p
  FROM generate_series(1, $ROWS) i;
CREATE TABLE payload_jsonb AS SELECT p::jsonb AS j FROM payload_text;
CREATE TABLE bench_schema AS SELECT '{
  "type": "object",
  "required": ["employeeId", "floorId", "detectedAt"],
  "properties": {
    "employeeId": {"type": "string", "minLength": 1, "maxLength": 64},
    "floorId":    {"type": "string", "pattern": "^F[0-9]+$"},
    "deviceId":   {"type": "string", "format": "uuid"},
    "detectedAt": {"type": "string", "format": "date-time"},
    "direction":  {"enum": ["in", "out"]},
    "confidence": {"type": "number", "minimum": 0, "maximum": 1}
  },
  "additionalProperties": false
}'::jsonb AS s;
VACUUM ANALYZE payload_text, payload_jsonb;

CREATE FUNCTION bench_ms(q text) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz; n bigint;
BEGIN
  t0 := clock_timestamp();
  EXECUTE q INTO n;
  IF n <> $ROWS THEN RAISE EXCEPTION 'expected $ROWS rows, got % for %', n, q; END IF;
  RETURN round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 1);
END \$\$;
SQL

# The schema is inlined as a constant, as emit holds it compiled.
S=$("${PSQL[@]}" -c "SELECT quote_literal(s::text) || '::jsonb' FROM bench_schema")
declare -A Q=(
  [parse]="SELECT count(*) FROM payload_text WHERE p::jsonb IS NOT NULL"
  [parse_validate]="SELECT count(*) FROM payload_text WHERE phoenix.schema_valid($S, p::jsonb)"
  [scan]="SELECT count(*) FROM payload_jsonb WHERE j IS NOT NULL"
  [validate]="SELECT count(*) FROM payload_jsonb WHERE phoenix.schema_valid($S, j)"
)
declare -A T
for k in parse parse_validate scan validate; do
  vals=()
  for _ in $(seq 1 "$RUNS"); do
    vals+=("$("${PSQL[@]}" -v q="${Q[$k]}" <<<"SELECT bench_ms(:'q')")")
  done
  T[$k]=$(printf '%s\n' "${vals[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
done

awk -v rows="$ROWS" -v p="${T[parse]}" -v pv="${T[parse_validate]}" -v s="${T[scan]}" -v v="${T[validate]}" 'BEGIN {
  printf "jsonschema: %d presence payloads (6 fields), median of runs\n", rows
  printf "  parse to jsonb (baseline)      %9.1f ms  %8.0f /s\n", p, rows / p * 1000
  printf "  parse + validate               %9.1f ms  %8.0f /s   ratio %.2fx of baseline\n", pv, rows / pv * 1000, pv / p
  printf "  scan parsed jsonb (baseline)   %9.1f ms\n", s
  printf "  validate parsed jsonb          %9.1f ms  ratio %.2fx of scan\n", v, v / s
  printf "  validator cost per event       %9.3f us  (validate - scan) / rows\n", (v - s) * 1000 / rows
}'
