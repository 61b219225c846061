#!/usr/bin/env bash
# phoenix_kafka foreign tables against the mock cluster: columns, pushdown
# (EXPLAIN shows it; ANALYZE shows nothing fetched is filtered away), results
# against what kcat produced, option validation, errors, cancellation.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
trap kafka_mock_stop EXIT
kafka_mock_start fdw:3 empty:2
for p in 0 1 2; do
  for i in $(seq 0 9); do echo "k$p-$i|{\"p\":$p,\"i\":$i}"; done |
    kcat -P -b "$KAFKA_BOOTSTRAP" -t fdw -p $p -K'|' -H src=test -H n=$p
done
printf 'not json\n' | kcat -P -b "$KAFKA_BOOTSTRAP" -t empty -p 1

out=$(mktemp)
psql -X -q -v ON_ERROR_STOP=0 -v brokers="$KAFKA_BOOTSTRAP" >"$out" 2>&1 <<'SQL'
\set VERBOSITY terse
CREATE EXTENSION phoenix CASCADE;
CREATE SERVER k FOREIGN DATA WRAPPER phoenix_kafka OPTIONS (brokers :'brokers', "fetch.wait.max.ms" '10');
\echo -- tables
CREATE FOREIGN TABLE fdw (partition int, "offset" bigint, key text, value jsonb,
  timestamp timestamptz, headers jsonb) SERVER k OPTIONS (topic 'fdw');
CREATE FOREIGN TABLE fdw_text (partition bigint, "offset" bigint, value text, key bytea)
  SERVER k OPTIONS (topic 'empty');
SELECT count(*), count(DISTINCT partition), min("offset"), max("offset"),
       bool_and(timestamp > now() - interval '1 hour') AS recent FROM fdw;
SELECT partition, "offset", key, value, headers FROM fdw
 WHERE partition IN (0, 2) AND "offset" >= 3 AND "offset" < 5 ORDER BY 1, 2;
SELECT partition, "offset", value ->> 'i' AS i FROM fdw WHERE partition = 1 AND "offset" > 7 ORDER BY 1, 2;
SELECT partition, "offset" FROM fdw WHERE 1 = partition AND 2 >= "offset" ORDER BY 1, 2;
SELECT partition, "offset" FROM fdw WHERE "offset" = 9 ORDER BY 1, 2;
SELECT count(*) FROM fdw WHERE partition = 7;
SELECT count(*) FROM fdw WHERE partition = 1 AND partition = 2;
SELECT count(*) FROM fdw WHERE "offset" >= 100;
SELECT * FROM fdw_text ORDER BY 1, 2;
\echo -- pushdown
EXPLAIN (COSTS OFF) SELECT * FROM fdw WHERE partition IN (0, 2) AND "offset" >= 3 AND "offset" < 5;
EXPLAIN (COSTS OFF) SELECT * FROM fdw WHERE partition = 1 AND "offset" > 7;
EXPLAIN (COSTS OFF) SELECT * FROM fdw WHERE "offset" <= 4 AND key = 'k1-1';
EXPLAIN (COSTS OFF) SELECT * FROM fdw WHERE partition + 0 = 1;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT * FROM fdw WHERE partition = 2 AND "offset" BETWEEN 2 AND 5;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT * FROM fdw WHERE key = 'k2-2';
\echo -- rescan (a nested loop re-reads the topic for each outer row)
SELECT o.n, count(*) FROM generate_series(0, 2) o(n)
  CROSS JOIN LATERAL (SELECT * FROM fdw WHERE partition = o.n OFFSET 0) f GROUP BY 1 ORDER BY 1;
\echo -- errors
CREATE FOREIGN TABLE bad1 (partition int) SERVER k OPTIONS (topic 'fdw', x '1');
CREATE FOREIGN TABLE bad2 (partition int) SERVER k;
CREATE SERVER bad3 FOREIGN DATA WRAPPER phoenix_kafka OPTIONS (brokers 'x', "fetch.wait.max.ms" 'soon');
CREATE SERVER bad4 FOREIGN DATA WRAPPER phoenix_kafka OPTIONS (brokers 'x', "no.such.option" '1');
CREATE SERVER bad5 FOREIGN DATA WRAPPER phoenix_kafka OPTIONS (brokers 'x', "plugin.library.paths" '/tmp/evil.so');
CREATE SERVER bad6 FOREIGN DATA WRAPPER phoenix_kafka OPTIONS (brokers 'x', "group.id" 'g');
CREATE USER MAPPING FOR PUBLIC SERVER k OPTIONS ("socket.timeout.ms" 'abc');
CREATE FOREIGN TABLE bad7 (partition int, payload text) SERVER k OPTIONS (topic 'fdw');
SELECT * FROM bad7;
CREATE FOREIGN TABLE bad8 (partition int, "offset" int) SERVER k OPTIONS (topic 'fdw');
SELECT * FROM bad8;
CREATE FOREIGN TABLE bin (value text) SERVER k OPTIONS (topic 'bin');
\echo -- user mapping options reach librdkafka
CREATE USER MAPPING FOR PUBLIC SERVER k OPTIONS ("client.id" 'phoenix-test');
SELECT count(*) FROM fdw WHERE partition = 0;
SQL
diff -u "$PHOENIX_ROOT/test/shell/expected/kafka_fdw.out" "$out"

# binary values: text fails naming the message, bytea works
printf '\xff\xfe\n' | kcat -P -b "$KAFKA_BOOTSTRAP" -t bin -p 0
err=$(psql -X -At -c "SELECT value FROM bin" 2>&1 || true)
grep -q 'Kafka message at bin/0/0 is not valid UTF8 text' <<<"$err" ||
  { echo "binary value into text was not refused"; exit 1; }
psql -X -At -c "ALTER FOREIGN TABLE bin ALTER COLUMN value TYPE bytea" \
  -c "SELECT value FROM bin" | grep -qx '\\xfffe' || { echo "bytea value wrong"; exit 1; }

# no broker answers: a cancel (statement_timeout) ends the scan at once
kafka_cmd down -1
start=$(date +%s%N)
err=$(psql -X -At -c "SET statement_timeout = '500ms'" -c "SELECT count(*) FROM fdw" 2>&1 || true)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q 'canceling statement due to statement timeout' <<<"$err" || { echo "no cancel: $err"; exit 1; }
[ "$ms" -lt 5000 ] || { echo "cancel took ${ms}ms"; exit 1; }
# ...and phoenix.kafka_timeout turns the wait into our own error
err=$(psql -X -At -c "SET phoenix.kafka_timeout = '300ms'" -c "SELECT count(*) FROM fdw" 2>&1 || true)
grep -q 'timed out' <<<"$err" || { echo "no kafka timeout: $err"; exit 1; }
err=$(psql -X -At -c "SET phoenix.kafka_timeout = '300ms'" -c '\set VERBOSITY verbose' -c "SELECT count(*) FROM fdw" 2>&1 || true)
grep -q 'PX007' <<<"$err" || { echo "timeout without ERRCODE_PHOENIX_KAFKA"; exit 1; }
kafka_cmd up -1
[ "$(psql -X -At -c "SELECT count(*) FROM fdw")" = 30 ] || { echo "not readable after brokers came back"; exit 1; }
echo ok
