#!/usr/bin/env bash
# Roles from fresh sessions: every Phoenix object against the role table.
#
# 1. First calls: a brand-new login of each role runs, as its first
#    statement, each call its role is documented to make (get, history,
#    entity_catalog, asof_join, emit, put, create_projection, ...): each
#    works.  (A reader's first phoenix.get failed with 42501 on
#    phoenix.entities: the entity cache was filled with the caller's rights.)
# 2. The sweep (test/security/role_matrix.py sweep): every function,
#    table, view, sequence, schema and FDW that depends on the extension or
#    lives in its schemas, with each role's privileges from the catalogs
#    (TRIGGER, REFERENCES, TRUNCATE included), equals the role table in
#    README.md (docs/security.md while README has no markers).
# 3. The matrix (role_matrix.py fresh): for each of those objects and each of
#    reader, writer, admin and a plain login, a NEW connection tries it
#    first thing: allowed -> passes the privilege check; not allowed -> 42501;
#    no write to any Phoenix table or sequence succeeds.
set -euo pipefail
ROOT=$PHOENIX_ROOT
db=$PGDATABASE
p=sec_roles_$$
reader=${p}_reader writer=${p}_writer admin=${p}_admin login=${p}_login
dir=/tmp/$p
q() { psql -X -v ON_ERROR_STOP=1 -q -At "$@"; }
cleanup() {
  for r in "$reader" "$writer" "$admin" "$login"; do
    psql -X -q -d "$db" -c "DROP OWNED BY $r" >/dev/null 2>&1 || true
    psql -X -q -d "$db" -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$dir" && chmod 777 "$dir"

q <<SQL
SET timezone = 'UTC';
CREATE EXTENSION phoenix CASCADE;
CREATE ROLE $reader LOGIN IN ROLE phoenix_reader;
CREATE ROLE $writer LOGIN IN ROLE phoenix_writer;
CREATE ROLE $admin LOGIN IN ROLE phoenix_admin, pg_write_server_files;
CREATE ROLE $login LOGIN;
SELECT phoenix.create_entity('badge_holder', 'holder_id', '{"name":"text","team":"text"}', pii => '{name}');
SELECT phoenix.put('badge_holder', 'H7', '{"name":"Noor","team":"Ops"}', valid_from => '2026-03-01');
SELECT phoenix.create_event_type('door.opened',
  schema => '{"type":"object","required":["holderId","openedAt"],
              "properties":{"holderId":{"type":"string"},"openedAt":{"type":"string","format":"date-time"}}}',
  time_field => 'openedAt', refs => '{"holderId":"badge_holder"}');
SELECT phoenix.create_projection('door_report', source => 'door.opened', columns => '{"holder_id":"holderId"}',
  enrich => '[{"entity":"badge_holder","key":"holder_id","attributes":{"team":"event_time"}}]',
  kind => 'latest', latest_key => 'holder_id', fresh_for => '1 day');
SELECT phoenix.emit('door.opened', '{"holderId":"H7","openedAt":"2026-03-02T08:00:00Z"}', event_id => 'd0');
SQL

# ---- 1. first calls that must work, each in a new connection --------------
first() { # first <login> <label> <sql>: the statement runs first thing and succeeds
  local out
  out=$(psql -X -q -At -v ON_ERROR_STOP=1 -U "$1" -d "$db" -c "$3" 2>&1) ||
    fail "$2 as $1 (first statement): $out"
}
n=0
for who in "$reader" "$writer" "$admin"; do
  first "$who" get "SELECT phoenix.get('badge_holder', 'H7', '2026-03-05')"
  first "$who" history "SELECT count(*) FROM phoenix.history('badge_holder', 'H7')"
  first "$who" entity_catalog "SELECT count(*) FROM phoenix.entity_catalog"
  first "$who" projection_catalog "SELECT count(*) FROM phoenix.projection_catalog"
  first "$who" event_types_v "SELECT count(*) FROM phoenix.event_types_v"
  first "$who" subscription_status "SELECT count(*) FROM phoenix.subscription_status"
  first "$who" asof_join "SELECT count(*) FROM phoenix.asof_join('badge_holder',
    \$\$SELECT 'H7'::text AS key, '2026-03-05'::timestamptz AS at\$\$)
    AS t(key text, at timestamptz, name text, team text)"
  first "$who" asof_join_lateral "SELECT count(*) FROM (VALUES (1)) v,
    LATERAL phoenix.asof_join('badge_holder', \$\$SELECT 'H7'::text, now()\$\$)
    AS t(key text, at timestamptz, name text, team text)"
  first "$who" entity_view "SELECT count(*) FROM phoenix_entity.badge_holder"
  first "$who" entity_at "SELECT count(*) FROM phoenix_entity.badge_holder_at('H7', '2026-03-05')"
  first "$who" reporting "SELECT count(*) FROM reporting.door_report"
  first "$who" fresh_view "SELECT count(*) FROM reporting.door_report_fresh"
  first "$who" schema_errors "SELECT count(*) FROM phoenix.schema_errors('{\"type\":\"string\"}', '1')"
  first "$who" check_bigquery "SELECT count(*) FROM phoenix.check_bigquery()"
  first "$who" safe_change_seq "SELECT phoenix.safe_change_seq()"
  n=$((n + 15))
done
for who in "$writer" "$admin"; do
  first "$who" emit "SELECT phoenix.emit('door.opened', '{\"holderId\":\"H7\",\"openedAt\":\"2026-03-03T08:00:00Z\"}')"
  first "$who" emit_batch "SELECT * FROM phoenix.emit_batch('[{\"type\":\"door.opened\",\"payload\":{\"holderId\":\"H7\",\"openedAt\":\"2026-03-04T08:00:00Z\"}}]')"
  first "$who" ingest_csv "SELECT * FROM phoenix.ingest_csv('door.opened', E'holderId,openedAt\nH7,2026-03-04T09:00:00Z\n')"
  first "$who" apply_due "SELECT phoenix.apply_due()"
  first "$who" next_change_seq "SELECT phoenix.next_change_seq()"
  n=$((n + 5))
done
first "$admin" put "SELECT phoenix.put('badge_holder', 'H8', '{\"name\":\"Ravi\",\"team\":\"Ops\"}', valid_from => '2026-03-01')"
first "$admin" retract "SELECT phoenix.retract('badge_holder', 'H8', '2026-03-10')"
first "$admin" create_entity "SELECT phoenix.create_entity('locker', 'locker_id', '{\"zone\":\"text\"}')"
first "$admin" create_event_type "SELECT phoenix.create_event_type('locker.used', '{\"type\":\"object\"}')"
first "$admin" create_projection "SELECT phoenix.create_projection('door_events', 'door.opened', columns => '{\"holder_id\":\"holderId\"}',
  derive => '{\"holder_lc\":\"lower(holder_id)\"}')"
first "$admin" rebuild_projection "SELECT phoenix.rebuild_projection('door_events')"
first "$admin" create_publication "SELECT phoenix.create_publication('door_events', 'doors', '127.0.0.1:9')"
first "$admin" drop_publication "SELECT phoenix.drop_publication('door_events', 'doors')"
first "$admin" drop_projection "SELECT phoenix.drop_projection('door_events')"
first "$admin" export "SELECT rows FROM phoenix.export('door_report', '$dir')"
first "$admin" replay "SELECT * FROM phoenix.replay_dead_letters()"
first "$admin" event_log "SELECT count(*) FROM phoenix.event_log"
first "$admin" dead_letters "SELECT count(*) FROM phoenix.dead_letters"
first "$admin" erasures "SELECT count(*) FROM phoenix.erasures"
first "$admin" forget "SELECT phoenix.forget('badge_holder', 'H8', 'test')"
first "$admin" drop_event_type "SELECT phoenix.drop_event_type('locker.used')"
first "$admin" drop_entity "SELECT phoenix.drop_entity('locker')"
n=$((n + 17))
echo "first calls: $n work from a new connection"

# ---- 2 and 3: the sweep and the matrix -------------------------------------
PGDATABASE=$db python3 "$ROOT/test/security/role_matrix.py" "$ROOT" sweep \
  reader="$reader" writer="$writer" admin="$admin" login="$login" || fail "the sweep differs from the role table"
PGDATABASE=$db python3 "$ROOT/test/security/role_matrix.py" "$ROOT" fresh \
  reader="$reader" writer="$writer" admin="$admin" login="$login" || fail "the fresh-session matrix differs from the role table"

# ---- 4. an upgrade takes back what older versions granted ------------------
# (every upgrade script ends with src/sql/90_grants.sql, the Makefile's rule)
q >/dev/null <<SQL
GRANT ALL ON reporting.door_report TO phoenix_admin;
GRANT TRIGGER, REFERENCES ON reporting.door_report_fresh TO phoenix_writer;
GRANT INSERT ON phoenix.event_log TO phoenix_writer;
GRANT INSERT, UPDATE ON phoenix.dead_letters TO phoenix_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON phoenix.event_types, phoenix.event_type_versions,
  phoenix.kafka_subscriptions, phoenix.kafka_publications TO phoenix_admin;
GRANT INSERT ON phoenix.kafka_outbox TO phoenix_writer;
GRANT USAGE ON SEQUENCE phoenix.event_log_position_seq TO phoenix_writer;
GRANT SELECT ON phoenix.kafka_publications TO phoenix_writer;
GRANT EXECUTE ON FUNCTION phoenix.publish_reporting(name, name) TO PUBLIC;
GRANT CREATE ON SCHEMA reporting TO phoenix_admin;
SQL
PGDATABASE=$db python3 "$ROOT/test/security/role_matrix.py" "$ROOT" sweep \
  reader="$reader" writer="$writer" admin="$admin" login="$login" >/dev/null &&
  fail "the sweep did not see the old grants"
q -f "$ROOT/src/sql/90_grants.sql" >/dev/null
PGDATABASE=$db python3 "$ROOT/test/security/role_matrix.py" "$ROOT" sweep \
  reader="$reader" writer="$writer" admin="$admin" login="$login" || fail "an upgrade left older grants"
echo ok
