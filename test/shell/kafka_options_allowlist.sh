#!/usr/bin/env bash
# librdkafka options go through an allowlist (issue 17, item 3).  The review
# ran a shell command as the postgres OS user through a subscription whose
# sasl.kerberos.principal held `x; <command>; #` (librdkafka substitutes it
# into its default kinit command line).  Replayed here with other names and
# values, through subscriptions, publications, foreign servers and a direct
# write of the catalog: every attempt is refused (22023 with the allowed
# names in the hint, or 42501 for server file paths), and no command runs.
# The worker is then shown to be alive: a marker message of a good
# subscription lands (a positive signal, not a sleep).
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
kafka_test_start marker:1
# a file the server's OS user could create: its absence shows nothing ran
pwned=$(mktemp -u /tmp/phoenix-kinit-XXXXXX)
chmod 1777 /tmp 2>/dev/null || true
cmd="touch $pwned"

q -q <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('mark.set', schema => '{"type":"object"}');
CREATE ROLE kafka_hostile_admin LOGIN IN ROLE phoenix_admin;
SQL

refused() {  # refused <sqlstate> <sql>: the statement fails with that SQLSTATE
  local want=$1 sql=$2 out
  out=$(psql -X -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "\\set VERBOSITY verbose" -c "$sql" 2>&1) &&
    fail "accepted: $sql"
  grep -q "ERROR:  $want" <<<"$out" || fail "want SQLSTATE $want for: $sql, got: $out"
  echo "$out"
}
as_admin() { echo "SET ROLE kafka_hostile_admin; $1"; }

# 1. subscriptions (as a hostile admin): kinit values, the command itself,
#    engines, providers, plugins, interceptors, anything off the list
for opt in \
  "\"sasl.kerberos.principal\": \"x; $cmd; #\"" \
  "\"sasl.kerberos.keytab\": \"\\\"; $cmd; \\\"\"" \
  "\"sasl.kerberos.kinit.cmd\": \"$cmd\"" \
  "\"sasl.kerberos.min.time.before.relogin\": 1" \
  "\"ssl.engine.location\": \"/tmp/x.so\"" \
  "\"ssl.engine.id\": \"dynamic\"" \
  "\"ssl.providers\": \"legacy\"" \
  "\"plugin.library.paths\": \"/tmp/x.so\"" \
  "\"interceptors\": \"x\"" \
  "\"oauthbearer_token_refresh_cb\": \"x\"" \
  "\"no.such.option\": \"1\""; do
  out=$(refused 22023 "$(as_admin "SELECT phoenix.create_subscription('evil', 'marker', 'mark.set',
          '$KAFKA_BOOTSTRAP', options => '{\"security.protocol\": \"sasl_plaintext\",
          \"sasl.mechanisms\": \"GSSAPI\", $opt}')")")
  grep -q 'HINT:  Phoenix accepts: .*security.protocol.*sasl.username' <<<"$out" ||
    fail "the hint should list the allowed options: $out"
done
# 2. publications and foreign servers go through the same list
q -q <<'SQL'
SELECT phoenix.create_entity('thing', 'id', '{"n":"integer"}');
SELECT phoenix.create_event_type('thing.seen',
  schema => '{"type":"object","required":["id"],"properties":{"id":{"type":"string"}}}', refs => '{"id":"thing"}');
SELECT phoenix.create_projection('seen', source => 'thing.seen', columns => '{"id":"id"}');
SQL
refused 22023 "$(as_admin "SELECT phoenix.create_publication('seen', 'seen', '$KAFKA_BOOTSTRAP',
  '{\"sasl.mechanisms\": \"GSSAPI\", \"sasl.kerberos.principal\": \"y; $cmd; #\"}')")" >/dev/null
refused 22023 "CREATE SERVER evil FOREIGN DATA WRAPPER phoenix_kafka OPTIONS (brokers '$KAFKA_BOOTSTRAP',
  \"security.protocol\" 'sasl_plaintext', \"sasl.mechanisms\" 'GSSAPI', \"sasl.kerberos.principal\" 'z; $cmd; #')" >/dev/null
# 3. server file paths need the file-access role (an admin has not got it)
refused 42501 "$(as_admin "SELECT phoenix.create_subscription('files', 'marker', 'mark.set',
  '$KAFKA_BOOTSTRAP', options => '{\"ssl.ca.location\": \"/etc/passwd\"}')")" >/dev/null
q -c "SELECT phoenix.create_subscription('files', 'marker', 'mark.set', '$KAFKA_BOOTSTRAP',
        options => '{\"ssl.ca.location\": \"/etc/ssl/certs\"}', enabled => false)" >/dev/null ||
  fail "a superuser may name server files"
q -q -c "SELECT phoenix.drop_subscription('files')"

# 4. a catalog row written directly (not through create_subscription) is
#    refused by the worker, which records why and goes on with the others
q -q -c "SELECT phoenix.create_subscription('direct', 'marker', 'mark.set', '$KAFKA_BOOTSTRAP', enabled => false)"
q -q -c "UPDATE phoenix.kafka_subscriptions SET enabled = true, group_id = 'direct',
           options = jsonb_build_object('security.protocol', 'sasl_plaintext', 'sasl.mechanisms', 'GSSAPI',
                                        'sasl.kerberos.principal', 'w; $cmd; #') WHERE name = 'direct'" 2>/dev/null || true
q -q -c "SELECT phoenix.create_subscription('good', 'marker', 'mark.set', '$KAFKA_BOOTSTRAP')"
printf 'k\t{"marker":1}\n' | kafka_produce marker
wait_for 60 "SELECT count(*) = 1 FROM phoenix.event_log WHERE source = 'kafka:good'"
if [ "$(q -c "SELECT count(*) FROM phoenix.kafka_subscriptions WHERE name = 'direct' AND enabled")" = 1 ]; then
  wait_for 30 "SELECT last_error LIKE '%sasl.kerberos.principal%' FROM phoenix.kafka_subscription_state WHERE subscription = 'direct'"
fi
# GSSAPI itself is allowed (a ticket cache the operator keeps), with no kinit
q -q -c "SELECT phoenix.create_subscription('gssapi', 'marker', 'mark.set', '$KAFKA_BOOTSTRAP',
           options => '{\"security.protocol\": \"sasl_plaintext\", \"sasl.mechanisms\": \"GSSAPI\",
                         \"sasl.kerberos.service.name\": \"kafka\"}')"
wait_for 30 "SELECT count(*) = 1 FROM phoenix.kafka_subscription_state WHERE subscription = 'gssapi'"

[ -e "$pwned" ] && { rm -f "$pwned"; fail "a librdkafka option ran a command"; }
echo ok
