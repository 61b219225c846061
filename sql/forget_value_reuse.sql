-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_forget_value_reuse WITH (FORCE);
CREATE DATABASE regress_forget_value_reuse;
\c regress_forget_value_reuse
\set ECHO all
-- forget with reused values: an email counts as a person's only inside the
-- valid periods in which they held it (the rule enrichment's "by" uses), so
-- forgetting E1 leaves E3, who got the address later, byte for byte as it
-- was; matching is exact in both.  Pseudonyms derive from the person, so two
-- people with one name get different ones.  After forget, nothing a reader
-- can reach holds the values: pg_stats and the pending Kafka outbox included.
CREATE EXTENSION phoenix CASCADE;
SET timezone = 'UTC';
SET phoenix.forget_secret = 'value reuse secret';

-- every row of every table Phoenix owns, as text (partitions under their root)
CREATE FUNCTION pg_temp.all_rows()
RETURNS TABLE (relation text, row_text text) LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel, coalesce(pg_partition_root(c.oid), c.oid)::regclass AS root
             FROM pg_class c
            WHERE c.relnamespace::regnamespace::text IN ('phoenix', 'phoenix_entity', 'reporting')
              AND c.relkind = 'r' ORDER BY 1
  LOOP
    RETURN QUERY EXECUTE format('SELECT %L::text, t::text FROM %s t', r.root, r.rel);
  END LOOP;
END $$;

SELECT phoenix.create_entity('employee', 'employee_id',
       '{"name":"text","email":"text","department":"text"}', pii => '{name,email}');
SELECT phoenix.create_event_type('visitor.checked-in',
       schema => '{"type":"object","required":["visitorName","hostEmail","checkedInAt"],
                   "properties":{"visitorName":{"type":"string","x-pii":true},
                                 "hostEmail":{"type":"string"},
                                 "checkedInAt":{"type":"string","format":"date-time"}},
                   "additionalProperties":false}',
       time_field => 'checkedInAt', refs => '{"hostEmail":"employee.email"}');
SELECT phoenix.create_projection('visits',
  source  => 'visitor.checked-in',
  columns => '{"visitor_name":"visitorName","host_email":"hostEmail"}',
  enrich  => '[{"entity":"employee","key":"host_email","by":"email",
                "attributes":{"name":"event_time","department":"event_time"}}]');
-- a publication whose broker is not there: its changes wait in the outbox
SELECT phoenix.create_publication('visits', 'visits', '127.0.0.1:9') > 0 AS published;

-- E1 had ann@x.com until March, then changed address; E3 got it in April
SELECT phoenix.put('employee', 'E1', '{"name":"Ann Example","email":"ann@x.com","department":"Sales"}',
                   valid_from => '2026-01-01');
SELECT phoenix.put('employee', 'E1', '{"email":"ann.example@y.com"}', valid_from => '2026-03-01');
SELECT phoenix.put('employee', 'E3', '{"name":"Bea Other","email":"ann@x.com","department":"Audit"}',
                   valid_from => '2026-04-01');
SELECT * FROM phoenix.emit_batch('[
  {"type":"visitor.checked-in","event_id":"v-e1-feb","payload":{"visitorName":"Vic One","hostEmail":"ann@x.com","checkedInAt":"2026-02-10T09:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"v-e1-mar","payload":{"visitorName":"Vic Two","hostEmail":"ann.example@y.com","checkedInAt":"2026-03-10T09:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"v-e3-apr","payload":{"visitorName":"Vic Three","hostEmail":"ann@x.com","checkedInAt":"2026-04-10T09:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"v-e3-may","payload":{"visitorName":"Vic Four","hostEmail":"ann@x.com","checkedInAt":"2026-05-10T09:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"v-case","payload":{"visitorName":"Vic Five","hostEmail":"ANN@X.COM","checkedInAt":"2026-02-11T09:00:00Z"}},
  {"type":"visitor.checked-in","event_id":"v-bad-e1","payload":{"visitorName":"Vic Six","hostEmail":"ann@x.com","checkedInAt":"2026-02-12T09:00:00Z","extra":1}},
  {"type":"visitor.checked-in","event_id":"v-bad-e3","payload":{"visitorName":"Vic Seven","hostEmail":"ann@x.com","checkedInAt":"2026-04-12T09:00:00Z","extra":1}}
]', source => 'greetly');
-- enrichment: exact match, as of each visit's time
SELECT event_id, host_email, employee_name, employee_department FROM reporting.visits ORDER BY event_id;
SELECT count(*) AS pending_outbox FROM phoenix.kafka_outbox;

ANALYZE;
SELECT count(*) > 0 AS stats_name_e1_before FROM pg_stats
 WHERE schemaname IN ('phoenix', 'phoenix_entity', 'reporting')
   AND (most_common_vals::text LIKE '%Ann Example%' OR histogram_bounds::text LIKE '%Ann Example%');

CREATE TEMP TABLE before AS SELECT * FROM pg_temp.all_rows();
SELECT phoenix.forget('employee', 'E1', reason => 'value reuse') ? 'phoenix.event_log' AS forgot;

-- what changed: only rows about E1 (E1's history and assertions, the visits
-- in E1's periods and their reporting rows, the dead letter of February)
SELECT relation, row_text ~ '(E1|v-e1|v-bad-e1|Vic (One|Two|Six)|ann.example)' AS about_e1, count(*) AS rows
  FROM (SELECT * FROM before EXCEPT ALL SELECT * FROM pg_temp.all_rows()) changed
 WHERE relation NOT IN ('phoenix.kafka_outbox')
 GROUP BY 1, 2 ORDER BY 1, 2;
-- E3's April and May visits, the case variant (not E1's under exact
-- matching, as for enrichment), E3's history and the dead letter of April:
-- every byte as before
SELECT relation, count(*) AS rows_changed_not_about_e1
  FROM (SELECT * FROM before EXCEPT ALL SELECT * FROM pg_temp.all_rows()) changed
 WHERE row_text !~ '(E1|v-e1|v-bad-e1|Vic (One|Two|Six)|ann.example)'
   AND relation NOT IN ('phoenix.kafka_outbox')
 GROUP BY 1 ORDER BY 1;
SELECT event_id, host_email, employee_name, employee_department, visitor_name LIKE 'forgotten-%' AS visitor_pseudonym
  FROM reporting.visits ORDER BY event_id;
SELECT count(*) AS e3_history_with_address FROM phoenix_entity.employee_history
 WHERE employee_id = 'E3' AND email = 'ann@x.com';
SELECT event_id, strpos(raw, 'ann@x.com') > 0 AS address_in_clear,
       raw ~ 'Vic (Six|Seven)' AS visitor_in_clear
  FROM phoenix.dead_letters ORDER BY event_id;

-- E1's values in E1's periods: nowhere (the address itself remains only in
-- rows of E3's periods and the case variant)
SELECT relation, count(*) AS rows_with_e1_values
  FROM pg_temp.all_rows()
 WHERE (strpos(row_text, 'Ann Example') > 0 OR strpos(row_text, 'ann.example@y.com') > 0
        OR strpos(row_text, 'Vic One') > 0 OR strpos(row_text, 'Vic Two') > 0 OR strpos(row_text, 'Vic Six') > 0)
 GROUP BY 1 ORDER BY 1;

-- no residue: pg_stats (re-analyzed by forget) and the pending outbox
SELECT count(*) AS stats_with_e1_name FROM pg_stats
 WHERE schemaname IN ('phoenix', 'phoenix_entity', 'reporting')
   AND (most_common_vals::text LIKE '%Ann Example%' OR histogram_bounds::text LIKE '%Ann Example%'
        OR most_common_vals::text LIKE '%ann.example@y.com%' OR histogram_bounds::text LIKE '%ann.example@y.com%');
SELECT count(*) AS outbox_rows_with_e1_values FROM phoenix.kafka_outbox
 WHERE row::text LIKE '%Ann Example%' OR row::text LIKE '%ann.example@y.com%' OR row::text LIKE '%Vic One%';
SELECT key, op FROM phoenix.kafka_outbox ORDER BY position;

-- a late visit: in E1's period it is scrubbed with E1's pseudonym (and still
-- enriched with E1, whose address is that pseudonym there); in E3's it is not
SELECT phoenix.emit('visitor.checked-in',
       '{"visitorName":"Vic Late","hostEmail":"ann@x.com","checkedInAt":"2026-02-20T09:00:00Z"}', event_id => 'v-late-e1') > 0 AS ok;
SELECT phoenix.emit('visitor.checked-in',
       '{"visitorName":"Vic Later","hostEmail":"ann@x.com","checkedInAt":"2026-04-20T09:00:00Z"}', event_id => 'v-late-e3') > 0 AS ok;
SELECT v.event_id, v.host_email = f.host_email AS same_pseudonym_as_february,
       v.host_email = 'ann@x.com' AS clear, v.employee_department
  FROM reporting.visits v, reporting.visits f
 WHERE v.event_id IN ('v-late-e1', 'v-late-e3') AND f.event_id = 'v-e1-feb' ORDER BY 1;

-- pseudonyms derive from the person: two people with one name differ
SELECT phoenix.put('employee', 'E5', '{"name":"Sam Same","email":"sam5@x.com"}', valid_from => '2026-01-01');
SELECT phoenix.put('employee', 'E6', '{"name":"Sam Same","email":"sam6@x.com"}', valid_from => '2026-01-01');
SELECT phoenix.forget('employee', 'E5') IS NOT NULL AS forgot_e5, phoenix.forget('employee', 'E6') IS NOT NULL AS forgot_e6;
SELECT count(DISTINCT name) AS distinct_pseudonyms, bool_and(name LIKE 'forgotten-%') AS pseudonyms
  FROM phoenix_entity.employee_history WHERE employee_id IN ('E5', 'E6');
-- and no function answers "what is the pseudonym of this name"
SELECT count(*) AS pseudonym_functions FROM pg_proc
 WHERE pronamespace = 'phoenix'::regnamespace AND proname IN ('forget_pseudonym', 'forget_scrub_jsonb');
-- (the publication goes: no worker keeps trying its absent broker)
SELECT phoenix.drop_publication('visits', 'visits');
