-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_emit_csv;
CREATE DATABASE regress_emit_csv;
\c regress_emit_csv
\set ECHO all
-- ingest_csv from CSV text: header mapping, quoting, embedded newlines, values
-- typed by the schema, and every kind of bad row dead-lettered with its line.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT phoenix.create_event_type('desk.booked',
       schema => '{"type":"object","required":["bookingId","deskId","at"],
                   "properties":{"bookingId":{"type":"string"},"deskId":{"type":"string"},
                                 "at":{"type":"string","format":"date-time"},
                                 "seats":{"type":"integer","minimum":1},"remote":{"type":"boolean"},
                                 "price":{"type":["number","null"]},"note":{"type":"string"}},
                   "additionalProperties":false}',
       time_field => 'at');

SELECT * FROM phoenix.ingest_csv('desk.booked', $csv$bookingId,deskId,at,seats,remote,price,note
B1,D1,2026-11-23T09:00:00Z,2,true,12.50,plain
B2,D2,2026-11-23T10:00:00+01:00,1,false,0,"quoted, with comma"
B3,D3,2026-11-23T11:00:00Z,3,t,1e2,"two
lines"
B4,D4,2026-11-23T12:00:00Z,,,,"he said ""hi"""
B5,D5,2026-11-23T13:00:00Z,1,yes,-0.5,""
$csv$, source => 'upload-1', id_field => 'bookingId');
SELECT event_id, payload, effective_at, source, source_position
  FROM phoenix.event_log ORDER BY position;

-- bad rows: each a dead letter with its line number; the good rows still go in
SELECT * FROM phoenix.ingest_csv('desk.booked', $csv$bookingId,deskId,at,seats,remote
C1,D1,2026-11-24T09:00:00Z,1,true
C2,D1,2026-11-24T09:00:00Z,one,true
C3,D1,2026-11-24T09:00:00Z,0,true
C4,D1,2026-11-24T09:00:00Z,1,maybe
C5,D1,2026-11-24T09:00:00Z
C6,D1,2026-11-24T09:00:00Z,1,true,surplus
C7,,2026-11-24T09:00:00Z,1,true
C8,D1,next tuesday,1,true
C9,D1,2026-02-30T09:00:00Z,1,true
C10,D1,99999-01-01T00:00:00Z,1,true
C11,D1,2026-11-24T25:00:00Z,1,true
C12,D1,2026-11-24T09:00:00Z,1e5000,true
C13,D1,2026-11-24T09:00:00Z,1,true
$csv$, source => 'upload-2', id_field => 'bookingId');
SELECT source_position, raw, reason, sqlstate FROM phoenix.dead_letters ORDER BY dead_letter_id;
SELECT event_id, source_position FROM phoenix.event_log WHERE source = 'upload-2' ORDER BY position;

-- uploading the first file again: idempotent by id_field
SELECT * FROM phoenix.ingest_csv('desk.booked', $csv$bookingId,deskId,at,seats,remote,price,note
B1,D1,2026-11-23T09:00:00Z,2,true,12.50,plain
B2,D2,2026-11-23T10:00:00+01:00,1,false,0,"quoted, with comma"
$csv$, source => 'upload-1-again', id_field => 'bookingId');
-- ... unless a row changed under the same id
SELECT * FROM phoenix.ingest_csv('desk.booked', $csv$bookingId,deskId,at,seats
B1,D9,2026-11-23T09:00:00Z,2
$csv$, id_field => 'bookingId');
SELECT source_position, reason, sqlstate FROM phoenix.dead_letters WHERE source = 'csv';
SELECT count(*) FROM phoenix.event_log;

-- an unterminated quoted field at the end: rows before it are kept, the rest is one dead letter
SELECT * FROM phoenix.ingest_csv('desk.booked', $csv$bookingId,deskId,at
Q1,D1,2026-11-25T09:00:00Z
Q2,D1,"2026-11-25T09:00:00Z
Q3,D1,2026-11-25T09:00:00Z
$csv$, source => 'upload-3');
SELECT source_position, left(raw, 30) AS raw, reason FROM phoenix.dead_letters WHERE source = 'upload-3';

-- other delimiters; header only; empty input
SELECT * FROM phoenix.ingest_csv('desk.booked', E'bookingId;deskId;at\nS1;D1;2026-11-26T09:00:00Z\n', delimiter => ';');
SELECT * FROM phoenix.ingest_csv('desk.booked', E'bookingId,deskId,at\n');
SELECT * FROM phoenix.ingest_csv('desk.booked', '');
-- whole-input mistakes raise
SELECT * FROM phoenix.ingest_csv('no.such.type', E'a\n1\n');
SELECT * FROM phoenix.ingest_csv('desk.booked', E'bookingId,,at\nX,Y,Z\n');
SELECT * FROM phoenix.ingest_csv('desk.booked', E'bookingId,deskId,bookingId\nX,Y,Z\n');
SELECT * FROM phoenix.ingest_csv('desk.booked', E'bookingId,deskId\nX,Y\n', id_field => 'id');
SELECT * FROM phoenix.ingest_csv('desk.booked', '/nonexistent/file.csv');
-- a server path needs superuser or pg_read_server_files; CSV text does not
CREATE ROLE csv_writer IN ROLE phoenix_writer;
SET ROLE csv_writer;
SELECT * FROM phoenix.ingest_csv('desk.booked', '/etc/passwd');
SELECT * FROM phoenix.ingest_csv('desk.booked', E'bookingId,deskId,at\nW1,D1,2026-11-26T09:00:00Z\n');
RESET ROLE;
SELECT payload->>'bookingId' AS booking, source FROM phoenix.event_log WHERE payload->>'bookingId' IN ('S1', 'W1') ORDER BY 1;
DROP ROLE csv_writer;

-- a time field the schema does not constrain: Phoenix's own parse refuses bad times
SELECT phoenix.create_event_type('sensor.read',
       '{"type":"object","properties":{"sensor":{"type":"string"},"at":{"type":"string"},"value":{"type":"number"}}}',
       time_field => 'at');
SELECT * FROM phoenix.ingest_csv('sensor.read', $csv$sensor,at,value
S1,2026-11-24T09:00:00Z,1.5
S2,2026-11-24 09:00,2
S3,2026-11-24,3
S4,2026-02-30T09:00:00Z,4
S5,2026-11-24T24:61:00Z,5
S6,2026-11-24T09:00:00+25:00,6
S7,99999-11-24T09:00:00Z,7
S8,tomorrow,8
S9,2026-11-24T09:00:00 Europe/Berlin,9
S10,,10
$csv$, source => 'sensors');
SELECT source_position, reason, sqlstate FROM phoenix.dead_letters WHERE source = 'sensors' ORDER BY dead_letter_id;
SELECT payload->>'sensor' AS sensor, effective_at = received_at AS defaulted,
       CASE WHEN effective_at <> received_at THEN effective_at END AS effective_at
  FROM phoenix.event_log WHERE source = 'sensors' ORDER BY position;
