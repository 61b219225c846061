# test/cluster_lib.sh — a second, private cluster for shell tests that need
# their own configuration (cron.database_name), a subscriber, or a crash.
# Sourced by test/shell/*.sh.  Uses scripts/lib.sh and the shared sandbox's
# binaries ($PGBIN, with Phoenix installed); the shared cluster's environment
# (PGHOST, PGPORT, PGDATABASE, PHOENIX_SANDBOX) is left as it was.
#
#   second_cluster_start <db> [extra postgresql.conf lines]
#       sets S_PGHOST S_PGPORT S_DB S_SANDBOX S_PGDATA; psql2 runs psql on it
#   second_cluster_stop      (also on EXIT if you trap it)
. "$PHOENIX_ROOT/scripts/lib.sh"

second_cluster_start() {
  local db=$1 extra=${2:-}
  local save_host=$PGHOST save_port=$PGPORT save_db=$PGDATABASE save_sb=$PHOENIX_SANDBOX
  local save_data=${PHOENIX_PGDATA:-} save_sock=${PHOENIX_SOCKDIR:-}
  S_SANDBOX=$(mktemp -d /tmp/phoenix-second.XXXXXX)
  chmod 755 "$S_SANDBOX"
  PHOENIX_SANDBOX=$S_SANDBOX PHOENIX_EXTRA_CONF=$extra cluster_start "$db"
  S_PGHOST=$PGHOST S_PGPORT=$PGPORT S_DB=$db S_PGDATA=$PHOENIX_PGDATA
  export PGHOST=$save_host PGPORT=$save_port PGDATABASE=$save_db PHOENIX_SANDBOX=$save_sb
  PHOENIX_PGDATA=$save_data PHOENIX_SOCKDIR=$save_sock
}

second_cluster_stop() {
  [ -n "${S_SANDBOX:-}" ] || return 0
  as_pg "$PGBIN/pg_ctl" -D "$S_PGDATA" -w -t 60 stop -m fast >/dev/null 2>&1 || true
  server_log_keep "$S_SANDBOX/server.log"
  rm -rf "$S_SANDBOX"
  S_SANDBOX=
}

# second_cluster_restart — e.g. after a crash
second_cluster_restart() {
  as_pg "$PGBIN/pg_ctl" -D "$S_PGDATA" -l "$S_SANDBOX/server.log" -w -t 60 restart -m immediate >/dev/null
}

psql2() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -h "$S_PGHOST" -p "$S_PGPORT" -U postgres -d "$S_DB" "$@"; }

# A directory the server may write to (owned by postgres), under the given sandbox.
server_writable_dir() {
  local d
  d=$(mktemp -d "${1:-/tmp}/phoenix-export.XXXXXX")
  chown postgres "$d" 2>/dev/null || chmod 777 "$d"
  chmod 755 "$d"
  echo "$d"
}
