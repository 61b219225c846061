#!/usr/bin/env bash
# librdkafka error text reaches subscription_status.last_error, which
# readers see; it must not carry secrets (issue 17, item 9).  librdkafka
# quotes a malformed sasl.oauthbearer.config back in its error
# ("Unrecognized sasl.oauthbearer.config beginning at: client_secret=..."):
# the recorded error keeps its meaning with every secret replaced.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
kafka_test_start secrets:1

q -q <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_event_type('s.seen', schema => '{"type":"object"}');
CREATE ROLE kafka_redaction_reader LOGIN IN ROLE phoenix_reader;
SQL
q -q -c "SELECT phoenix.create_subscription('secrets', 'secrets', 's.seen', '$KAFKA_BOOTSTRAP',
  options => '{\"security.protocol\": \"sasl_plaintext\", \"sasl.mechanisms\": \"OAUTHBEARER\",
               \"enable.sasl.oauthbearer.unsecure.jwt\": true,
               \"sasl.username\": \"svc-user\", \"sasl.password\": \"Pa55-w0rd-x\",
               \"sasl.oauthbearer.config\": \"principal=svc password=Pa55-w0rd-x client_secret=hunter2-zz; token=abc.def bogus\"}')"
wait_for 60 "SELECT last_error IS NOT NULL FROM phoenix.kafka_subscription_state WHERE subscription = 'secrets'"
err=$(psql -X -At -c "SET ROLE kafka_redaction_reader" -c "SELECT last_error FROM phoenix.subscription_status WHERE subscription = 'secrets'")
echo "$err"
grep -q 'sasl.oauthbearer.config' <<<"$err" || fail "the error lost its meaning: $err"
for secret in Pa55-w0rd-x hunter2-zz abc.def; do
  grep -qF -- "$secret" <<<"$err" && fail "last_error shows a secret ($secret): $err"
done
grep -q 'client_secret=\[redacted\]' <<<"$err" || fail "want client_secret=[redacted]: $err"
# nowhere else either: the state table, as the owner sees it
[ "$(q -c "SELECT count(*) FROM phoenix.kafka_subscription_state WHERE last_error ~ '(hunter2|Pa55|abc\.def)'")" = 0 ] ||
  fail "secrets in kafka_subscription_state"
echo ok
