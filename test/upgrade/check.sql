-- test/upgrade/check.sql — what the data must still say after the update.
SELECT phoenix.get('employee', 'E1', valid_at => '2026-11-24') ->> 'department' AS e1_tuesday,
       phoenix.get('employee', 'E1', valid_at => '2026-11-26') ->> 'department' AS e1_thursday,
       phoenix.get('employee', 'E2', valid_at => '2026-12-01') IS NULL AS e2_gone_in_december;
