-- name: training_overdue
-- description: employees whose training is overdue or who never trained, by manager
-- clause: City 4.01.06 §4.3 / §2.2, Library CS3.4.3 / CS3.2.2 (regular training; directors and managers answer for it)
-- params: to, org, workgroup, scope
--
-- $to  TIMESTAMP (UTC): the day the report describes (the end of a week's range).
-- $org, $workgroup, $scope: as in usage.sql (NULL: no filter), on the employee's workgroup.
--
-- Employees: the roster version valid at $to. Overdue: the latest completed_on of any course is
-- older than the organisation's training_interval_months before $to's day, or there is none
-- (last_trained_on and days_overdue NULL). days_overdue counts from the day training fell due.
-- The manager is named as the roster has them at $to.
WITH roster AS (
    SELECT employee_id, org, full_name, workgroup_id, manager_id
    FROM employees
    WHERE valid_from <= $to::TIMESTAMP
      AND (valid_to IS NULL OR $to::TIMESTAMP < valid_to)
),
last_training AS (
    SELECT employee_id, max(completed_on) AS last_trained_on
    FROM training_records
    GROUP BY employee_id
),
standing AS (
    SELECT
        e.*,
        t.last_trained_on,
        ($to::TIMESTAMP - to_months(p.training_interval_months))::DATE AS cutoff
    FROM roster AS e
    JOIN org_policies AS p ON p.org = e.org
    LEFT JOIN last_training AS t ON t.employee_id = e.employee_id
    WHERE ($org::VARCHAR IS NULL OR e.org = $org::VARCHAR)
      AND ($workgroup::VARCHAR IS NULL OR e.workgroup_id = $workgroup::VARCHAR)
      AND ($scope::VARCHAR[] IS NULL OR list_contains($scope::VARCHAR[], e.workgroup_id))
)
SELECT
    s.manager_id,
    m.full_name AS manager_name,
    s.workgroup_id,
    s.employee_id,
    s.full_name,
    s.last_trained_on,
    s.cutoff - s.last_trained_on AS days_overdue,
    c.clause
FROM standing AS s
LEFT JOIN roster AS m ON m.employee_id = s.manager_id
LEFT JOIN policy_clauses AS c ON c.org = s.org AND c.topic = 'training'
WHERE s.last_trained_on IS NULL OR s.last_trained_on < s.cutoff
ORDER BY manager_name NULLS LAST, s.manager_id NULLS LAST, s.workgroup_id, s.employee_id
