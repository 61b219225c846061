#!/usr/bin/env bash
# Kafka after forget: messages about a forgotten employee that the worker
# consumes later (a valid one, and a refused one whose raw text names her in
# free text) store none of her PII anywhere; a message about someone else is
# stored as sent.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
trap kafka_mock_stop EXIT
kafka_mock_start badges:1

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","email":"text"}', pii => '{name,email}');
SELECT phoenix.put('employee', 'E42', '{"name":"Ada Lovelace","email":"ada@example.com"}', valid_from => '2026-11-01');
SELECT phoenix.put('employee', 'E7', '{"name":"Grace Hopper","email":"grace@example.com"}', valid_from => '2026-11-01');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId"],
                   "properties":{"employeeId":{"type":"string"},"badgeName":{"type":"string","x-pii":true}}}',
       refs => '{"employeeId":"employee"}');
SELECT phoenix.forget('employee', 'E42', reason => 'erasure request 2026-117');
SQL

printf '%s\t%s\n' \
  E42 '{"employeeId":"E42","badgeName":"Ada Lovelace"}' \
  E7 '{"employeeId":"E7","badgeName":"Grace Hopper"}' \
  E42 'badge 17 read: Ada Lovelace (ada@example.com) at gate 3, welcome Ada Lovelace.' | kafka_produce badges

psql -X -q -v ON_ERROR_STOP=1 -v brokers="$KAFKA_BOOTSTRAP" >/dev/null <<'SQL'
SELECT phoenix.create_subscription('badges', 'badges', 'presence.detected', brokers => :'brokers');
SQL
wait_for 60 "SELECT count(*) = 2 FROM phoenix.event_log"
wait_for 60 "SELECT count(*) = 1 FROM phoenix.dead_letters"
psql -X -q -c "SELECT phoenix.drop_subscription('badges')" >/dev/null

# every table Phoenix owns, found in pg_catalog, any column, jsonb included
hits() {
  psql -X -At -v needles="$1" <<'SQL'
SELECT string_agg(rel, ',' ORDER BY rel) FROM (
  SELECT c.oid::regclass::text AS rel,
         (xpath('/row/n/text()', query_to_xml(format(
            'SELECT count(*) AS n FROM %s t WHERE EXISTS (SELECT 1 FROM unnest(%L::text[]) n '
            'WHERE strpos(lower(t::text), lower(n)) > 0)', c.oid::regclass, :'needles'), false, true, '')))[1]::text::int AS n
    FROM pg_class c
   WHERE c.relnamespace::regnamespace::text IN ('phoenix', 'phoenix_entity', 'reporting') AND c.relkind = 'r') h
 WHERE n > 0
SQL
}
ada=$(hits '{Ada Lovelace,Lovelace,ada@example.com}')
grace=$(hits '{Grace Hopper}')
echo "tables naming Ada: ${ada:-none}"
echo "tables naming Grace: ${grace:-none}"
psql -X -At -c "SELECT payload FROM phoenix.event_log ORDER BY position" \
            -c "SELECT raw FROM phoenix.dead_letters ORDER BY dead_letter_id"
[ -z "$ada" ] || { echo "FAIL: Ada's PII survives in: $ada" >&2; exit 1; }
[ -n "$grace" ] || { echo "FAIL: Grace's event was not stored as sent" >&2; exit 1; }
# the pseudonyms stand where the values were: hers, as in her history
name_p=$(psql -X -At -c "SELECT name FROM phoenix_entity.employee_history WHERE employee_id = 'E42' LIMIT 1")
email_p=$(psql -X -At -c "SELECT email FROM phoenix_entity.employee_history WHERE employee_id = 'E42' LIMIT 1")
echo "her pseudonyms: $name_p $email_p"
[ "$(psql -X -At -v p="$name_p" <<'SQL'
SELECT count(*) FROM phoenix.event_log WHERE payload->>'badgeName' = :'p'
SQL
)" = 1 ]
[ "$(psql -X -At -v n="$name_p" -v e="$email_p" <<'SQL'
SELECT count(*) FROM phoenix.dead_letters WHERE strpos(raw, :'n') > 0 AND strpos(raw, :'e') > 0
SQL
)" = 1 ]
echo ok
