#!/usr/bin/env bash
# Hostile sessions: the findings of the security review (issue 17: 1, 2, 6,
# 7, 9), replayed with other names and values by a hostile admin, writer and
# login, each from its own new connection; and a recorder of current_user /
# rolsuper placed at every point where something a user supplies could be
# evaluated, to show that none of it ever runs as a superuser.
#
# The recorder is a function the hostile admin owns: it raises a WARNING
# "RECORD <point> user=<current_user> super=<rolsuper>" when it runs.  Every
# attempt to make Phoenix run it as the owner must be refused (no RECORD);
# where Phoenix runs SQL the user wrote (asof_join's query), it runs as that
# user (RECORD ... super=f).  At the end no RECORD anywhere says super=t.
set -euo pipefail
db=$PGDATABASE
p=sec_h_$$
admin=${p}_admin writer=${p}_writer reader=${p}_reader login=${p}_login nouse=${p}_nouse
LOG=$(mktemp /tmp/security_hostile.XXXXXX)
dir=/tmp/$p
cleanup() {
  for r in "$admin" "$writer" "$reader" "$login" "$nouse"; do
    psql -X -q -d "$db" -c "DROP OWNED BY $r CASCADE" >/dev/null 2>&1 || true
    psql -X -q -d "$db" -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
  done
  rm -rf "$dir" "$LOG"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$dir" && chmod 777 "$dir"

# try <login> <sqlstate|00000> <label> <sql>: a new connection runs sql first thing
try() {
  local out state
  out=$(printf '%s;\n\\echo STATE :SQLSTATE\n' "$4" |
        psql -X -q -At -U "$1" -d "$db" -v ON_ERROR_STOP=0 2>&1) || true
  printf '== %s (%s)\n%s\n' "$3" "$1" "$out" >>"$LOG"
  state=$(grep -o 'STATE [0-9A-Z]*' <<<"$out" | tail -1 | cut -d' ' -f2)
  [ "$state" = "$2" ] || fail "$3 as $1: SQLSTATE ${state:-none}, expected $2: $out"
  n=$((n + 1))
}
n=0
as_owner() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

as_owner >/dev/null <<SQL
SET timezone = 'UTC';
CREATE EXTENSION phoenix CASCADE;
CREATE ROLE $admin LOGIN IN ROLE phoenix_admin;
CREATE ROLE $writer LOGIN IN ROLE phoenix_writer;
CREATE ROLE $reader LOGIN IN ROLE phoenix_reader;
CREATE ROLE $login LOGIN;
CREATE ROLE $nouse LOGIN;
GRANT USAGE ON SCHEMA phoenix, phoenix_entity TO $nouse;
-- an admin who owns a schema of their own (the worst case)
CREATE SCHEMA $admin AUTHORIZATION $admin;
SELECT phoenix.create_entity('visitor', 'visitor_id', '{"name":"text","email":"text","company":"text"}',
  pii => '{name,email}');
SELECT phoenix.put('visitor', 'V1', '{"name":"Mira","email":"mira@example.org","company":"Acme"}',
  valid_from => '2026-05-01');
-- may read the history, but not run asof_join
GRANT SELECT ON phoenix_entity.visitor_history TO $nouse;
SELECT phoenix.create_event_type('visit.checked_in',
  schema => '{"type":"object","required":["visitorId","at"],
              "properties":{"visitorId":{"type":"string"},"at":{"type":"string","format":"date-time"},
                            "badge":{"type":"string","pattern":"^[A-Z]{2}-[0-9]+$"}}}',
  time_field => 'at', refs => '{"visitorId":"visitor"}');
SELECT phoenix.create_event_type('visitor.renamed',
  schema => '{"type":"object","properties":{"id":{"type":"string"},"name":{"type":"string"}}}',
  entity => 'visitor', key_field => 'id', sets => '{"name":"name"}');
SELECT phoenix.create_projection('visits', source => 'visit.checked_in',
  columns => '{"visitor_id":"visitorId","badge":"badge"}',
  enrich => '[{"entity":"visitor","key":"visitor_id","attributes":{"company":"event_time"}}]');
SQL

# The hostile admin's recorder, and tools around it.
try "$admin" 00000 "admin makes a recorder" "
CREATE FUNCTION $admin.rec(point text) RETURNS text LANGUAGE plpgsql STABLE AS \$f\$
BEGIN
  RAISE WARNING 'RECORD % user=% super=%', point, current_user,
    (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
  RETURN point;
END \$f\$;
GRANT USAGE ON SCHEMA $admin TO PUBLIC;
GRANT EXECUTE ON FUNCTION $admin.rec(text) TO PUBLIC;
CREATE FUNCTION $admin.trg() RETURNS trigger LANGUAGE plpgsql AS \$f\$
BEGIN PERFORM $admin.rec('trigger'); RETURN NEW; END \$f\$;
CREATE FUNCTION $admin.eq(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE
  AS \$f\$ SELECT $admin.rec('operator') IS NOT NULL \$f\$;
CREATE OPERATOR $admin.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = $admin.eq);
CREATE DOMAIN $admin.watched AS text CHECK ($admin.rec('domain') IS NOT NULL)"

# ---- 1. derive: nothing an admin writes runs as the owner -----------------
derive() { # derive <label> <expression>
  try "$admin" 42501 "derive: $1" "SELECT phoenix.create_projection('visits_$n', 'visit.checked_in',
    columns => '{\"visitor_id\":\"visitorId\"}', derive => \$j\$$(jq_string "$2")\$j\$::jsonb)"
}
jq_string() { python3 -c 'import json,sys; print(json.dumps({"d": sys.argv[1]}))' "$1"; }
derive "the admin's own stable function" "$admin.rec(visitor_id)"
derive "pg_authid through table_to_xml" "table_to_xml('pg_catalog.pg_authid'::regclass, true, false, '')::text"
derive "a query through query_to_xml" "query_to_xml('SELECT rolpassword FROM pg_authid', true, false, '')::text"
derive "the forget secret setting" "current_setting('phoenix.forget_secret', true)"
derive "a server file" "pg_read_file('/etc/hostname')"
derive "a Phoenix function" "phoenix.get('visitor', visitor_id)::text"
derive "an operator of the admin's" "(visitor_id OPERATOR($admin.===) 'x')::text"
derive "a cast to the admin's domain" "visitor_id::$admin.watched"
derive "current_user" "current_user::text"
derive "a stable built-in (now)" "now()::text"
derive "a sequence" "nextval('phoenix.change_seq')::text"
derive "a regclass lookup" "visitor_id::regclass::text"
try "$admin" 00000 "derive: immutable built-ins are fine" "SELECT phoenix.create_projection('visits_ok', 'visit.checked_in',
  columns => '{\"visitor_id\":\"visitorId\"}',
  enrich => '[{\"entity\":\"visitor\",\"key\":\"visitor_id\",\"attributes\":{\"company\":\"event_time\"}}]',
  derive => '{\"v\":\"lower(visitor_id) || ''@'' || date_part(''year'', effective_at AT TIME ZONE ''UTC'')::text\"}')"

# The review's exploit: a function accepted at create time is replaced later.
# Now it is refused at create; and a catalog row naming one (an older
# version's, or changed by hand) is refused when a backend compiles it.
try "$admin" 42501 "derive: a temp function later replaced" "
CREATE FUNCTION pg_temp.label(t text) RETURNS text LANGUAGE sql STABLE AS 'SELECT t';
SELECT phoenix.create_projection('visits_tmp', 'visit.checked_in', columns => '{\"visitor_id\":\"visitorId\"}',
  derive => '{\"d\":\"pg_temp.label(visitor_id)\"}')"
try "$writer" 00000 "a row for it" "SELECT phoenix.emit('visit.checked_in', '{\"visitorId\":\"V1\",\"at\":\"2026-05-02T08:00:00Z\"}')"
as_owner -c "UPDATE phoenix.projections SET derive = jsonb_build_object('v', '$admin.rec(visitor_company)')
              WHERE name = 'visits_ok'" >/dev/null
try "$writer" 42501 "a catalog derive naming the admin's function, at emit (C row computation)" \
  "SELECT phoenix.emit('visit.checked_in', '{\"visitorId\":\"V1\",\"at\":\"2026-05-02T09:00:00Z\"}')"
try "$writer" 42501 "the same, at emit (SQL row computation)" \
  "SET phoenix.rows_in_c = off; SELECT phoenix.emit('visit.checked_in', '{\"visitorId\":\"V1\",\"at\":\"2026-05-02T10:00:00Z\"}')"
try "$admin" 42501 "the same, in the cascade of a put" \
  "SELECT phoenix.put('visitor', 'V1', '{\"company\":\"Initech\"}', valid_from => '2026-05-01')"
as_owner -c "SELECT phoenix.drop_projection('visits_ok')" >/dev/null

# ---- 2. reporting tables: SELECT only ---------------------------------------
try "$admin" 42501 "trigger on a reporting table" \
  "CREATE TRIGGER t BEFORE INSERT ON reporting.visits FOR EACH ROW EXECUTE FUNCTION $admin.trg()"
try "$admin" 42501 "rule on a reporting table" \
  "CREATE RULE r AS ON INSERT TO reporting.visits DO ALSO SELECT $admin.rec('rule')"
try "$admin" 42501 "policy on a reporting table" "CREATE POLICY p ON reporting.visits USING ($admin.rec('policy') IS NOT NULL)"
try "$admin" 42501 "index on a reporting table" "CREATE INDEX ON reporting.visits (badge)"
try "$admin" 42501 "admin updates reporting rows" "UPDATE reporting.visits SET badge = 'XX-1'"
try "$admin" 42501 "admin truncates a reporting table" "TRUNCATE reporting.visits"
try "$admin" 42501 "admin references a reporting table" \
  "CREATE TABLE $admin.r (e text REFERENCES reporting.visits (event_id))"
try "$admin" 42501 "projection into the admin's own schema" \
  "SELECT phoenix.create_projection('mine', 'visit.checked_in', columns => '{\"visitor_id\":\"visitorId\"}', schema => '$admin')"
try "$admin" 42501 "admin creates in the reporting schema" "CREATE TABLE reporting.mine (x int)"

# ---- 6. writers: no publication credentials, no forged outbox rows ---------
as_owner -c "SELECT phoenix.create_publication('visits', 'visits', '127.0.0.1:9', '{\"sasl.password\":\"hunter2\"}')" >/dev/null
try "$writer" 42501 "writer reads publication options" "SELECT options FROM phoenix.kafka_publications"
try "$writer" 42501 "writer reads publication status" "SELECT * FROM phoenix.publication_status"
try "$writer" 42501 "writer forges an outbox row" \
  "INSERT INTO phoenix.kafka_outbox (publication_id, key, op, row) VALUES (1, 'k', 'insert', '{}')"
try "$writer" 42501 "writer deletes outbox rows" "DELETE FROM phoenix.kafka_outbox"
try "$writer" 42501 "writer takes outbox positions" "SELECT nextval('phoenix.kafka_outbox_position_seq')"
try "$writer" 00000 "writer emits into a published projection" \
  "SELECT phoenix.emit('visit.checked_in', '{\"visitorId\":\"V1\",\"at\":\"2026-05-03T09:00:00Z\",\"badge\":\"AB-12\"}')"
[ "$(as_owner -c "SELECT count(*) FROM phoenix.kafka_outbox")" -ge 1 ] || fail "the emit wrote no outbox row"
as_owner -c "SELECT phoenix.drop_publication('visits', 'visits')" >/dev/null

# ---- 7. catalogs: written only through functions; bad rows never crash ---
for sql in \
  "UPDATE phoenix.event_type_versions SET key_field = NULL" \
  "INSERT INTO phoenix.event_types (name) VALUES ('forged')" \
  "DELETE FROM phoenix.event_types" \
  "UPDATE phoenix.projections SET row_lateral = 'SELECT 1'" \
  "UPDATE phoenix.projection_steps SET entity = 'x'" \
  "INSERT INTO phoenix.projection_due VALUES ('visitor', 'V1', now())" \
  "UPDATE phoenix.kafka_subscriptions SET options = '{}'" \
  "DELETE FROM phoenix.kafka_offsets" \
  "INSERT INTO phoenix.export_schedules VALUES ('visits', '/tmp', 'csv', '* * * * *', 1)" \
  "UPDATE phoenix.export_cursors SET last_change_seq = 0" \
  "INSERT INTO phoenix.entities (name, key_name) VALUES ('x', 'k')" \
  "INSERT INTO phoenix.event_log (position) VALUES (1)" \
  "UPDATE phoenix.dead_letters SET reason = 'x'"; do
  try "$admin" 42501 "admin: $sql" "$sql"
done
as_owner -c "UPDATE phoenix.event_type_versions SET key_field = NULL WHERE event_type = 'visitor.renamed'" >/dev/null
try "$writer" 42P17 "an event type row without key_field" "SELECT phoenix.emit('visitor.renamed', '{\"id\":\"V1\",\"name\":\"M\"}')"
as_owner -c "UPDATE phoenix.event_type_versions SET key_field = 'id', sets = '[\"name\"]' WHERE event_type = 'visitor.renamed'" >/dev/null
try "$writer" 42P17 "an event type row whose sets is an array" "SELECT phoenix.emit('visitor.renamed', '{\"id\":\"V1\",\"name\":\"M\"}')"
as_owner -c "UPDATE phoenix.event_type_versions SET sets = '{\"name\":\"name\"}', schema = '[1]' WHERE event_type = 'visitor.renamed'" >/dev/null
try "$writer" 42P17 "an event type row whose schema is an array" "SELECT phoenix.emit('visitor.renamed', '{\"id\":\"V1\",\"name\":\"M\"}')"
as_owner -c "CREATE TABLE saved AS SELECT name, row_lateral, row_join FROM phoenix.projections;
              UPDATE phoenix.projections SET row_lateral = 'SELECT 1', row_join = 'SELECT 1' WHERE name = 'visits'" >/dev/null
try "$writer" 42P17 "a row computation without its placeholder" \
  "SET phoenix.rows_in_c = off; SELECT phoenix.emit('visit.checked_in', '{\"visitorId\":\"V1\",\"at\":\"2026-05-02T11:00:00Z\"}')"
as_owner -c "UPDATE phoenix.projections p SET row_lateral = s.row_lateral, row_join = s.row_join
              FROM saved s WHERE s.name = p.name; DROP TABLE saved" >/dev/null
try "$writer" 00000 "the server is still up" "SELECT 1"

# ---- 9. asof_join's custom scan checks EXECUTE -----------------------------
try "$nouse" 42501 "asof_join without EXECUTE (custom scan)" \
  "SELECT * FROM phoenix.asof_join('visitor', \$q\$SELECT 'V1'::text, now()\$q\$)
     AS t(k text, at timestamptz, name text, email text, company text)"
try "$login" 42501 "asof_join from a plain login" \
  "SELECT * FROM phoenix.asof_join('visitor', \$q\$SELECT 'V1'::text, now()\$q\$)
     AS t(k text, at timestamptz, name text, email text, company text)"

# ---- every other evaluation point ------------------------------------------
try "$admin" 0A000 "entity attribute of the admin's domain type" \
  "SELECT phoenix.create_entity('gadget', 'gadget_id', '{\"label\":\"$admin.watched\"}')"
try "$admin" 0A000 "projection column of the admin's domain type" \
  "SELECT phoenix.create_projection('visits_t', 'visit.checked_in', columns => '{\"b\":{\"path\":\"badge\",\"type\":\"$admin.watched\"}}')"
try "$admin" 00000 "a pattern holding SQL is only a regular expression" \
  "SELECT phoenix.create_event_type('note.left', '{\"type\":\"object\",\"properties\":{\"t\":{\"type\":\"string\",
     \"pattern\":\"^SELECT $admin[.]rec[(]pattern[)]; --$\"}}}')"
try "$writer" 00000 "emit against it" "SELECT phoenix.emit('note.left', '{\"t\":\"SELECT $admin.rec(pattern); --\"}')"
try "$writer" 00000 "CSV values and headers holding SQL are data" \
  "SELECT * FROM phoenix.ingest_csv('visit.checked_in', E'visitorId,at,\"$admin.rec(''csv'')\"\nV1,2026-05-04T09:00:00Z,\"$admin.rec(''csv'')\"\n')"
try "$admin" 42501 "export to a directory without pg_write_server_files" \
  "SELECT * FROM phoenix.export('visits', '$dir/''); SELECT $admin.rec(''export''); --')"
try "$admin" 00000 "asof_join runs the caller's query as the caller" \
  "SELECT count(*) FROM phoenix.asof_join('visitor', \$q\$SELECT $admin.rec('asof_join admin')::text, now()\$q\$)
     AS t(k text, at timestamptz, name text, email text, company text)"
try "$reader" 00000 "... and a reader's as the reader" \
  "SELECT count(*) FROM phoenix.asof_join('visitor', \$q\$SELECT $admin.rec('asof_join reader')::text, now()\$q\$)
     AS t(k text, at timestamptz, name text, email text, company text)"

records=$(grep -o 'RECORD .*' "$LOG" || true)
echo "$records"
grep -q 'RECORD asof_join admin user='"$admin"' super=f' <<<"$records" || fail "asof_join did not run as the admin"
grep -q 'RECORD asof_join reader user='"$reader"' super=f' <<<"$records" || fail "asof_join did not run as the reader"
! grep -q 'super=t' <<<"$records" || fail "user-supplied SQL ran as a superuser"
others=$(grep -v 'RECORD asof_join' <<<"$records" || true)
[ -z "$others" ] || fail "the recorder ran where Phoenix must refuse it: $others"
echo "ok: $n hostile attempts, no user-supplied SQL as a superuser"
