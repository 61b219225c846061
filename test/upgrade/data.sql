-- test/upgrade/data.sql — data put in place with the previous version, before
-- ALTER EXTENSION phoenix UPDATE (uses only API every release has had).
SELECT phoenix.create_entity('employee', key => 'employee_id',
       attributes => '{"name":"text","department":"text"}', pii => '{name}');
SELECT phoenix.put('employee', 'E1', '{"name":"Ada","department":"Finance"}', valid_from => '2026-11-23');
SELECT phoenix.put('employee', 'E1', '{"department":"Accounting"}', valid_from => '2026-11-25');
SELECT phoenix.put('employee', 'E2', '{"name":"Grace","department":"Sales"}', valid_from => '2026-11-23',
                   valid_to => '2026-11-30');
