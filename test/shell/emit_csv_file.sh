#!/usr/bin/env bash
# ingest_csv from a server file: invalid UTF-8 and NUL bytes, CRLF line ends,
# a multibyte character across the reader's block boundary.  Bad rows are
# dead-lettered with their line; the server stays up.
set -euo pipefail
psql() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -qAt "$@"; }
dir=$(mktemp -d /tmp/phoenix-csv.XXXXXX); chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT

psql -c "CREATE EXTENSION phoenix CASCADE" >/dev/null
psql -c "SELECT phoenix.create_event_type('badge.read', '{\"type\":\"object\",\"required\":[\"badge\",\"at\"],
  \"properties\":{\"badge\":{\"type\":\"string\"},\"at\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"}}}',
  time_field => 'at')" >/dev/null

# line 3: invalid UTF-8; line 4: a NUL byte; line 5: a lone continuation byte; line 6: fine (é);
# line 7: a U+FFFD the input itself holds (a character like any other), after replaced bytes
printf 'badge,at,name\r\nB1,2026-11-23T09:00:00Z,Ann\r\nB2,2026-11-23T09:00:00Z,Bo\xff\xfeb\r\nB3,2026-11-23T09:00:00Z,N\x00ul\r\nB4,2026-11-23T09:00:00Z,\x80x\xef\xbf\xbd\r\nB5,2026-11-23T09:00:00Z,Ren\xc3\xa9e\r\nB6,2026-11-23T09:00:00Z,Q\xef\xbf\xbd\r\n' >"$dir/bytes.csv"
chmod 644 "$dir/bytes.csv"
out=$(psql -c "SELECT accepted || '/' || rejected FROM phoenix.ingest_csv('badge.read', '$dir/bytes.csv')")
[ "$out" = "3/3" ] || { echo "bytes.csv: expected 3/3, got $out"; exit 1; }
got=$(psql -c "SELECT string_agg(source_position || ':' || sqlstate || ':' || replayable, ',' ORDER BY dead_letter_id) FROM phoenix.dead_letters")
[ "$got" = "line 3:22021:false,line 4:22021:false,line 5:22021:false" ] || { echo "dead letters: $got"; exit 1; }
# bad bytes show as \xNN, as on every other path (a U+FFFD of the input stays one)
got=$(psql -c "SELECT string_agg(raw, '|' ORDER BY dead_letter_id) FROM phoenix.dead_letters")
[ "$got" = 'B2,2026-11-23T09:00:00Z,Bo\xFF\xFEb|B3,2026-11-23T09:00:00Z,N\x00ul|B4,2026-11-23T09:00:00Z,\x80x�' ] ||
  { echo "raw of the dead letters: $got"; exit 1; }
got=$(psql -c "SELECT string_agg(payload->>'badge', ',' ORDER BY position) FROM phoenix.event_log")
[ "$got" = "B1,B5,B6" ] || { echo "accepted: $got"; exit 1; }
got=$(psql -c "SELECT payload->>'name' FROM phoenix.event_log WHERE payload->>'badge' = 'B5'")
[ "$got" = "Renée" ] || { echo "B5 name: $got"; exit 1; }

# a multibyte character straddling the 64 kB read block boundary survives intact
python3 - "$dir/big.csv" <<'PY'
import sys
with open(sys.argv[1], 'wb') as f:
    f.write(b'badge,at,name\n')
    line = 'X,2026-11-23T09:00:00Z,' + 'é' * 20 + '\n'
    for i in range(20000):
        f.write(line.replace('X', 'K%d' % i).encode())
PY
chmod 644 "$dir/big.csv"
out=$(psql -c "SELECT accepted || '/' || rejected FROM phoenix.ingest_csv('badge.read', '$dir/big.csv', source => 'big')")
[ "$out" = "20000/0" ] || { echo "big.csv: expected 20000/0, got $out"; exit 1; }
got=$(psql -c "SELECT count(*) FROM phoenix.event_log WHERE source = 'big' AND payload->>'name' <> repeat('é', 20)")
[ "$got" = 0 ] || { echo "$got names were mangled"; exit 1; }
echo ok
