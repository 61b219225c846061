#!/usr/bin/env bash
# Phoenix with a non-superuser owner (docs/security.md): the extension is
# created by a role that is superuser only for that moment; afterwards an
# admin, a writer and a reader do the whole tour (entities, event types, a
# projection with a derived column, emit, put and its cascade, get, forget,
# export) and every SECURITY DEFINER path runs with that plain role's rights.
set -euo pipefail
db=$PGDATABASE
p=sec_po_$$
owner=${p}_owner admin=${p}_admin writer=${p}_writer reader=${p}_reader
dir=/tmp/$p
q() { psql -X -v ON_ERROR_STOP=1 -q -At -d "$db" "$@"; }
cleanup() {
  psql -X -q -d "$db" -c "DROP EXTENSION IF EXISTS phoenix CASCADE" >/dev/null 2>&1 || true
  for r in "$admin" "$writer" "$reader" "$owner"; do
    psql -X -q -d "$db" -c "DROP OWNED BY $r CASCADE" >/dev/null 2>&1 || true
    psql -X -q -d "$db" -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$dir" && chmod 777 "$dir"

q >/dev/null <<SQL
CREATE ROLE $owner LOGIN SUPERUSER;
SET ROLE $owner;
CREATE EXTENSION phoenix CASCADE;
RESET ROLE;
ALTER ROLE $owner NOSUPERUSER;
CREATE ROLE $admin LOGIN IN ROLE phoenix_admin, pg_write_server_files;
CREATE ROLE $writer LOGIN IN ROLE phoenix_writer;
CREATE ROLE $reader LOGIN IN ROLE phoenix_reader;
SQL
[ "$(q -c "SELECT r.rolsuper FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'phoenix'")" = f ] ||
  fail "the owner is a superuser"

as() { local who=$1; shift; psql -X -v ON_ERROR_STOP=1 -q -At -U "$who" -d "$db" "$@"; }
as "$admin" >/dev/null <<'SQL'
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text","unit":"text"}', pii => '{name}');
SELECT phoenix.put('employee', 'E1', '{"name":"Ines","unit":"Lab"}', valid_from => '2026-06-01');
SELECT phoenix.create_event_type('badge.seen',
  schema => '{"type":"object","required":["employeeId","seenAt"],
              "properties":{"employeeId":{"type":"string"},"seenAt":{"type":"string","format":"date-time"}}}',
  time_field => 'seenAt', refs => '{"employeeId":"employee"}');
SELECT phoenix.create_projection('seen', source => 'badge.seen', columns => '{"employee_id":"employeeId"}',
  enrich => '[{"entity":"employee","key":"employee_id","attributes":{"unit":"event_time","name":"event_time"}}]',
  derive => '{"unit_lc":"lower(employee_unit)"}');
SQL
as "$writer" -c "SELECT phoenix.emit('badge.seen', '{\"employeeId\":\"E1\",\"seenAt\":\"2026-06-02T09:00:00Z\"}')" >/dev/null
as "$writer" -c "SELECT * FROM phoenix.emit_batch('[{\"type\":\"badge.seen\",\"payload\":{\"employeeId\":\"E1\",\"seenAt\":\"2026-06-03T09:00:00Z\"}}]')" >/dev/null
as "$admin" -c "SELECT phoenix.put('employee', 'E1', '{\"name\":\"Ines\",\"unit\":\"Ops\"}', valid_from => '2026-06-01')" >/dev/null
[ "$(as "$reader" -c "SELECT string_agg(unit_lc, ',' ORDER BY effective_at) FROM reporting.seen")" = ops,ops ] ||
  fail "the cascade did not recompute the derived column"
[ "$(as "$reader" -c "SELECT phoenix.get('employee', 'E1', '2026-06-05') ->> 'unit'")" = Ops ] || fail "get"
as "$admin" -c "SELECT rows FROM phoenix.export('seen', '$dir')" >/dev/null
ls "$dir"/*.manifest.json >/dev/null || fail "no export"
as "$admin" -c "SELECT phoenix.forget('employee', 'E1', 'test')" >/dev/null
[ "$(as "$reader" -c "SELECT count(*) FROM reporting.seen WHERE employee_name = 'Ines'")" = 0 ] || fail "forget"
as "$admin" -c "SELECT phoenix.rebuild_projection('seen')" >/dev/null
as "$admin" -c "SELECT phoenix.drop_projection('seen')" >/dev/null
echo ok
