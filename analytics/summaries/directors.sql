-- name: directors
-- description: who receives a weekly summary: each director with the workgroups they direct at $to
-- clause: City 4.01.06 §2.2, §4.4 / Library CS3.2.2, CS3.4.4 (directors answer for their workgroups)
-- params: to, director
--
-- $to        TIMESTAMP (UTC): the end of the week; workgroups and the roster as valid then.
-- $director  VARCHAR: one director's employee id, or NULL for all.
--
-- One row per (director, workgroup). A workgroup whose director_id names nobody on the roster
-- at $to still gives a row (full_name falls back to the id, email NULL): the send reports it
-- instead of dropping it silently.
WITH groups AS (
    SELECT workgroup_id, org, name, director_id
    FROM workgroups
    WHERE director_id IS NOT NULL
      AND valid_from <= $to::TIMESTAMP
      AND $to::TIMESTAMP < coalesce(valid_to, 'infinity'::TIMESTAMP)
      AND ($director::VARCHAR IS NULL OR director_id = $director::VARCHAR)
),
roster AS (
    SELECT employee_id, full_name, email
    FROM employees
    WHERE valid_from <= $to::TIMESTAMP
      AND $to::TIMESTAMP < coalesce(valid_to, 'infinity'::TIMESTAMP)
)
SELECT
    g.director_id,
    coalesce(r.full_name, g.director_id) AS full_name,
    r.email,
    g.org,
    p.director_title AS title,
    g.workgroup_id,
    g.name AS workgroup_name
FROM groups AS g
JOIN org_policies AS p ON p.org = g.org
LEFT JOIN roster AS r ON r.employee_id = g.director_id
ORDER BY g.director_id, g.workgroup_id
