#!/usr/bin/env bash
# scripts/bench.sh — `make bench`: build, a throwaway cluster, then every
# bench/*.sh in turn.  Each prints its figures beside a baseline measured in
# the same run, as ratios.  BENCH_RUNS (default 3) repetitions; medians quoted.
#   PHOENIX_BENCH=regex   run only the benchmarks whose name matches
#   BENCH_SHARED_BUFFERS  the cluster's shared_buffers (default 1GB)
#   BENCH_HUGE_PAGES=1    as root, reserve 2 MB pages for the cluster's
#                         shared memory while it runs and require them
#                         (bench/README, series J); by default the kernel's
#                         4 kB pages, as every earlier series ran
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages
ensure_api_packages
EXTRA_COPT="-Werror" build_extension   # the flags make test builds with: no clean rebuild between them
sandbox_create
trap sandbox_destroy EXIT
PHOENIX_HUGE_PAGES=${BENCH_HUGE_PAGES:-0} PHOENIX_EXTRA_CONF="${PHOENIX_EXTRA_CONF:-}
shared_buffers = ${BENCH_SHARED_BUFFERS:-1GB}" cluster_start bench
export PHOENIX_ROOT=$PWD BENCH_RUNS=${BENCH_RUNS:-3}
filter=${PHOENIX_BENCH:-.}
for b in bench/*.sh; do
  [ -e "$b" ] || continue
  name=$(basename "$b" .sh); [[ "$name" =~ $filter ]] || continue
  log "bench: $name"
  psql_q -d postgres -c "DROP DATABASE IF EXISTS bench_$name" -c "CREATE DATABASE bench_$name"
  PGDATABASE=bench_$name bash "$b" || echo "bench $name failed (exit $?)"
done
