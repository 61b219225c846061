# scripts/lib.sh — shared shell helpers for make demo / make test / make bench.
#
# A throwaway PostgreSQL 15 cluster with Phoenix installed into a *private copy*
# of the server's install tree (a "sandbox"), so that several checkouts can
# build and test at once without overwriting each other's phoenix.so, and the
# system install is only touched when asked (make install).
#
# Usage (sourced):  sandbox_create; cluster_start; ... ; cluster_stop
# Exports PGHOST PGPORT PGUSER PGDATABASE and PHOENIX_SANDBOX, PGBIN.

PG_MAJOR=15
SYS_PGLIB=/usr/lib/postgresql/$PG_MAJOR
SYS_PGSHARE=/usr/share/postgresql/$PG_MAJOR
PHOENIX_PACKAGES=(make gcc postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR
  postgresql-$PG_MAJOR-cron postgresql-$PG_MAJOR-pgtap libtap-parser-sourcehandler-pgtap-perl
  librdkafka-dev kcat libical-dev clang libclang-rt-dev)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as the postgres OS user (PostgreSQL refuses to run as root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Install whatever Debian packages are missing (needs root on a fresh machine).
ensure_packages() {
  local missing=() p
  for p in "${PHOENIX_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]} (run as root, or apt-get install them)"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian creates and starts a default cluster; we never use it.
  if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q "^$PG_MAJOR main"; then
    pg_ctlcluster $PG_MAJOR main stop >/dev/null 2>&1 || true
  fi
}

# The Universal API's npm dependencies (api/: PostGraphile), from the
# committed lockfile.  Skipped when api/node_modules already matches the
# lockfile; --prefer-offline takes packages from npm's cache when it has
# them, so a machine offline after the first install still gets through
# (api/.npmrc keeps the registry URLs in the lockfile, which `npm ci` needs
# to find cached packages).  Node.js itself: Debian's nodejs and npm where
# neither is installed (the machines carry NodeSource's nodejs, npm included).
ensure_api_packages() {
  local api=$PWD/api   # scripts run from the repository root
  if ! command -v npm >/dev/null; then
    [ "$(id -u)" = 0 ] || die "missing Node.js and npm (apt-get install nodejs npm)"
    log "installing nodejs npm"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  if [ -f "$api/node_modules/.package-lock.json" ] &&
     [ ! "$api/package-lock.json" -nt "$api/node_modules/.package-lock.json" ]; then
    return 0
  fi
  log "installing the API's npm packages (npm ci in api/)"
  (cd "$api" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null) ||
    die "npm ci in api/ failed"
}

# Build the extension.  EXTRA_COPT lets make test add -Werror;
# PHOENIX_SANITIZE=1 builds with UBSan (undefined behaviour: overflow,
# misaligned or null access, bad shifts, out-of-bounds array indexes).  The
# flags of the last build are kept in .build-flags so a change of flags
# rebuilds everything instead of mixing objects.  (AddressSanitizer needs its
# runtime preloaded into the postmaster, and preloaded it deadlocks in glibc's
# bindtextdomain when the server starts as user postgres on this platform;
# use valgrind for memory errors.)
build_extension() {
  local copt=${EXTRA_COPT:-}
  [ -n "${PHOENIX_SANITIZE:-}" ] && copt="$copt -fsanitize=undefined -fno-omit-frame-pointer"
  if [ "$(cat .build-flags 2>/dev/null)" != "$copt" ]; then
    make -s clean >/dev/null 2>&1 || true
    printf '%s' "$copt" >.build-flags
  fi
  log "building phoenix${PHOENIX_SANITIZE:+ (UBSan)}"
  make -s -j2 COPT="$copt" >/dev/null || die "build failed"
}

# Environment for the server under PHOENIX_SANITIZE: reports go to the
# server log (with a stack), where make test looks for them.
sanitizer_env() {
  [ -n "${PHOENIX_SANITIZE:-}" ] || return 0
  printf '%s\n' "UBSAN_OPTIONS=print_stacktrace=1"
}

# Copy the server install tree into $PHOENIX_SANDBOX and install Phoenix there.
# PostgreSQL's binaries are relocatable: they find lib/ and share/ relative to
# their own path, so the copy behaves like a full install of its own.
sandbox_create() {
  PHOENIX_SANDBOX=${PHOENIX_SANDBOX:-$(mktemp -d /tmp/phoenix-sandbox.XXXXXX)}
  export PHOENIX_SANDBOX
  chmod 755 "$PHOENIX_SANDBOX"
  mkdir -p "$PHOENIX_SANDBOX/usr/lib/postgresql" "$PHOENIX_SANDBOX/usr/share/postgresql"
  rm -rf "$PHOENIX_SANDBOX/usr/lib/postgresql/$PG_MAJOR" "$PHOENIX_SANDBOX/usr/share/postgresql/$PG_MAJOR"
  cp -a "$SYS_PGLIB" "$PHOENIX_SANDBOX/usr/lib/postgresql/"
  cp -a "$SYS_PGSHARE" "$PHOENIX_SANDBOX/usr/share/postgresql/"
  make -s install DESTDIR="$PHOENIX_SANDBOX" >/dev/null || die "install into sandbox failed"
  export PGBIN="$PHOENIX_SANDBOX/usr/lib/postgresql/$PG_MAJOR/bin"
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return 0; }
  done
  die "no free port"
}

# cluster_start [dbname] — initdb + start on a free port, create the database.
cluster_start() {
  local db=${1:-phoenix}
  PHOENIX_PGDATA="$PHOENIX_SANDBOX/data"
  PHOENIX_SOCKDIR="$PHOENIX_SANDBOX/run"
  export PHOENIX_PGDATA PHOENIX_SOCKDIR
  rm -rf "$PHOENIX_PGDATA"
  install -d -o postgres -g postgres "$PHOENIX_PGDATA" "$PHOENIX_SOCKDIR" 2>/dev/null ||
    mkdir -p "$PHOENIX_PGDATA" "$PHOENIX_SOCKDIR"
  as_pg "$PGBIN/initdb" -D "$PHOENIX_PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$PHOENIX_SANDBOX/initdb.log" 2>&1 || { cat "$PHOENIX_SANDBOX/initdb.log"; die "initdb failed"; }
  PGPORT=$(free_port)
  cat >>"$PHOENIX_PGDATA/postgresql.conf" <<EOF
port = $PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PHOENIX_SOCKDIR'
shared_preload_libraries = 'phoenix,pg_cron'
cron.database_name = '$db'
max_worker_processes = 32
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
max_prepared_transactions = 10
shared_buffers = 512MB
work_mem = 64MB
maintenance_work_mem = 256MB
log_min_messages = warning
lc_messages = 'C'
timezone = 'UTC'
EOF
  [ -n "${PHOENIX_EXTRA_CONF:-}" ] && printf '%s\n' "$PHOENIX_EXTRA_CONF" >>"$PHOENIX_PGDATA/postgresql.conf"
  [ "${PHOENIX_HUGE_PAGES:-0}" = 1 ] && reserve_huge_pages
  export PGHOST=$PHOENIX_SOCKDIR PGPORT PGUSER=postgres PGDATABASE=$db
  cluster_pg_ctl start || { cat "$PHOENIX_SANDBOX/server.log"; die "server did not start"; }
  [ "$db" = postgres ] || "$PGBIN/psql" -X -q -d postgres -c "CREATE DATABASE $db" >/dev/null
}

# reserve_huge_pages — as root, reserve the 2 MB pages the configured
# cluster's shared memory needs (PostgreSQL computes the number:
# shared_memory_size_in_huge_pages) and start it with huge_pages = on, as
# PostgreSQL advises for large shared_buffers (bench/README, series J).  The
# reservation before is kept in PHOENIX_HUGE_PAGES_OLD for
# release_huge_pages; where the kernel cannot give them all, the cluster
# keeps its 4 kB pages and says so.
reserve_huge_pages() {
  local need knob=/proc/sys/vm/nr_hugepages
  [ "$(id -u)" = 0 ] && [ -w "$knob" ] || { log "huge pages: not root, the cluster keeps 4 kB pages"; return 0; }
  need=$(as_pg "$PGBIN/postgres" -D "$PHOENIX_PGDATA" -C shared_memory_size_in_huge_pages 2>/dev/null)
  [[ "$need" =~ ^[0-9]+$ ]] && [ "$need" -gt 0 ] || { log "huge pages: none on this kernel, the cluster keeps 4 kB pages"; return 0; }
  PHOENIX_HUGE_PAGES_OLD=$(cat "$knob"); export PHOENIX_HUGE_PAGES_OLD
  echo $((PHOENIX_HUGE_PAGES_OLD + need)) > "$knob"
  if [ "$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)" -ge "$need" ]; then
    echo "huge_pages = on" >>"$PHOENIX_PGDATA/postgresql.conf"
    log "huge pages: $need of 2 MB reserved for shared memory"
  else
    release_huge_pages
    log "huge pages: the kernel could not reserve $need, the cluster keeps 4 kB pages"
  fi
}

# release_huge_pages — give back what reserve_huge_pages reserved
release_huge_pages() {
  [ -n "${PHOENIX_HUGE_PAGES_OLD:-}" ] || return 0
  echo "$PHOENIX_HUGE_PAGES_OLD" > /proc/sys/vm/nr_hugepages
  PHOENIX_HUGE_PAGES_OLD=
}

cluster_pg_ctl() {
  touch "$PHOENIX_SANDBOX/server.log"; chown postgres "$PHOENIX_SANDBOX/server.log" 2>/dev/null || true
  local senv=()
  mapfile -t senv < <(sanitizer_env)
  as_pg env "${senv[@]}" "$PGBIN/pg_ctl" -D "$PHOENIX_PGDATA" -l "$PHOENIX_SANDBOX/server.log" -w -t 60 "$@" >/dev/null
}

cluster_stop() {
  [ -n "${PHOENIX_PGDATA:-}" ] && [ -d "$PHOENIX_PGDATA" ] && cluster_pg_ctl stop -m fast 2>/dev/null || true
  server_log_keep "${PHOENIX_SANDBOX:-}/server.log"
}

# server_log_keep <log> — under make test (PHOENIX_SERVER_LOGS set), keep a
# copy of the log of a server a test started and is about to remove, so that
# scripts/test.sh checks every server for crashes, not only the shared one.
server_log_keep() {
  [ -n "${PHOENIX_SERVER_LOGS:-}" ] && [ -f "$1" ] || return 0
  [ "$1" -ef "${PHOENIX_SHARED_LOG:-}" ] && return 0
  cp "$1" "$(mktemp "$PHOENIX_SERVER_LOGS/${PHOENIX_TEST_NAME:-server}.XXXXXX")"
}

# Remove the sandbox unless PHOENIX_KEEP is set.
sandbox_destroy() {
  cluster_stop
  release_huge_pages
  if [ -z "${PHOENIX_KEEP:-}" ] && [ -n "${PHOENIX_SANDBOX:-}" ]; then rm -rf "$PHOENIX_SANDBOX"; fi
}

# A directory the server (user postgres) can read, for CSV fixtures.
server_readable_copy() {
  local src=$1 dst="$PHOENIX_SANDBOX/fixtures"
  mkdir -p "$dst"
  cp -a "$src"/. "$dst"/ 2>/dev/null || true
  chown -R postgres "$dst" 2>/dev/null || true
  chmod -R a+rX "$dst"
  echo "$dst"
}

psql_q() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q "$@"; }
