-- name: people
-- description: the names of the employees a director's summary mentions
-- clause: City 4.01.06 §4.1 / Library CS3.4.1 (reviewed by appropriate staff only)
-- params: ids
--
-- $ids  VARCHAR[]: employee ids taken from the director's own, already scoped, findings; the
--       summary asks for nobody else. The newest version of each name wins.
SELECT employee_id, full_name
FROM employees
WHERE list_contains($ids::VARCHAR[], employee_id)
QUALIFY row_number() OVER (PARTITION BY employee_id ORDER BY valid_from DESC) = 1
ORDER BY employee_id
