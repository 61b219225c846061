# scripts/bench_lib.sh — helpers shared by bench/*.sh (sourced; needs $PSQL).

# median: the median of the numbers on stdin, one per line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# median_of values...: the median of the arguments.
median_of() { printf '%s\n' "$@" | median; }

# ratio A B: A / B with two decimals; "-" where either is not a number or
# B is zero (a figure a short run did not measure)
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {n = "^-?[0-9]+([.][0-9]*)?([eE][-+]?[0-9]+)?$"
    if (a !~ n || b !~ n || b + 0 == 0) printf "-"; else printf "%.2f", a / b}'
}

# backend_cpu_us <sql file> <statements in it>: run the file in one psql
# session and print the backend's CPU (user + system, from /proc) per
# statement in microseconds, so the figure is the server's own work and not
# the wall clock of a shared machine.
backend_cpu_us() {
  local pid t0 t1
  coproc P { $PSQL -t -A 2>&1; }
  echo "SELECT pg_backend_pid();" >&"${P[1]}"; read -r pid <&"${P[0]}"
  t0=$(awk '{print $14+$15}' /proc/"$pid"/stat)
  printf '\\i %s\nSELECT %s;\n' "$1" "'done'" >&"${P[1]}"
  while read -r l <&"${P[0]}"; do [ "$l" = done ] && break; done
  t1=$(awk '{print $14+$15}' /proc/"$pid"/stat)
  printf '\\q\n' >&"${P[1]}"; wait "$P_PID" 2>/dev/null || true
  echo $(( (t1 - t0) * 10000 / $2 ))   # clock ticks of 10 ms -> microseconds per statement
}
