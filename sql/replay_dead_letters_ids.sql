-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_replay_dead_letters_ids;
CREATE DATABASE regress_replay_dead_letters_ids;
\c regress_replay_dead_letters_ids
\set ECHO all
-- replay_dead_letters(dead_letter_ids => ...): only the listed dead letters
-- are re-emitted; the others keep waiting, whatever their type; ids that are
-- not pending (already replayed, unknown, not replayable) are skipped.
CREATE EXTENSION phoenix CASCADE;
\set VERBOSITY terse
SELECT phoenix.create_event_type('badge.scanned',
       schema => '{"type":"object","required":["badge"],"properties":{"badge":{"type":"string"},"n":{"type":"integer"}},
                   "additionalProperties":false}');
SELECT phoenix.create_event_type('door.opened',
       schema => '{"type":"object","required":["door"],"properties":{"door":{"type":"string"}},"additionalProperties":false}');
-- five refused events of two types (an unknown property, a wrong type), and a
-- malformed batch element (not replayable)
SELECT * FROM phoenix.emit_batch('[
  {"type":"badge.scanned","payload":{"badge":"B1","extra":1},"event_id":"b1"},
  {"type":"badge.scanned","payload":{"badge":"B2","extra":2},"event_id":"b2"},
  {"type":"badge.scanned","payload":{"badge":"B3","n":"three"},"event_id":"b3"},
  {"type":"door.opened","payload":{"door":"D1","extra":true},"event_id":"d1"},
  {"type":"door.opened","payload":{"door":"D2","extra":true},"event_id":"d2"},
  7]');
SELECT event_id, event_type, replayable FROM phoenix.dead_letters ORDER BY dead_letter_id;
-- both schemas now allow "extra"
SELECT phoenix.create_event_type('badge.scanned',
       schema => '{"type":"object","required":["badge"],"properties":{"badge":{"type":"string"},"n":{"type":"integer"},
                   "extra":{"type":"integer"}},"additionalProperties":false}');
SELECT phoenix.create_event_type('door.opened',
       schema => '{"type":"object","required":["door"],"properties":{"door":{"type":"string"},"extra":{"type":"boolean"}},
                   "additionalProperties":false}');
-- replay b2 and d1 only (across types), plus b3 (still invalid), the
-- unreplayable element and an id that does not exist
SELECT * FROM phoenix.replay_dead_letters(dead_letter_ids => ARRAY(
  SELECT dead_letter_id FROM phoenix.dead_letters WHERE event_id IN ('b2', 'd1', 'b3') OR NOT replayable
  UNION ALL SELECT -1));
SELECT event_id, attempts, replayed_at IS NOT NULL AS replayed FROM phoenix.dead_letters ORDER BY dead_letter_id;
SELECT event_id, event_type FROM phoenix.event_log ORDER BY position;
-- the same ids again: b2 and d1 are replayed already, b3 is still refused
SELECT * FROM phoenix.replay_dead_letters(dead_letter_ids => ARRAY(
  SELECT dead_letter_id FROM phoenix.dead_letters WHERE event_id IN ('b2', 'd1', 'b3')));
-- with a type as well: only the listed ids of that type
SELECT * FROM phoenix.replay_dead_letters('door.opened', ARRAY(
  SELECT dead_letter_id FROM phoenix.dead_letters WHERE event_id IN ('b1', 'd2')));
SELECT event_id, attempts, replayed_at IS NOT NULL AS replayed FROM phoenix.dead_letters ORDER BY dead_letter_id;
-- an empty list replays nothing; NULL means every pending one
SELECT * FROM phoenix.replay_dead_letters(dead_letter_ids => '{}');
SELECT * FROM phoenix.replay_dead_letters(dead_letter_ids => NULL);
SELECT event_id FROM phoenix.event_log ORDER BY position;
