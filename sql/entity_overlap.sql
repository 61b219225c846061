-- Runs in a new database of its own (make installcheck runs every file in
-- one pg_regress database; the extension must be created afresh).
\set ECHO none
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_entity_overlap;
CREATE DATABASE regress_entity_overlap;
\c regress_entity_overlap
\set ECHO all
-- Every shape of overlap between assertions, checked against docs/design.md's rule:
-- an attribute's value at t is that of the most recently recorded assertion
-- covering t; open assertions run to the next open one; bounded ones don't cut.
CREATE EXTENSION phoenix CASCADE;
SELECT phoenix.create_entity('desk', 'desk_id', '{"room":"text","floor_id":"text"}');
CREATE FUNCTION show(k text) RETURNS TABLE (valid_from date, valid_to text, attributes jsonb)
LANGUAGE sql AS $$
  SELECT valid_from::date, CASE WHEN valid_to = 'infinity' THEN 'infinity' ELSE valid_to::date::text END,
         attributes FROM phoenix.history('desk', k) ORDER BY 1 $$;

-- open, then bounded strictly inside
SELECT phoenix.put('desk', 'inside', '{"room":"A"}', '2026-11-01');
SELECT phoenix.put('desk', 'inside', '{"room":"B"}', '2026-11-05', '2026-11-07');
SELECT * FROM show('inside');

-- bounded straddling the start of an existing version
SELECT phoenix.put('desk', 'start', '{"room":"A"}', '2026-11-05', '2026-11-10');
SELECT phoenix.put('desk', 'start', '{"room":"B"}', '2026-11-03', '2026-11-07');
SELECT * FROM show('start');

-- bounded straddling the end
SELECT phoenix.put('desk', 'end', '{"room":"A"}', '2026-11-05', '2026-11-10');
SELECT phoenix.put('desk', 'end', '{"room":"B"}', '2026-11-08', '2026-11-12');
SELECT * FROM show('end');

-- bounded covering several versions
SELECT phoenix.put('desk', 'several', '{"room":"A"}', '2026-11-01', '2026-11-03');
SELECT phoenix.put('desk', 'several', '{"room":"B"}', '2026-11-03', '2026-11-05');
SELECT phoenix.put('desk', 'several', '{"room":"C"}', '2026-11-05', '2026-11-07');
SELECT phoenix.put('desk', 'several', '{"room":"Z"}', '2026-11-02', '2026-11-06');
SELECT * FROM show('several');

-- adjacent with equal values coalesce; adjacent with different values don't
SELECT phoenix.put('desk', 'adjacent', '{"room":"A"}', '2026-11-01', '2026-11-03');
SELECT phoenix.put('desk', 'adjacent', '{"room":"A"}', '2026-11-03', '2026-11-05');
SELECT phoenix.put('desk', 'adjacent', '{"room":"B"}', '2026-11-05', '2026-11-07');
SELECT * FROM show('adjacent');

-- equal bounds: the later recorded wins, the earlier leaves no trace
SELECT phoenix.put('desk', 'equal', '{"room":"A"}', '2026-11-01', '2026-11-03');
SELECT phoenix.put('desk', 'equal', '{"room":"B"}', '2026-11-01', '2026-11-03');
SELECT * FROM show('equal');
-- two open assertions with the same effective time: the later recorded covers it
SELECT phoenix.put('desk', 'equal-open', '{"room":"A"}', '2026-11-01');
SELECT phoenix.put('desk', 'equal-open', '{"room":"B"}', '2026-11-01');
SELECT * FROM show('equal-open');

-- open after bounded: the open one wins from its start onwards
SELECT phoenix.put('desk', 'open-after', '{"room":"A"}', '2026-11-01', '2026-11-10');
SELECT phoenix.put('desk', 'open-after', '{"room":"B"}', '2026-11-05');
SELECT * FROM show('open-after');

-- bounded after open: only its period changes
SELECT phoenix.put('desk', 'bounded-after', '{"room":"A"}', '2026-11-01');
SELECT phoenix.put('desk', 'bounded-after', '{"room":"B"}', '2026-11-05', '2026-11-07');
SELECT * FROM show('bounded-after');

-- docs/design.md's example: open Mon X; bounded [Tue,Thu) Y; late open Wed Z
-- → Mon–Tue X, Tue–Wed Y, Wed onward Z
SELECT phoenix.put('desk', 'design', '{"room":"X"}', '2026-11-23');
SELECT phoenix.put('desk', 'design', '{"room":"Y"}', '2026-11-24', '2026-11-26');
SELECT phoenix.put('desk', 'design', '{"room":"Z"}', '2026-11-25');
SELECT * FROM show('design');

-- a late open assertion runs only until the next open one of the same attribute
SELECT phoenix.put('desk', 'late', '{"room":"A"}', '2026-11-01');
SELECT phoenix.put('desk', 'late', '{"room":"C"}', '2026-11-10');
SELECT phoenix.put('desk', 'late', '{"room":"B"}', '2026-11-05');
SELECT * FROM show('late');
-- ... and a bounded correction recorded after the open C still shows where it covers
SELECT phoenix.put('desk', 'late', '{"room":"Q"}', '2026-11-09', '2026-11-12');
SELECT phoenix.put('desk', 'late', '{"room":"R"}', '2026-11-08');
SELECT * FROM show('late');

-- attributes have separate timelines: an open floor_id does not cut room
SELECT phoenix.put('desk', 'attrs', '{"room":"A"}', '2026-11-01');
SELECT phoenix.put('desk', 'attrs', '{"room":"C"}', '2026-11-10');
SELECT phoenix.put('desk', 'attrs', '{"floor_id":"F2"}', '2026-11-07');
SELECT phoenix.put('desk', 'attrs', '{"room":"B","floor_id":"F1"}', '2026-11-05');
SELECT * FROM show('attrs');

-- retract then put: absent over the retraction, except where the later put covers
SELECT phoenix.put('desk', 'retract', '{"room":"A","floor_id":"F1"}', '2026-11-01');
SELECT phoenix.retract('desk', 'retract', '2026-11-05', '2026-11-10');
SELECT * FROM show('retract');
SELECT phoenix.get('desk', 'retract', '2026-11-06') AS during_retraction;
SELECT phoenix.put('desk', 'retract', '{"room":"B"}', '2026-11-07');
SELECT * FROM show('retract');
SELECT phoenix.retract('desk', 'retract', '2026-11-20', 'infinity');
SELECT * FROM show('retract');

-- a put that changes nothing writes no version
SELECT count(*) AS versions_before FROM phoenix_entity.desk_history WHERE desk_id = 'inside';
SELECT phoenix.put('desk', 'inside', '{"room":"B"}', '2026-11-05', '2026-11-06');
SELECT count(*) AS versions_after FROM phoenix_entity.desk_history WHERE desk_id = 'inside';

-- a write touches only versions of its key: other keys' rows stay physically untouched
SELECT string_agg(ctid::text || recorded_to, ',' ORDER BY ctid) AS design_rows
  FROM phoenix_entity.desk_history WHERE desk_id = 'design' \gset
SELECT phoenix.put('desk', 'inside', '{"room":"K"}', '2026-11-02');
SELECT string_agg(ctid::text || recorded_to, ',' ORDER BY ctid) = :'design_rows' AS design_untouched
  FROM phoenix_entity.desk_history WHERE desk_id = 'design';
-- ... and only the versions of its own key over the window that changed
SELECT count(*) FILTER (WHERE recorded_to = 'infinity') AS current,
       count(*) FILTER (WHERE recorded_to <> 'infinity') AS closed
  FROM phoenix_entity.desk_history WHERE desk_id = 'inside';
SELECT * FROM show('inside');
