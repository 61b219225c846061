#!/usr/bin/env bash
# make demo's tour (scripts/demo.sql) must run to the end without an error
# (it failed once when the derive rules tightened and nothing ran it), and
# its reports must answer the stories: story 1's departments, story 3's
# series grouped by name and by room.
# (grep reads here-strings, not pipes: under pipefail, `echo | grep -q` fails
# when grep stops early and echo is killed by SIGPIPE — CI saw it once.)
set -euo pipefail
out=$("$PGBIN/psql" -X -v ON_ERROR_STOP=1 -v fixtures="$PHOENIX_FIXTURES" -P pager=off \
      -f "$PHOENIX_ROOT/scripts/demo.sql" 2>&1) || { echo "$out" | tail -30; exit 1; }
q() { "$PGBIN/psql" -X -A -t -c "$1"; }
rooms=$(q "SELECT string_agg(desk_room || ':' || weekday, ',' ORDER BY effective_at) FROM reporting.desk_series")
[ "$rooms" = "Room A:Mon,Room B:Tue,Room B:Wed,Room B:Thu" ] || { echo "story 3 by room: $rooms"; exit 1; }
# grouped by name before story 4 forgets Bo: one group, the new name, four days
grep -Eq '^ Bo Chan-Rivera +\| +4$' <<<"$out" || { echo "story 3 by name: no 'Bo Chan-Rivera | 4' group"; exit 1; }
[ "$(q "SELECT count(DISTINCT employee_name) FROM reporting.desk_series")" = 1 ] || { echo "story 3: more than one name"; exit 1; }
grep -q "== Story 4" <<<"$out" || { echo "the tour did not reach story 4"; exit 1; }
echo ok
