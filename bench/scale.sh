#!/usr/bin/env bash
# bench/scale.sh — does the cost stay flat as the data grows?
#
# Loads BENCH_SCALE_EVENTS presence events (default 10,000,000) in
# BENCH_SCALE_ROUNDS rounds (default 10) through emit_batch in batches of
# 10,000 (bound parameters, as a driver sends them) into the log and one
# projection (test/fixtures/presence_model*.sql: employee -> floor -> site,
# a derived local day), the events of each round covering the next stretch of
# 2025 in arrival order.  After each round it measures
#   ingest      the round's events per second (wall), the backend's CPU
#               per event, and the buffers backends wrote out themselves
#               meanwhile (pg_stat_bgwriter.buffers_backend: evictions the
#               background writer did not clean ahead of them);
#   late        a late department change of the employee whose 1,000 events
#               of this round arrived together: CPU per rewritten row, the
#               median of 5 changes of the same stretch (one change takes a
#               few milliseconds, and a single one varied 2x round to round);
#   1%          two floors moved to another site over the whole year (1% of
#               all rows): CPU per rewritten row;
#   emit        single-row emit latency (pgbench, one client, prepared, for
#               3 x BENCH_SECONDS: the median over its transactions), and
#               the backend's CPU and the blocks read from the kernel per
#               emit over 2,000 of them;
# (the ingest, the changes and the emits each start once no autovacuum is
# running in the database, so that they are measured alone);
#   reference   a same-time reference, interleaved with the round's ingest:
#               after every 10 of its batches, the first BENCH_SCALE_REF_EVENTS
#               (default 10,000) events of round 1 sent the same way by a
#               second session into a second database with the same set-up,
#               whose log, ids and reporting table are emptied first (and
#               never vacuumed): what an event costs on an empty store at
#               that moment.  The machine's speed swings by 40% between
#               phases of a minute or less (bench/README, series F and G); a
#               round's CPU per event divided by its reference's takes the
#               swing out and leaves what the grown tables cost (0 turns it
#               off).  The round's wall time excludes the references.
#               The late change has its own (late_reference), and the
#               ingest's CPU is also split into user and kernel time, the
#               user part beside the reference's, with a new 8 kB page's
#               kernel cost probed after each round (new_page_cost);
#   sizes       the reporting table, its indexes, the event log;
# and prints each round beside the first as a ratio.  After the first round
# it also measures, in the same run,
#   ETL         COPY of the same events into a staging table, then one
#               hand-written as-of CREATE TABLE AS with the same indexes
#               (what a user would otherwise build), beside the first round's
#               ingest (target: ingest <= 1.5x); and the same ETL on one
#               core (no parallel query or index builds), as one session uses;
#   two         the first round's batches again, into a new database with
#               the same set-up, sent by two sessions at once (both cores,
#               as the ETL's parallel workers), beside the ETL;
#   floor       the same finished rows, log rows and ids written, in arrival
#               order, into empty tables with the same indexes as COPY (and
#               Phoenix) writes them: heap_multi_insert, then each row's index
#               entries; what keeping them costs before any validation or
#               lookup;
#   REFRESH     REFRESH MATERIALIZED VIEW of the equivalent view beside the
#               1,000-row late change (target: the change >= 150x faster).
# And after every round's ingest, unless BENCH_SCALE_GROWN_FLOOR=0,
#   grown floor the round's finished rows, log rows and ids, written by COPY
#               into copies of the reporting table, a log partition and
#               phoenix.event_ids (same indexes) that grow round by round as
#               the store does: what writing the round costs PostgreSQL
#               itself at that size, before any validation or lookup; its
#               last round beside its first is the floor under the ingest
#               rate's own ratio (these copies double what the store adds to
#               the page cache, so their rounds meet the machine's cost of
#               new pages as the store's do).
# Before the first run every shared buffer is touched once (warm_shared_memory),
# and before each measured ingest, ETL and two-session load
# BENCH_SCALE_WARM_MB (default 4096, at most half the memory available; 0:
# never) of memory is written once and freed (warm_free_memory);
# BENCH_SCALE_HOLD_FREED_MS keeps it backed meanwhile where the kernel can.
# BENCH_RUNS runs (default 3), each in a new database; the table printed last
# holds the medians over runs.  BENCH_SECONDS per pgbench run (default 5);
# BENCH_SCALE_EMPLOYEES how many of the fixture's 10,000 employees the
# events name (default all; fewer: fewer (employee, time) index leaves
# taking inserts, bench/README series K); BENCH_SCALE_FILLFACTOR the projection's fillfactor (default 85, the
# default of create_projection; the late change's employee, whose rows arrive
# together, gets room by arrival pattern, series M; 50 leaves it on every
# page, as series A-L did); BENCH_SHARED_BUFFERS (scripts/bench.sh) the server's.
set -euo pipefail
runs=${BENCH_RUNS:-3}; total=${BENCH_SCALE_EVENTS:-10000000}; rounds=${BENCH_SCALE_ROUNDS:-10}
secs=${BENCH_SECONDS:-5}; per=$((total / rounds)); batch=10000
emit_secs=$((secs * 3))   # the emit latency's run: long enough for a steady median
fillfactor=${BENCH_SCALE_FILLFACTOR:-85}
warm_mb=${BENCH_SCALE_WARM_MB:-4096}
ref_events=${BENCH_SCALE_REF_EVENTS:-10000}
grown_floor=${BENCH_SCALE_GROWN_FLOOR:-1}
employees=${BENCH_SCALE_EMPLOYEES:-10000}
[[ "$employees" =~ ^[0-9]+$ ]] && [ "$employees" -ge 1 ] && [ "$employees" -le 10000 ] ||
  { echo "BENCH_SCALE_EMPLOYEES must be 1 to 10000 (the fixture's employees)" >&2; exit 1; }
clock_hz=$(getconf CLK_TCK)   # /proc/<pid>/stat's ticks per second
late_repeats=5   # the late change, done again with another department each time: the median
PSQL="$PGBIN/psql -X -q -v ON_ERROR_STOP=1"
tmp=$(mktemp -d /tmp/phoenix-bench-scale.XXXXXX); chmod 777 "$tmp"
# BENCH_SCALE_HOLD_FREED_MS: on a virtual machine with free page reporting
# whose kernel has the min_free_ms knob, keep freed memory this long before
# reporting it to the host (restored at exit), so that the memory
# warm_free_memory frees is still backed when a round's new pages take it,
# as a server's own memory is (bench/README, series F and H); unset: the
# machine as it is
hold_knob=/sys/module/page_reporting/parameters/min_free_ms; hold_old=
if [ -n "${BENCH_SCALE_HOLD_FREED_MS:-}" ] && [ -w "$hold_knob" ]; then
  hold_old=$(cat "$hold_knob"); echo "$BENCH_SCALE_HOLD_FREED_MS" > "$hold_knob"
fi
trap 'rm -rf "$tmp"; [ -z "$hold_old" ] || echo "$hold_old" > "$hold_knob"' EXIT
. "$PHOENIX_ROOT/scripts/bench_lib.sh"   # median, ratio
make -s -C "$PHOENIX_ROOT" bench/send_params >/dev/null
cp "$PHOENIX_ROOT/bench/send_params" "$tmp/"   # a copy: a build elsewhere may clean the tree meanwhile
SEND_PARAMS=$tmp/send_params
base_db=${PGDATABASE:-bench_scale}

# The backend's CPU nanoseconds so far, echoed by psql as "<tag> <ns>".
cpu_session() { printf 'SELECT pg_backend_pid() AS bpid \\gset\n\\setenv BPID :bpid\n'; }
cpu_mark() { printf '\\! echo "%s $(cut -d" " -f1 /proc/$BPID/schedstat)"\n' "$1"; }
cpu_between() { awk -v t="$1" '$1 == t "0" {a = $2} $1 == t "1" {b = $2} END {printf "%.6f\n", (b - a) / 1e9}' "$2"; }
field() { awk -F'|' -v k="$1" '$1 == k {print $2}' "$2"; }
now() { date +%s.%N; }

# each round's stretch of 2025, in seconds (the year's 360 days shared by the rounds)
round_secs=$((31104000 / rounds))

setup() {
  $PSQL -f "$PHOENIX_ROOT/test/fixtures/presence_model.sql" >/dev/null
  $PSQL >/dev/null <<SQL
SET client_min_messages = warning;
-- the employees whose 1,000 events of a round arrive together (L1, L2, ...)
SELECT count(phoenix.put('employee', 'L' || r, jsonb_build_object('department', 'DL', 'name', 'Late ' || r), '2025-01-01'))
  FROM generate_series(1, $rounds) r;
SQL
  # the fixture's projection, with the fillfactor asked for
  sed "s/derive => \(.*\));\$/derive => \1, fillfactor => $fillfactor);/" "$PHOENIX_ROOT/test/fixtures/presence_model_projection.sql" | $PSQL >/dev/null
  # the entities as autovacuum leaves them: without the dead versions their
  # loading left, which every lookup of the first round would otherwise visit
  $PSQL -c "VACUUM ANALYZE"
}

# batches <round> <file> [count] [first]: the round's events (<count> of
# them from its <first>, by default all) as JSON arrays of 10,000, one per line
batches() {
  $PSQL -At -o "$2" <<SQL
SELECT jsonb_agg(jsonb_build_object('type', 'presence.detected', 'payload', jsonb_build_object(
         'employeeId', CASE WHEN i > $per / 2 AND i <= $per / 2 + 1000 THEN 'L$1' ELSE 'E' || (i::bigint * 104729) % $employees END,
         'floorId', 'F' || (i::bigint * 7919) % 200,
         'detectedAt', to_char((timestamptz '2025-01-01 00:00:00+00'
                                + ($(( ($1 - 1) * round_secs )) + (i - 1)::float8 * $round_secs / $per + i % 97) * interval '1 second') AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS"Z"'))) ORDER BY i)
  FROM generate_series(${4:-1}, ${4:-1} + ${3:-$per} - 1) i GROUP BY (i - 1) / $batch ORDER BY (i - 1) / $batch;
SQL
}

# reference_setup: the reference's database (same set-up, never vacuumed:
# it is emptied before each reference) and its events, the first ref_events
# of round 1
reference_setup() {
  [ "$ref_events" -gt 0 ] || return 0
  $PSQL -d postgres -c "DROP DATABASE IF EXISTS ${db}_ref" -c "CREATE DATABASE ${db}_ref"
  PGDATABASE=${db}_ref setup
  batches 1 "$tmp/batches_ref" "$ref_events"
  # one pass creates the log's partition; then no table there is vacuumed
  PGDATABASE=${db}_ref "$SEND_PARAMS" 'SELECT accepted FROM phoenix.emit_batch($1)' < "$tmp/batches_ref"
  PGDATABASE=${db}_ref $PSQL <<'SQL'
SELECT format('ALTER TABLE %s SET (autovacuum_enabled = false)', c.oid::regclass)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('phoenix', 'reporting') AND c.relkind = 'r' \gexec
SQL
}

# with_reference <cmd...>: the command with the same-time reference on
with_reference() {
  if [ "$ref_events" -gt 0 ]; then
    SEND_PARAMS_REF_DB="dbname=${db}_ref" SEND_PARAMS_REF_LINES="$tmp/batches_ref" SEND_PARAMS_REF_EVERY=10 \
    SEND_PARAMS_REF_RESET="TRUNCATE reporting.presence_report, phoenix.event_log, phoenix.event_ids" "$@"
  else
    "$@"
  fi
}

# ingest <round>: "<wall s> <cpu s> <buffers written by backends> <reference
# µs of CPU per event, or ->" of emitting the round's batches
ingest() {
  local t0 t1 out w0 w1
  batches "$1" "$tmp/batches"
  warm_free_memory
  w0=$(backend_writes)
  t0=$(now)
  out=$(with_reference env SEND_PARAMS_CPU=1 "$SEND_PARAMS" 'SELECT accepted FROM phoenix.emit_batch($1)' < "$tmp/batches")
  t1=$(now)
  w1=$(backend_writes)
  if [ "$1" = 1 ]; then mv "$tmp/batches" "$tmp/batches_r1"; else rm -f "$tmp/batches"; fi
  # the last reference's events all reached its reporting table (none dead-lettered)
  if [ "$ref_events" -gt 0 ] && [ "$(echo "$out" | awk '{print $3}')" -gt 0 ]; then
    [ "$(PGDATABASE=${db}_ref $PSQL -At -c "SELECT count(*) FROM reporting.presence_report")" = "$ref_events" ] ||
      { echo "reference: not every event reached the reporting table" >&2; exit 1; }
  fi
  # with the reference: "<cpu ns> <reference cpu ns> <references> <wall ns
  # of the batches alone> <system ticks> <reference system ticks>"; prints
  # "<wall s> <cpu s> <backend writes> <reference µs/event> <system µs/event>
  # <reference user µs/event>" (- where there is no reference)
  echo "$out" | awk -v a="$t0" -v b="$t1" -v w="$((w1 - w0))" -v n="$ref_events" -v per="$per" -v hz="$clock_hz" '{
    if (NF == 6 && $3 > 0) printf "%.3f %.3f %d %.2f %.2f %.2f\n", $4 / 1e9, $1 / 1e9, w, $2 / 1e3 / ($3 * n),
                                  $5 * 1e6 / hz / per, ($2 / 1e3 - $6 * 1e6 / hz) / ($3 * n)
    else if (NF == 6) printf "%.3f %.3f %d - %.2f -\n", $4 / 1e9, $1 / 1e9, w, $5 * 1e6 / hz / per
    else printf "%.3f %.3f %d - - -\n", b - a, $1 / 1e9, w}'
}

# grown_floor_setup: the tables the grown floor writes into, empty
grown_floor_setup() {
  [ "$grown_floor" = 1 ] || return 0
  $PSQL <<SQL
CREATE TABLE grown_report (LIKE reporting.presence_report INCLUDING INDEXES) WITH (fillfactor = $fillfactor);
CREATE TABLE grown_log (LIKE phoenix.event_log); CREATE INDEX ON grown_log (position);
CREATE TABLE grown_ids (LIKE phoenix.event_ids INCLUDING INDEXES);
SQL
}

# round_start: "<time> <last log position>" before a round's ingest; every
# row the round writes was received at or after that time, at a later position
round_start() { $PSQL -At -F' ' -c "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM phoenix.event_log_position_seq)"; }

# grown_floor_round <time> <position>: "<cpu s> <wall s>" of writing the
# round's finished rows (received since <time>), log rows and ids (after
# <position>), in arrival order, into the grown floor's tables by COPY, as
# Phoenix writes them (heap_multi_insert, then each row's index entries);
# "- -" when off
grown_floor_round() {
  [ "$grown_floor" = 1 ] || { echo "- -"; return 0; }
  $PSQL <<SQL
COPY (SELECT * FROM reporting.presence_report WHERE received_at >= '$1' ORDER BY change_seq) TO '$tmp/grown_report' WITH (FORMAT binary);
COPY (SELECT * FROM phoenix.event_log WHERE received_at >= '$1' AND event_type = 'presence.detected' ORDER BY position) TO '$tmp/grown_log' WITH (FORMAT binary);
COPY (SELECT * FROM phoenix.event_ids WHERE position > $2 ORDER BY position) TO '$tmp/grown_ids' WITH (FORMAT binary);
SQL
  quiesce; warm_free_memory
  { cpu_session
    echo "SELECT 'grown_t0', extract(epoch FROM clock_timestamp());"; cpu_mark grown0
    echo "COPY grown_report FROM '$tmp/grown_report' WITH (FORMAT binary);"
    echo "COPY grown_log FROM '$tmp/grown_log' WITH (FORMAT binary);"
    echo "COPY grown_ids FROM '$tmp/grown_ids' WITH (FORMAT binary);"
    cpu_mark grown1; echo "SELECT 'grown_t1', extract(epoch FROM clock_timestamp());"
  } | $PSQL -At > "$tmp/grown"
  rm -f "$tmp/grown_report" "$tmp/grown_log" "$tmp/grown_ids"
  echo "$(cpu_between grown "$tmp/grown") $(awk -v a="$(field grown_t0 "$tmp/grown")" -v b="$(field grown_t1 "$tmp/grown")" 'BEGIN {printf "%.3f", b - a}')"
}

# new_page_cost: the kernel's CPU (µs) to write one new 8 kB page of a file
# on the data directory's file system now: 32,768 of them by dd, the file
# then removed.  On a virtual machine whose host backs memory lazily, a new
# page-cache page costs several times more once the page cache has grown
# past what the host keeps backed (bench/README, series H): the machine's
# price for a store that grows, paid in the backend's system time by
# whichever process first writes the page.
new_page_cost() {
  local f s
  f="$(dirname "$($PSQL -At -c 'SHOW data_directory')")/phoenix-bench-pagecost.$$"
  s=$( { TIMEFORMAT=%3S; time dd if=/dev/zero of="$f" bs=8k count=32768 status=none; } 2>&1 )
  rm -f "$f"
  awk -v s="$s" 'BEGIN {printf "%.1f", s * 1e6 / 32768}'
}

# backend_writes: buffers written out by backends themselves so far (to make
# room for a page: a write the background writer did not do ahead of them)
backend_writes() { $PSQL -At -c "SELECT buffers_backend FROM pg_stat_bgwriter"; }

# changes <round> <out>: the late change and the 1% change in one warm session
changes() {
  local r=$1 f1=$((40 + 2 * ($1 % 80))) f2=$((41 + 2 * ($1 % 80)))
  { cpu_session; late_changes "$r"; cat <<SQL
SELECT 'onepct_rows', count(*) FROM reporting.presence_report WHERE floor_id IN ('F$f1', 'F$f2');
$(cpu_mark onepct0)
SELECT count(phoenix.put('floor', f, jsonb_build_object('site_id', 'S' || (1 + ($r * 7) % 19)), '2025-01-01'))
  FROM unnest(ARRAY['F$f1', 'F$f2']) f;
$(cpu_mark onepct1)
SELECT 'rows', count(*) FROM reporting.presence_report;
SELECT 'heap_mb', pg_relation_size('reporting.presence_report') / 1048576;
SELECT 'index_mb', pg_indexes_size('reporting.presence_report') / 1048576;
SELECT 'log_mb', sum(pg_total_relation_size(inhrelid)) / 1048576 FROM pg_inherits WHERE inhparent = 'phoenix.event_log'::regclass;
SELECT 'ids_mb', pg_total_relation_size('phoenix.event_ids') / 1048576;
SQL
  } | $PSQL -At > "$2"
  # the late change's figures: medians over its repeats
  awk '/^Time:/ {printf "%.6f\n", $2 / 1000}' "$2" | median | awk '{printf "late_wall|%s\n", $1}' >> "$2"
  for k in $(seq "$late_repeats"); do cpu_between "late$k" "$2"; done | median | awk '{printf "late_cpu|%s\n", $1}' >> "$2"
}

# late_reference <round> <out>: the late change's same-time reference.  The
# reference's database emptied, only the round's 1,000 events of L<round>
# sent into it, then the same changes as the round's late change, in a warm
# session: what rewriting those rows costs beside an empty store at that
# moment (the medians' CPU per row, "late_ref_cpu|<s>").  The late change
# moved 3.4-10.1 µs per row from round to round in series G, most of it
# between rounds, not within one (bench/README).  Printed beside it, not
# used for the bar: in series H and I this reference itself was bimodal
# (about 3.7 or 6-7 µs per row for the same rows).
late_reference() {
  local r=$1 first=$((per / 2 + 1))
  PGDATABASE=${db}_ref $PSQL -c "TRUNCATE reporting.presence_report, phoenix.event_log, phoenix.event_ids"
  batches "$r" "$tmp/batches_late" 1000 "$first"
  PGDATABASE=${db}_ref "$SEND_PARAMS" 'SELECT accepted FROM phoenix.emit_batch($1)' < "$tmp/batches_late" >/dev/null
  rm -f "$tmp/batches_late"
  { cpu_session; late_changes "$r"; } | PGDATABASE=${db}_ref $PSQL -At > "$2"
  [ "$(field late_rows "$2")" = 1000 ] || { echo "round $r: the reference's late change rewrote $(field late_rows "$2") rows" >&2; exit 1; }
  for k in $(seq "$late_repeats"); do cpu_between "late$k" "$2"; done | median | awk '{printf "late_ref_cpu|%s\n", $1}' >> "$2"
}

# late_changes <round>: a warm session's statements for the late change,
# repeated late_repeats times with another department each time, each
# between CPU marks late<k>0 and late<k>1 and timed, then the rows the last
# one rewrote ("late_rows|<n>")
late_changes() {
  local r=$1 k
  echo "SET client_min_messages = warning;"
  echo "-- warm the session as a writer's long-lived connection would be"
  echo "SELECT phoenix.put('employee', 'E1', jsonb_build_object('department', 'Warm$r'), '2025-01-01');"
  for k in $(seq "$late_repeats"); do
    cpu_mark "late$k"0
    printf '\\timing on\n'
    echo "SELECT phoenix.put('employee', 'L$r', jsonb_build_object('department', 'Moved$r.$k'),
                   timestamptz '2025-01-01 00:00:00+00' + interval '$(( (r - 1) * round_secs )) seconds',
                   timestamptz '2025-01-01 00:00:00+00' + interval '$(( r * round_secs )) seconds');"
    printf '\\timing off\n'
    cpu_mark "late$k"1
  done
  echo "SELECT 'late_rows', count(*) FROM reporting.presence_report WHERE employee_id = 'L$r' AND employee_department = 'Moved$r.$late_repeats';"
}

# quiesce: wait (up to 5 minutes) until no autovacuum works in this
# database, so that what follows is measured alone on the 2-core machine; an
# autovacuum's ANALYZE counts too: its snapshot holds back the pruning of
# rows a late change has just replaced, so the next change finds no room on
# their pages (series M)
quiesce() {
  local i
  for i in $(seq 300); do
    [ "$($PSQL -At -c "SELECT (SELECT count(*) FROM pg_stat_progress_vacuum WHERE datname = current_database())
                            + (SELECT count(*) FROM pg_stat_progress_analyze WHERE datname = current_database())")" = 0 ] && return
    sleep 1
  done
}

# emit_cpu <round>: "<µs> <blocks read>" per single-row emit: the backend's
# CPU over 2,000 emits of a prepared statement in one session (the latency
# less any wait for a CPU, which a shared machine adds), and the blocks the
# database read from the kernel meanwhile (shared_buffers' misses;
# autovacuum is idle: quiesce), from the statistics flushed before and
# after.  (Not the buffers backends wrote out: pg_stat_bgwriter counts those
# when the checkpointer absorbs their requests, long after a 0.3 s window.)
emit_cpu() {
  local io='SELECT pg_stat_force_next_flush() \g /dev/null
SELECT 1 \g /dev/null
SELECT %s || (SELECT blks_read FROM pg_stat_database WHERE datname = current_database());\n'
  { cpu_session
    echo "PREPARE emit_one(text, text, timestamptz) AS SELECT phoenix.emit('presence.detected',"
    echo "  jsonb_build_object('employeeId', \$1, 'floorId', \$2, 'detectedAt', \$3));"
    echo "EXECUTE emit_one('E1', 'F1', '2025-01-01') \\g /dev/null"     # the session's caches filled
    printf "$io" "'emit_io0|'"
    cpu_mark emit0
    awk -v t="$(( $1 * round_secs - 3600 ))" 'BEGIN {srand(7); for (i = 0; i < 2000; i++)
      printf "EXECUTE emit_one(%cE%d%c, %cF%d%c, timestamptz %c2025-01-01 00:00:00+00%c + interval %c%d seconds%c) \\g /dev/null\n",
             39, int(rand() * 10000), 39, 39, int(rand() * 200), 39, 39, 39, 39, t, 39}'
    cpu_mark emit1
    printf "$io" "'emit_io1|'"; } | $PSQL -At > "$tmp/emit_cpu"
  awk -F'|' -v c="$(cpu_between emit "$tmp/emit_cpu")" '$1 == "emit_io0" {r = $2} $1 == "emit_io1" {r = $2 - r}
    END {printf "%.1f %.3f\n", c * 1e6 / 2000, r / 2000}' "$tmp/emit_cpu"
}

# emit_latency <round>: the median and the average latency (ms) of a
# single-row emit over one pgbench run (its per-transaction log): the median,
# which a neighbour's burst on the shared machine moves least, is the figure
# compared between rounds
emit_latency() {
  cat > "$tmp/emit.sql" <<SQL
\\set e random(0, 9999)
\\set f random(0, 199)
SELECT phoenix.emit('presence.detected', jsonb_build_object('employeeId', 'E' || :e, 'floorId', 'F' || :f,
       'detectedAt', (timestamptz '2025-01-01 00:00:00+00' + interval '$(( $1 * round_secs - 3600 )) seconds')));
SQL
  rm -f "$tmp"/emitlog*
  "$PGBIN/pgbench" -n -c 1 -j 1 -T "$emit_secs" -M prepared -f "$tmp/emit.sql" -l --log-prefix="$tmp/emitlog" >/dev/null 2>&1
  # per transaction: client, number, latency (µs), script, epoch, µs
  awk '{printf "%.4f\n", $3 / 1000}' "$tmp"/emitlog* | median | tr '\n' ' '
  awk '{s += $3; n++} END {printf "%.4f\n", s / n / 1000}' "$tmp"/emitlog*
}

# two_sessions: "<wall s> <cpu s>" of the first round's batches sent again,
# into a new database with the same set-up, by two sessions at once (every
# other batch each), as two loaders or a subscription with two workers would:
# ingest on both cores, as the batch ETL's parallel workers use both
two_sessions() {
  local t0 t1
  $PSQL -d postgres -c "DROP DATABASE IF EXISTS ${db}_two" -c "CREATE DATABASE ${db}_two"
  PGDATABASE=${db}_two setup
  awk 'NR % 2 == 1' "$tmp/batches_r1" > "$tmp/batches_a"; awk 'NR % 2 == 0' "$tmp/batches_r1" > "$tmp/batches_b"
  warm_free_memory
  t0=$(now)
  PGDATABASE=${db}_two SEND_PARAMS_CPU=1 "$SEND_PARAMS" 'SELECT accepted FROM phoenix.emit_batch($1)' < "$tmp/batches_a" > "$tmp/cpu_a" &
  PGDATABASE=${db}_two SEND_PARAMS_CPU=1 "$SEND_PARAMS" 'SELECT accepted FROM phoenix.emit_batch($1)' < "$tmp/batches_b" > "$tmp/cpu_b"
  wait
  t1=$(now)
  [ "$($PSQL -d "${db}_two" -At -c "SELECT count(*) FROM reporting.presence_report")" = "$per" ] ||
    { echo "two sessions: not every event reached the reporting table" >&2; exit 1; }
  $PSQL -d postgres -c "DROP DATABASE ${db}_two"
  rm -f "$tmp"/batches_a "$tmp"/batches_b "$tmp/batches_r1"
  awk -v a="$t0" -v b="$t1" -v c="$(cat "$tmp/cpu_a")" -v d="$(cat "$tmp/cpu_b")" 'BEGIN {printf "%.3f %.3f\n", b - a, (c + d) / 1e9}'
}

# etl_staging: the batch ETL's staging table and its as-of view over it
etl_staging() {
  cat <<SQL
SET client_min_messages = warning;
CREATE TABLE staging (event_id text, event_type text, payload jsonb, effective_at timestamptz, received_at timestamptz);
\set view staging_asof
\set source staging
\i $PHOENIX_ROOT/test/fixtures/presence_model_asof.sql
SQL
}

# etl_sql <tag>: the batch ETL itself, between the marks <tag>_t0/<tag>0 and
# <tag>1/<tag>_t1: COPY into staging, one as-of CREATE TABLE AS, then the
# reporting table's own indexes on the hand-built table
etl_sql() {
  echo "SELECT '$1_t0', extract(epoch FROM clock_timestamp());"; cpu_mark "${1}0"
  cat <<SQL
COPY staging FROM '$tmp/events.csv' WITH (FORMAT csv);
CREATE TABLE hand AS SELECT *, now() AS updated_at, 0::bigint AS change_seq FROM staging_asof;
SQL
  $PSQL -At -c "SELECT replace(pg_get_indexdef(indexrelid), 'reporting.presence_report', 'public.hand') || ';'
                  FROM pg_index WHERE indrelid = 'reporting.presence_report'::regclass" | sed 's/INDEX [^ ]* ON/INDEX ON/'
  cpu_mark "${1}1"; echo "SELECT '$1_t1', extract(epoch FROM clock_timestamp());"
}

# etl_and_refresh <out>: after the first round, the batch-ETL alternative and
# REFRESH of the equivalent materialized view, each in one session
etl_and_refresh() {
  $PSQL -c "COPY (SELECT event_id, event_type, payload, effective_at, received_at FROM phoenix.event_log
                   WHERE event_type = 'presence.detected' ORDER BY position) TO '$tmp/events.csv' WITH (FORMAT csv)"
  warm_free_memory
  { cpu_session; etl_staging
    cat <<SQL
\set view presence_asof
\set source phoenix.event_log
\i $PHOENIX_ROOT/test/fixtures/presence_model_asof.sql
SQL
    etl_sql etl
    # the floor under incremental upkeep: the same finished rows written in
    # arrival order into an empty copy of the reporting table with its
    # indexes, as Phoenix writes them and COPY does (heap_multi_insert, then
    # each row's entry in every index), read from a binary file
    echo "CREATE TABLE floor_copy (LIKE reporting.presence_report INCLUDING INDEXES) WITH (fillfactor = $fillfactor);"
    echo "COPY (SELECT * FROM reporting.presence_report ORDER BY change_seq) TO '$tmp/floor_rows' WITH (FORMAT binary);"
    echo "SELECT 'floor_t0', extract(epoch FROM clock_timestamp());"; cpu_mark floor0
    echo "COPY floor_copy FROM '$tmp/floor_rows' WITH (FORMAT binary);"
    cpu_mark floor1; echo "SELECT 'floor_t1', extract(epoch FROM clock_timestamp());"
    # and under the log: the same events with their positions and ids into
    # tables shaped like a log partition and phoenix.event_ids, with their indexes
    echo "CREATE TABLE log_floor (LIKE phoenix.event_log); CREATE INDEX ON log_floor (position);"
    echo "CREATE TABLE ids_floor (LIKE phoenix.event_ids INCLUDING INDEXES);"
    echo "COPY (SELECT * FROM phoenix.event_log WHERE event_type = 'presence.detected' ORDER BY position) TO '$tmp/log_rows' WITH (FORMAT binary);"
    echo "COPY (SELECT i.* FROM phoenix.event_ids i JOIN phoenix.event_log l USING (position)
               WHERE l.event_type = 'presence.detected' ORDER BY position) TO '$tmp/ids_rows' WITH (FORMAT binary);"
    echo "SELECT 'logfloor_t0', extract(epoch FROM clock_timestamp());"; cpu_mark logfloor0
    echo "COPY log_floor FROM '$tmp/log_rows' WITH (FORMAT binary); COPY ids_floor FROM '$tmp/ids_rows' WITH (FORMAT binary);"
    cpu_mark logfloor1; echo "SELECT 'logfloor_t1', extract(epoch FROM clock_timestamp());"
    cat <<'SQL'
DROP TABLE hand, floor_copy, log_floor, ids_floor;
CREATE MATERIALIZED VIEW presence_mv AS SELECT * FROM presence_asof;
SQL
    cpu_mark refresh0; echo '\timing on'
    echo "REFRESH MATERIALIZED VIEW presence_mv;"
    echo '\timing off'; cpu_mark refresh1
    echo "DROP MATERIALIZED VIEW presence_mv; DROP VIEW presence_asof, staging_asof; DROP TABLE staging;"
  } | $PSQL -At > "$1"
  awk '/^Time:/ {printf "refresh_wall|%.6f\n", $2 / 1000}' "$1" >> "$1"
  rm -f "$tmp/floor_rows" "$tmp/log_rows" "$tmp/ids_rows"
}

# etl_one_core <out>: the same batch ETL on one core (no parallel query, no
# parallel index builds), beside one session's ingest, which uses one; the
# default ETL uses both cores, as two ingesting sessions do
etl_one_core() {
  warm_free_memory
  { cpu_session; etl_staging
    echo "SET max_parallel_workers_per_gather = 0; SET max_parallel_maintenance_workers = 0;"
    etl_sql etl
    echo "DROP TABLE hand; DROP VIEW staging_asof; DROP TABLE staging;"
  } | $PSQL -At > "$1"
  rm -f "$tmp/events.csv"
}

# warm_shared_memory: every shared buffer touched once, as on a server that
# has run for a while.  A new cluster's shared memory is allocated by the
# kernel page by page as buffers are first used; the first round's ingest
# would pay for that (a sixth of its CPU in a profile), the ETL after it not.
warm_shared_memory() {
  $PSQL -d postgres <<SQL
SET client_min_messages = warning;
CREATE UNLOGGED TABLE warm (i int, pad text) WITH (fillfactor = 10);
-- a plain INSERT (no bulk-write ring): about 8 rows per page, 1.25 pages per buffer
INSERT INTO warm SELECT i, repeat('w', 60) FROM generate_series(1, 10 * (SELECT setting::int FROM pg_settings WHERE name = 'shared_buffers')) i;
DROP TABLE warm;
SQL
}

# warm_free_memory: memory the kernel hands out next, written once and freed
# (a file in tmpfs), just before a measured phase.  On a virtual machine
# whose host takes freed guest memory back (virtio-balloon free page
# reporting, as on the machines this was measured on) a page handed out
# again costs a fault on the host, which shows as system time in whichever
# process touches it first: the backend extending a table, whose new pages
# enter the page cache.  About 3 GB of new file pages after a freed stretch
# cost 5 µs per 8 kB to write, every page beyond them 27 µs (dd, bench/
# README), so a round that needs fresh pages beyond what an earlier round
# left would pay the machine's memory, not PostgreSQL's or Phoenix's work.
# A server's memory stays with it; this gives the start of every measured
# phase that footing.  It cannot hold through a 30-second load while the
# host keeps taking freed memory back (bench/README, series F).
warm_free_memory() {
  local mb f=/dev/shm/phoenix-bench-warm.$$
  mb=$(awk -v w="$warm_mb" '/^MemAvailable:/ {a = int($2 / 2048); print (w < a ? w : a)}' /proc/meminfo)
  [ "${mb:-0}" -gt 0 ] && [ -d /dev/shm ] || return 0
  dd if=/dev/zero of="$f" bs=1M count="$mb" status=none 2>/dev/null || true
  rm -f "$f"
}

warm_shared_memory
reporting=; [ -r /sys/module/page_reporting/parameters/reported_kib ] && reporting=" (this machine returns freed memory to its host: free page reporting)"
[ -n "$hold_old" ] && reporting="$reporting, freed memory held for $(cat "$hold_knob") ms before it is reported"
if [ "$warm_mb" -gt 0 ]; then
  echo "bench/scale: before each measured load up to $warm_mb MB of memory written once and freed$reporting"
else
  echo "bench/scale: memory not warmed before measured loads (BENCH_SCALE_WARM_MB=0)$reporting"
fi
echo "bench/scale: $total events naming $employees employees in $rounds rounds, $runs run(s); shared_buffers $($PSQL -At -c 'SHOW shared_buffers'), the projection's fillfactor $fillfactor"
for run in $(seq "$runs"); do
  db="${base_db}_run$run"
  $PSQL -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  export PGDATABASE=$db
  setup
  reference_setup
  grown_floor_setup
  for r in $(seq "$rounds"); do
    # each round's ingest also starts once autovacuum is idle: the
    # insert-driven vacuums of the log and the reporting table fall on the
    # same rounds in every run, and on a 2-core machine they slow the
    # ingesting backend's CPU too (they share the cores' caches)
    quiesce; read -r start_time start_position < <(round_start)
    read -r wall cpu bwrites ref sys ref_user < <(ingest "$r")
    page_us=$(new_page_cost)
    read -r grown_cpu grown_wall < <(grown_floor_round "$start_time" "$start_position")
    # the tables the round grew analysed now, so that no autovacuum ANALYZE
    # (whose snapshot holds back pruning: quiesce) falls on the changes
    $PSQL -c "ANALYZE reporting.presence_report, phoenix.event_log, phoenix.event_ids"
    quiesce; changes "$r" "$tmp/changes"
    late_ref=-; late_rel=-
    if [ "$ref_events" -gt 0 ]; then
      late_reference "$r" "$tmp/late_ref"
      late_ref=$(awk -v c="$(field late_ref_cpu "$tmp/late_ref")" 'BEGIN {printf "%.2f", c * 1e6 / 1000}')
      late_rel=$(awk -v a="$(field late_cpu "$tmp/changes")" -v b="$(field late_ref_cpu "$tmp/late_ref")" 'BEGIN {printf "%.3f", a / b}')
    fi
    quiesce; read -r lat lat_avg < <(emit_latency "$r"); read -r ecpu ereads < <(emit_cpu "$r")
    late_rows=$(field late_rows "$tmp/changes"); one_rows=$(field onepct_rows "$tmp/changes")
    [ "$late_rows" = 1000 ] || { echo "round $r: the late change rewrote $late_rows rows, not 1000" >&2; exit 1; }
    printf '%s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s\n' "$run" "$r" "$(field rows "$tmp/changes")" \
      "$(awk -v w="$wall" -v n="$per" 'BEGIN {printf "%d", n / w}')" \
      "$(awk -v c="$cpu" -v n="$per" 'BEGIN {printf "%.2f", c * 1e6 / n}')" \
      "$(awk -v c="$(field late_cpu "$tmp/changes")" 'BEGIN {printf "%.2f", c * 1e6 / 1000}')" \
      "$(awk -v c="$(field late_wall "$tmp/changes")" 'BEGIN {printf "%.2f", c * 1e6 / 1000}')" \
      "$(awk -v c="$(cpu_between onepct "$tmp/changes")" -v n="$one_rows" 'BEGIN {printf "%.2f", c * 1e6 / n}')" \
      "$one_rows" "$lat" \
      "$(field heap_mb "$tmp/changes")" "$(field index_mb "$tmp/changes")" "$(field log_mb "$tmp/changes")" "$ecpu" "$lat_avg" "$bwrites" \
      "$ref" "$(awk -v c="$cpu" -v n="$per" -v f="$ref" 'BEGIN {if (f == "-") print "-"; else printf "%.3f", c * 1e6 / n / f}')" \
      "$late_ref" "$late_rel" "$sys" \
      "$(awk -v c="$cpu" -v n="$per" -v k="$sys" 'BEGIN {if (k == "-") print "-"; else printf "%.2f", c * 1e6 / n - k}')" "$ref_user" \
      "$(awk -v c="$cpu" -v n="$per" -v k="$sys" -v f="$ref_user" 'BEGIN {if (f == "-") print "-"; else printf "%.3f", (c * 1e6 / n - k) / f}')" \
      "$page_us" \
      "$(awk -v c="$grown_cpu" -v n="$per" 'BEGIN {if (c == "-") print "-"; else printf "%.2f", c * 1e6 / n}')" \
      "$(awk -v w="$grown_wall" -v n="$per" 'BEGIN {if (w == "-") print "-"; else printf "%d", n / w}')" \
      "$(awk -v c="$cpu" -v f="$grown_cpu" 'BEGIN {if (f == "-") print "-"; else printf "%.3f", c / f}')" \
      "$ereads" >> "$tmp/rounds"
    tail -1 "$tmp/rounds" | awk '{printf "run %d round %2d: %9d rows  ingest %6d ev/s (%5.1f µs CPU/ev, %d buffers written by backends; reference %s µs: %sx; of it %s µs in the kernel, user %s µs against the reference'"'"'s %s µs: %sx; a new 8 kB page %s µs; grown floor %s µs CPU/ev, %s ev/s, ingest CPU / floor %sx)  late %6.1f µs CPU/row (%6.1f wall; reference %s µs: %sx)  1%% %5.1f µs CPU/row (%d rows)  emit %s ms median, %s average (%s µs CPU; %s blocks read per emit)  table %d MB + indexes %d MB, log %d MB\n", $1, $2, $3, $4, $5, $16, $17, $18, $21, $22, $23, $24, $25, $26, $27, $28, $6, $7, $19, $20, $8, $9, $10, $15, $14, $29, $11, $12, $13}'
    if [ "$r" = 1 ]; then
      etl_and_refresh "$tmp/etl"
      etl_one_core "$tmp/etl1"
      etl_wall=$(awk -v a="$(field etl_t0 "$tmp/etl")" -v b="$(field etl_t1 "$tmp/etl")" 'BEGIN {printf "%.3f", b - a}')
      floor_wall=$(awk -v a="$(field floor_t0 "$tmp/etl")" -v b="$(field floor_t1 "$tmp/etl")" -v c="$(field logfloor_t0 "$tmp/etl")" -v d="$(field logfloor_t1 "$tmp/etl")" 'BEGIN {printf "%.3f", b - a + d - c}')
      read -r two_wall two_cpu < <(two_sessions)
      echo "$run $wall $cpu $etl_wall $(cpu_between etl "$tmp/etl") $(field refresh_wall "$tmp/etl") $(cpu_between refresh "$tmp/etl") $(field late_wall "$tmp/changes") $(field late_cpu "$tmp/changes") $floor_wall $(awk -v a="$(cpu_between floor "$tmp/etl")" -v b="$(cpu_between logfloor "$tmp/etl")" 'BEGIN {printf "%.3f", a + b}') $two_wall $two_cpu \
        $(awk -v a="$(field etl_t0 "$tmp/etl1")" -v b="$(field etl_t1 "$tmp/etl1")" 'BEGIN {printf "%.3f", b - a}') $(cpu_between etl "$tmp/etl1")" >> "$tmp/first"
      tail -1 "$tmp/first" | awk '{printf "run %d at %d events: ingest + projection %.1f s (CPU %.1f s) vs COPY + as-of CREATE TABLE AS + indexes %.1f s (CPU %.1f s): %.2fx (CPU %.2fx);  two sessions %.1f s (CPU %.1f s): %.2fx;  the ETL on one core %.1f s (CPU %.1f s), one session against it %.2fx;  floor: the finished rows and the log rows written with their indexes %.1f s (CPU %.1f s) = %.2fx the ETL;  REFRESH %.2f s (CPU %.2f s) vs the 1,000-row change %.4f s (CPU %.4f s): %.0fx faster (CPU %.0fx)\n",
        $1, '"$per"', $2, $3, $4, $5, $2 / $4, $3 / $5, $12, $13, $12 / $4, $14, $15, $2 / $14, $10, $11, $10 / $4, $6, $7, $8, $9, $6 / $8, $7 / $9}'
    fi
  done
  $PSQL -d postgres -c "DROP DATABASE $db" -c "DROP DATABASE IF EXISTS ${db}_ref"
done

# medians over runs, each round beside the first
med() { awk -v r="$1" -v c="$2" '$2 == r {print $c}' "$tmp/rounds" | median; }
echo
echo "medians of $runs run(s); ratio = this round / round 1"
# a round's ingest CPU per event over its same-time reference's
# (the ingest's, column 18; the late change's, column 20)
rel() { printf '%9s %6s' "$(med "$1" "$2")" "$(ratio "$(med "$1" "$2")" "$(med 1 "$2")")x"; }
# with a reference: the ingest's and the late change's ratios to it, the
# user CPU's, the kernel's µs per event and a new page's cost
ref_columns() {
  [ "$ref_events" -gt 0 ] || return 0
  printf '%s   %s   %s   %s   %s' "$(rel "$1" 18)" "$(rel "$1" 20)" "$(rel "$1" 24)" "$(rel "$1" 21)" "$(rel "$1" 25)"
}
# with the grown floor: its CPU per event, its rate and the ingest's CPU over it
floor_columns() {
  [ "$grown_floor" = 1 ] || return 0
  printf '   %s   %s   %s' "$(rel "$1" 26)" "$(rel "$1" 27)" "$(rel "$1" 28)"
}
printf '%-6s %10s %16s %16s %18s %16s %16s %16s %18s %16s\n' round rows "ingest ev/s" "ingest µs CPU" "late µs CPU/row" "1% µs CPU/row" "emit ms (p50)" "emit µs CPU" "table+idx MB" \
  "$([ "$ref_events" -gt 0 ] && echo "ingest CPU / reference   late CPU / reference   user CPU / reference   kernel µs/ev   new page µs")$([ "$grown_floor" = 1 ] && echo "   grown floor µs CPU/ev   grown floor ev/s   ingest CPU / floor")"
for r in $(seq "$rounds"); do
  printf '%-6s %10s %9s %6s %9s %6s %11s %6s %9s %6s %9s %6s %9s %6s %18s %s\n' "$r" "$(med "$r" 3)" \
    "$(med "$r" 4)" "$(ratio "$(med "$r" 4)" "$(med 1 4)")x" "$(med "$r" 5)" "$(ratio "$(med "$r" 5)" "$(med 1 5)")x" \
    "$(med "$r" 6)" "$(ratio "$(med "$r" 6)" "$(med 1 6)")x" "$(med "$r" 8)" "$(ratio "$(med "$r" 8)" "$(med 1 8)")x" \
    "$(med "$r" 10)" "$(ratio "$(med "$r" 10)" "$(med 1 10)")x" "$(med "$r" 14)" "$(ratio "$(med "$r" 14)" "$(med 1 14)")x" \
    "$(med "$r" 11)+$(med "$r" 12)" "$(ref_columns "$r")$(floor_columns "$r")"
done
fm() { awk -v c="$1" '{print $c}' "$tmp/first" | median; }
echo "at $per events: ingest + projection $(fm 2) s vs batch ETL $(fm 4) s: $(ratio "$(fm 2)" "$(fm 4)")x (CPU $(ratio "$(fm 3)" "$(fm 5)")x)   (target <= 1.5)"
echo "at $per events: the same ingest by two sessions at once $(fm 12) s: $(ratio "$(fm 12)" "$(fm 4)")x the batch ETL (both use both cores)"
echo "at $per events: one session $(fm 2) s vs the batch ETL on one core $(fm 14) s: $(ratio "$(fm 2)" "$(fm 14)")x (each uses one core)"
echo "at $per events: floor under it: writing the finished rows and the log rows with their indexes $(fm 10) s = $(ratio "$(fm 10)" "$(fm 4)")x the ETL (CPU $(ratio "$(fm 11)" "$(fm 5)")x)"
echo "at $per events: REFRESH $(fm 6) s vs the 1,000-row change $(fm 8) s: $(ratio "$(fm 6)" "$(fm 8)")x faster (CPU $(ratio "$(fm 7)" "$(fm 9)")x)   (target >= 150)"
echo "last round vs first: ingest rate $(ratio "$(med "$rounds" 4)" "$(med 1 4)")x (target >= 0.9), late change per row $(ratio "$(med "$rounds" 6)" "$(med 1 6)")x (target <= 1.3), emit latency (median) $(ratio "$(med "$rounds" 10)" "$(med 1 10)")x, average $(ratio "$(med "$rounds" 15)" "$(med 1 15)")x, its CPU $(ratio "$(med "$rounds" 14)" "$(med 1 14)")x (target <= 1.2); blocks read per emit $(med 1 29) -> $(med "$rounds" 29)"
if [ "$ref_events" -gt 0 ]; then
  echo "last round vs first against the same-time reference (the machine's phase taken out): ingest CPU per event $(ratio "$(med "$rounds" 18)" "$(med 1 18)")x, as a rate $(ratio "$(med 1 18)" "$(med "$rounds" 18)")x (target >= 0.9); late change CPU per row $(ratio "$(med "$rounds" 20)" "$(med 1 20)")x (printed only: that reference proved bimodal)"
  echo "  of the ingest: user CPU per event against the reference's $(ratio "$(med "$rounds" 24)" "$(med 1 24)")x; the kernel's part $(med 1 21) -> $(med "$rounds" 21) µs per event, while a new 8 kB page cost the kernel $(med 1 25) -> $(med "$rounds" 25) µs (dd)"
fi
if [ "$grown_floor" = 1 ]; then
  echo "last round vs first, the grown floor (the round's finished rows, log rows and ids written by COPY into tables grown alike): its rate $(ratio "$(med "$rounds" 27)" "$(med 1 27)")x, its CPU per event $(ratio "$(med "$rounds" 26)" "$(med 1 26)")x; the ingest's CPU over the floor's $(med 1 28) -> $(med "$rounds" 28) ($(ratio "$(med "$rounds" 28)" "$(med 1 28)")x)"
fi
