#!/usr/bin/env bash
# Settings in postgresql.conf are in force from the server's start: every
# phoenix.* GUC that the C code defines, set in the file to a value other
# than its default, reads back with that value (and, where pg_settings shows
# it, source = 'configuration file') right after the start — no reload.
# Then forget survives a restart: with phoenix.forget_secret in the file, a
# person is forgotten; after a restart a late event about them is scrubbed
# on arrival with the same pseudonym as before.
set -euo pipefail
. "$PHOENIX_ROOT/test/cluster_lib.sh"
trap second_cluster_stop EXIT

# the GUCs the C code defines (each DefineCustom*Variable names one)
defined=$(grep -rh -A1 'DefineCustom[A-Za-z]*Variable' "$PHOENIX_ROOT/src" --include='*.c' |
            grep -oE '"phoenix\.[a-z0-9_]+"' | tr -d '"' | sort -u)
[ -n "$defined" ] || { echo "FAIL: no phoenix.* GUC found in src/" >&2; exit 1; }
echo "defined in C: $(echo $defined)"

second_cluster_start settings
# a value other than the default for each, from the server's own description
conf=$(psql2 -At -F '|' -v names="{$(echo $defined | tr ' ' ',')}" <<'SQL'
SELECT n.name,
       coalesce(CASE s.vartype
         WHEN 'bool' THEN CASE WHEN s.boot_val = 'on' THEN 'off' ELSE 'on' END
         WHEN 'integer' THEN CASE WHEN s.boot_val::bigint < s.max_val::bigint
                                  THEN s.boot_val::bigint + 1 ELSE s.boot_val::bigint - 1 END::text
         WHEN 'real' THEN CASE WHEN s.boot_val::float8 < s.max_val::float8
                               THEN s.boot_val::float8 + 1 ELSE s.boot_val::float8 - 1 END::text
         WHEN 'enum' THEN (SELECT e FROM unnest(s.enumvals) e WHERE e <> s.boot_val LIMIT 1)
       END, 'settings test ' || n.name)
  FROM unnest(:'names'::text[]) n(name) LEFT JOIN pg_settings s USING (name)
 ORDER BY 1
SQL
)
echo "$conf" | while IFS='|' read -r name value; do
  printf "%s = '%s'\n" "$name" "$value"
done >"$S_SANDBOX/phoenix.conf"
chown postgres "$S_SANDBOX/phoenix.conf" 2>/dev/null || true
echo "include = '$S_SANDBOX/phoenix.conf'" >>"$S_PGDATA/postgresql.conf"
cat "$S_SANDBOX/phoenix.conf"
as_pg "$PGBIN/pg_ctl" -D "$S_PGDATA" -l "$S_SANDBOX/server.log" -w -t 60 restart -m fast >/dev/null

if grep -E 'invalid configuration parameter name "phoenix\.' "$S_SANDBOX/server.log"; then
  echo "FAIL: the server removed phoenix.* settings at start" >&2; exit 1
fi
fail=0
while IFS='|' read -r name value; do
  got=$(psql2 -At -c "SELECT coalesce((SELECT setting FROM pg_settings WHERE name = '$name'), current_setting('$name', true))")
  source=$(psql2 -At -c "SELECT source FROM pg_settings WHERE name = '$name'")
  printf '%-34s %-22s source=%s\n' "$name" "$got" "${source:-(hidden)}"
  if [ "$got" != "$value" ]; then echo "FAIL: $name is '$got', the file says '$value'" >&2; fail=1; fi
  if [ -n "$source" ] && [ "$source" != "configuration file" ]; then
    echo "FAIL: $name comes from '$source'" >&2; fail=1
  fi
done <<<"$conf"
# pg_settings lists no phoenix.* setting the C code does not define
extra=$(psql2 -At -v names="{$(echo $defined | tr ' ' ',')}" <<'SQL'
SELECT string_agg(name, ',') FROM pg_settings WHERE name LIKE 'phoenix.%' AND name <> ALL (:'names'::text[])
SQL
)
[ -z "$extra" ] || { echo "FAIL: pg_settings has phoenix settings not found in src/: $extra" >&2; fail=1; }
[ $fail = 0 ] || exit 1

# forget, restart, late event: the same pseudonym
psql2 >/dev/null <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('employee', 'employee_id', '{"name":"text"}', pii => '{name}');
SELECT phoenix.create_event_type('presence.detected',
       schema => '{"type":"object","required":["employeeId"],
                   "properties":{"employeeId":{"type":"string"},"badgeName":{"type":"string","x-pii":true}}}',
       refs => '{"employeeId":"employee"}');
SELECT phoenix.put('employee', 'E42', '{"name":"Ada Lovelace"}', valid_from => '2026-11-01');
SELECT phoenix.emit('presence.detected', '{"employeeId":"E42","badgeName":"Ada Lovelace"}', event_id => 'early');
SELECT phoenix.forget('employee', 'E42');
SQL
before=$(psql2 -At -c "SELECT payload->>'badgeName' FROM phoenix.event_log WHERE event_id = 'early'")
as_pg "$PGBIN/pg_ctl" -D "$S_PGDATA" -l "$S_SANDBOX/server.log" -w -t 60 restart -m fast >/dev/null
psql2 -c "SELECT phoenix.emit('presence.detected', '{\"employeeId\":\"E42\",\"badgeName\":\"Ada Lovelace\"}', event_id => 'late')" >/dev/null
after=$(psql2 -At -c "SELECT payload->>'badgeName' FROM phoenix.event_log WHERE event_id = 'late'")
echo "pseudonym before the restart: $before; the late event after it: $after"
case $before in forgotten-*) ;; *) echo "FAIL: forget left '$before'" >&2; exit 1 ;; esac
[ "$before" = "$after" ] || { echo "FAIL: the late event holds '$after', not '$before'" >&2; exit 1; }
echo ok
