#!/usr/bin/env bash
# README's five-minute tour must work as written: run the SQL between the
# tour markers verbatim, then check what it promises.
set -euo pipefail
readme="$PHOENIX_ROOT/README.md"
sql=$(awk '/<!-- tour:start -->/ {on=1; next} /<!-- tour:end -->/ {on=0} on' "$readme" | sed '/^```/d')
[ -n "$sql" ] || { echo "no tour found in README.md"; exit 1; }
out=$(printf '%s\n' "$sql" | "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -A -t 2>&1) || { echo "$out"; exit 1; }
echo "$out"
q() { "$PGBIN/psql" -X -A -t -c "$1"; }
depts=$(q "SELECT string_agg(employee_department, ',' ORDER BY effective_at) FROM reporting.presence_report")
[ "$depts" = "Finance,Audit,Accounting,Accounting,Accounting" ] || { echo "departments: $depts"; exit 1; }
[ "$(q "SELECT count(*) FROM phoenix.dead_letters")" = 1 ] || { echo "expected one dead letter"; exit 1; }
[ "$(q "SELECT count(*) FROM reporting.presence_report WHERE employee_name = 'Ann Lee'")" = 0 ] || { echo "name survived forget"; exit 1; }
[ "$(q "SELECT count(*) FROM phoenix_entity.employee_history WHERE name = 'Ann Lee' OR email = 'ann@x.com'")" = 0 ] || { echo "PII survived in history"; exit 1; }
echo "tour ok"
