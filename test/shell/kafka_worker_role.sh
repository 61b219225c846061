#!/usr/bin/env bash
# The Kafka worker runs as a non-superuser with search_path pinned and a
# statement timeout (issue 17, items 4 and 9).  The review got superuser
# from a `public.unnest` overload: the worker ran `unnest($3::int[])` as the
# bootstrap superuser with the database's default search_path, where an
# exact-type function in a writable public schema wins over pg_catalog's
# polymorphic one.  Replayed with other names: hostile unnest, coalesce-free
# operators and functions in public, created by a plain login; none is ever
# called while messages, dead letters and a publication flow.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
kafka_test_start worker_role:2
db=$(q -c "SELECT current_database()")

# the worker reads its settings when it connects: before the first subscription
q -q -c "ALTER DATABASE \"$db\" SET phoenix.kafka_statement_timeout = '3s'"
q -q <<'SQL'
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('badge', 'id', '{"owner":"text"}');
SELECT phoenix.create_event_type('badge.used',
  schema => '{"type":"object","required":["id","n"],"properties":{"id":{"type":"string"},"n":{"type":"integer"}}}',
  refs => '{"id":"badge"}');
SELECT phoenix.create_projection('badge_uses', source => 'badge.used', columns => '{"id":"id","n":"n"}');

-- a database upgraded from PostgreSQL 14: anyone may create in public
GRANT CREATE ON SCHEMA public TO PUBLIC;
CREATE ROLE kafka_squatter LOGIN;
CREATE TABLE public.hostile_calls (fn text, who name, super boolean);
GRANT INSERT, SELECT ON public.hostile_calls TO PUBLIC;
SET ROLE kafka_squatter;
CREATE FUNCTION public.hostile_note(fn text) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO public.hostile_calls SELECT fn, current_user, rolsuper FROM pg_roles WHERE rolname = current_user RETURNING true $$;
-- exact-type overloads beat pg_catalog's polymorphic unnest(anyarray)
CREATE FUNCTION public.unnest(integer[]) RETURNS SETOF integer LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.hostile_note('unnest(int[])'); RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.hostile_note('unnest(bigint[])'); RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.hostile_note('unnest(text[])'); RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
-- and an operator for bigint / numeric, which the counters' rate divides
CREATE FUNCTION public.evil_div(bigint, numeric) RETURNS numeric LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.hostile_note('/(bigint,numeric)'); RETURN $1::numeric OPERATOR(pg_catalog./) $2; END $$;
CREATE OPERATOR public./ (LEFTARG = bigint, RIGHTARG = numeric, FUNCTION = public.evil_div);
RESET ROLE;
SQL
# the trap is live for an ordinary session on the default search_path
[ "$(q -c "SELECT count(*) FROM unnest(ARRAY[1,2]::int[])" -c "SELECT count(*) FROM public.hostile_calls")" = $'2\n1' ] ||
  fail "the hostile unnest is not reachable; the test proves nothing"
q -q -c "TRUNCATE public.hostile_calls"

# messages (good, dead-lettered), over two partitions, and a publication
q -q -c "SELECT phoenix.create_publication('badge_uses', 'worker_role_out', '$KAFKA_BOOTSTRAP')"
{
  for i in $(seq 1 50); do printf 'b%d\t{"id":"B%d","n":%d}\n' "$i" "$i" "$i"; done
  printf 'bad\t{"id":"X","n":"not a number"}\n'
} | kafka_produce worker_role
q -q -c "SELECT phoenix.create_subscription('worker_role', 'worker_role', 'badge.used', '$KAFKA_BOOTSTRAP')"
wait_for 60 "SELECT count(*) = 50 FROM phoenix.event_log WHERE source = 'kafka:worker_role'"
wait_for 30 "SELECT count(*) = 1 FROM phoenix.dead_letters WHERE source = 'kafka:worker_role'"
wait_for 30 "SELECT sum(committed_offset) = 51 FROM phoenix.subscription_status WHERE subscription = 'worker_role'"
wait_for 30 "SELECT sent >= 50 FROM phoenix.publication_status WHERE projection = 'badge_uses'"

calls=$(q -c "SELECT string_agg(DISTINCT fn || ' as ' || who || CASE WHEN super THEN ' (superuser)' ELSE '' END, ', ')
              FROM public.hostile_calls")
[ -z "$calls" ] || fail "the worker called hostile objects: $calls"

# who the worker is: its role, recorded with the subscription's state
[ "$(q -c "SELECT worker_role FROM phoenix.kafka_subscription_state WHERE subscription = 'worker_role'")" = phoenix_kafka ] ||
  fail "worker role: $(q -c "SELECT worker_role FROM phoenix.kafka_subscription_state")"
[ "$(q -c "SELECT rolsuper OR rolcanlogin OR rolcreaterole OR rolcreatedb OR rolbypassrls
            FROM pg_roles WHERE rolname = 'phoenix_kafka'")" = f ] || fail "phoenix_kafka has too much"
# and what it may touch: no event log, no reporting table, no catalog writes
for t in phoenix.event_log reporting.badge_uses phoenix.event_types phoenix.projections; do
  [ "$(q -c "SELECT has_table_privilege('phoenix_kafka', '$t', 'INSERT, UPDATE, DELETE, TRUNCATE')")" = f ] ||
    fail "phoenix_kafka may write $t"
done
[ "$(q -c "SELECT has_table_privilege('phoenix_kafka', 'phoenix.kafka_subscriptions', 'INSERT, DELETE')")" = f ] ||
  fail "phoenix_kafka may write the subscriptions"

# the statement timeout: a batch that cannot get its offsets' row lock ends
# with the timeout recorded; released, the message lands
release_lock() {
  psql -X -q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kafka_lock_holder'" >/dev/null 2>&1 || true
}
trap 'release_lock; psql -X -q -c "SELECT phoenix.drop_publication(projection, topic) FROM phoenix.kafka_publications" >/dev/null 2>&1; kafka_subscriptions_cleanup' EXIT
PGAPPNAME=kafka_lock_holder psql -X -q -c "BEGIN" -c "SELECT 1 FROM phoenix.kafka_offsets FOR UPDATE" \
  -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
holder=$!
wait_for 30 "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'kafka_lock_holder'
               AND query LIKE '%pg_sleep%'"
printf 'late\t{"id":"B99","n":99}\n' | kafka_produce worker_role
wait_for 60 "SELECT last_error LIKE '%statement timeout%' FROM phoenix.kafka_subscription_state WHERE subscription = 'worker_role'"
release_lock
wait "$holder" 2>/dev/null || true
wait_for 90 "SELECT count(*) = 51 FROM phoenix.event_log WHERE source = 'kafka:worker_role'"
[ -z "$(q -c "SELECT string_agg(fn, ',') FROM public.hostile_calls")" ] || fail "hostile objects called after restart"
q -q -c "SELECT phoenix.drop_publication('badge_uses', 'worker_role_out')"
echo ok
