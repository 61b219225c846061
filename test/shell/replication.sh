#!/usr/bin/env bash
# Logical replication of the reporting schema (the Cloud SQL replica path):
# phoenix.publish_reporting() on the shared cluster, a subscriber in a second
# local cluster without Phoenix, and the subscriber receives projection rows,
# their updates (cascade re-enrichment), and rows created after the
# subscription started.
set -euo pipefail
. "$PHOENIX_ROOT/test/cluster_lib.sh"
PUB_DB=$PGDATABASE
cleanup() {
  # the subscription owns a replication slot on the shared cluster: drop it first
  [ -n "${S_SANDBOX:-}" ] && psql2 -c "DROP SUBSCRIPTION IF EXISTS phoenix_sub" >/dev/null 2>&1 || true
  psql_q -d "$PUB_DB" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                           WHERE slot_name = 'phoenix_sub_$PUB_DB'" >/dev/null 2>&1 || true
  second_cluster_stop
}
trap cleanup EXIT
pub() { psql_q -d "$PUB_DB" "$@"; }

pub <<'SQL'
CREATE EXTENSION phoenix CASCADE;
CREATE TABLE reporting.presence_report (
  event_id text PRIMARY KEY, effective_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
  employee_id text, employee_department text, employee_name text,
  updated_at timestamptz NOT NULL DEFAULT now(), change_seq bigint NOT NULL);
INSERT INTO reporting.presence_report
  SELECT 'p' || i, '2026-11-23'::timestamptz + i * interval '1 hour', now(), 'E' || (i % 5),
         CASE WHEN i % 2 = 0 THEN 'Finance' ELSE 'Sales' END, 'Name ' || (i % 5), now(), phoenix.next_change_seq()
    FROM generate_series(1, 200) i;
SQL
# a table without a primary key cannot be published (updates would fail)
pub -c "CREATE TABLE reporting.no_pk (x int)"
out=$(pub -c "SELECT phoenix.publish_reporting()" 2>&1 || true)
grep -q 'tables without a primary key cannot be published: no_pk' <<<"$out" || { echo "no_pk: $out"; exit 1; }
pub -c "DROP TABLE reporting.no_pk"
[ "$(pub -At -c "SELECT phoenix.publish_reporting()")" = phoenix_reporting ] || exit 1
# idempotent
pub -At -c "SELECT phoenix.publish_reporting()" >/dev/null

second_cluster_start replica
# the replica gets plain tables (no Phoenix there: Cloud SQL has none); the
# schema belongs to the extension, so pg_dump leaves it out
psql2 -c "CREATE SCHEMA reporting"
"$PGBIN/pg_dump" -h "$PGHOST" -p "$PGPORT" -U postgres -d "$PUB_DB" --schema-only --schema=reporting --no-owner --no-privileges | psql2
psql2 -c "CREATE SUBSCRIPTION phoenix_sub CONNECTION 'host=127.0.0.1 port=$PGPORT dbname=$PUB_DB user=postgres'
          PUBLICATION phoenix_reporting WITH (slot_name = 'phoenix_sub_$PUB_DB')"

digest="SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY event_id)), '') FROM reporting.presence_report t"
wait_same() { # wait until the replica's table equals the publisher's
  local want got
  want=$(pub -At -c "$digest")
  for _ in $(seq 1 120); do
    got=$(psql2 -At -c "$digest")
    [ "$got" = "$want" ] && return 0
    sleep 0.5
  done
  echo "replica differs after 60 s ($1): want $want got $got"; exit 1
}
wait_same "initial copy"

# cascade-like re-enrichment: a late department change rewrites Tuesday's rows
pub -c "UPDATE reporting.presence_report SET employee_department = 'Accounting', updated_at = now(),
          change_seq = phoenix.next_change_seq()
         WHERE employee_id = 'E2' AND effective_at >= '2026-11-25'"
pub -c "INSERT INTO reporting.presence_report VALUES ('p999', now(), now(), 'E9', 'Ops', 'Late Person', now(), phoenix.next_change_seq())"
wait_same "updates and inserts"
[ "$(psql2 -At -c "SELECT count(*) FROM reporting.presence_report WHERE employee_department = 'Accounting'")" -gt 0 ] ||
  { echo "no re-enriched rows on the replica"; exit 1; }

# a scrub (what forget does to projection rows) reaches the replica too
pub -c "UPDATE reporting.presence_report SET employee_name = 'pseudonym-1', change_seq = phoenix.next_change_seq()
         WHERE employee_id = 'E3'"
wait_same "scrub"
[ "$(psql2 -At -c "SELECT count(*) FROM reporting.presence_report WHERE employee_name = 'Name 3'")" = 0 ] ||
  { echo "scrubbed name still on the replica"; exit 1; }

# a projection created after the publication is published automatically
pub -c "CREATE TABLE reporting.floor_plan (desk_id text PRIMARY KEY, occupied boolean, change_seq bigint)"
[ "$(pub -At -c "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'phoenix_reporting' AND tablename = 'floor_plan'")" = 1 ] ||
  { echo "new reporting table not in the publication"; exit 1; }

# A real projection: rows from emit, a cascade from a late entity change, and
# a forget scrub all reach the replica.
pub >/dev/null <<'SQL'
SET phoenix.forget_secret = 'replication test secret';
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","department":"text"}', pii => '{name}');
SELECT phoenix.put('employee', 'E1', '{"name":"Ada Lovelace","department":"Finance"}', valid_from => '2026-11-01');
SELECT phoenix.put('employee', 'E2', '{"name":"Grace Hopper","department":"Sales"}', valid_from => '2026-11-01');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId","detectedAt"],
                   "properties":{"employeeId":{"type":"string"},
                                 "detectedAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       time_field => 'detectedAt', refs => '{"employeeId":"employee"}');
SELECT phoenix.create_projection('presence_real', source => 'presence.detected',
  columns => '{"employee_id":"employeeId"}',
  enrich => '[{"entity":"employee","key":"employee_id","attributes":{"department":"event_time","name":"current"}}]');
SQL
"$PGBIN/pg_dump" -h "$PGHOST" -p "$PGPORT" -U postgres -d "$PUB_DB" --schema-only --no-owner --no-privileges \
  -t reporting.presence_real -t reporting.floor_plan | psql2 >/dev/null
psql2 -c "ALTER SUBSCRIPTION phoenix_sub REFRESH PUBLICATION"
pub >/dev/null <<'SQL'
SELECT phoenix.emit('presence.detected', json_build_object('employeeId', 'E' || (1 + i % 2),
         'detectedAt', format('2026-11-%sT09:00:00Z', lpad((20 + i % 7)::text, 2, '0')))::jsonb, event_id => 'r' || i)
  FROM generate_series(1, 40) i;
SQL
digest="SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY event_id)), '') FROM reporting.presence_real t"
wait_same "projection rows"
# late transfer of E1 effective the 24th: a cascade rewrites the later rows
pub -c "SELECT phoenix.put('employee', 'E1', '{\"department\":\"Accounting\"}', valid_from => '2026-11-24')" >/dev/null
wait_same "cascade"
[ "$(psql2 -At -c "SELECT count(*) FROM reporting.presence_real WHERE employee_department = 'Accounting'")" -gt 0 ] ||
  { echo "cascade did not reach the replica"; exit 1; }
# forget E1: the replica keeps the rows, with a pseudonym instead of the name
pub -c "SET phoenix.forget_secret = 'replication test secret'" -c "SELECT phoenix.forget('employee', 'E1', 'erasure request')" >/dev/null
wait_same "forget"
[ "$(psql2 -At -c "SELECT count(*) FROM reporting.presence_real WHERE employee_name = 'Ada Lovelace'")" = 0 ] ||
  { echo "the forgotten name is still on the replica"; exit 1; }
[ "$(psql2 -At -c "SELECT count(*) FROM reporting.presence_real WHERE employee_id = 'E1'")" = 20 ] ||
  { echo "the forgotten person's rows should still count"; exit 1; }
echo ok
