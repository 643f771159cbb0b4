-- name: session_people
-- description: each app session with its device's organisation and the employee and workgroup responsible when it started
-- clause: City 4.01.06 §2.2 / §4.4, Library CS3.2.2 / CS3.4.4 (directors answer for their workgroups)
-- params:
--
-- The runner makes this `CREATE TEMP VIEW session_people AS ...` before every report, over the
-- `sessions` table the collector keeps (or a temp view of that name built from raw events).
-- Only sessions with a start count: a row made by a stop or heartbeat that arrived first has
-- started_at NULL until its app_started arrives.
--
-- Who answers for a session is fixed at its start, so a week in which an employee moved
-- workgroup splits at the move:
--   employee_id   the device assignment (by host name, compared lower-case) valid at
--                 started_at; else the employee named when the device enrolled;
--   workgroup_id  that employee's workgroup in the roster version valid at started_at.
-- cpu_ms, surfaces, browsers and foreground_ms are the session's own (sessions.sql).
-- org and ownership are the device's own (enrollment). A session of a device that is not in
-- `devices` keeps NULLs there: it is still a session, and reports that filter by organisation
-- or workgroup leave it out.
--
-- Join order (DESIGN.md §5, DuckDB 1.5.5): sessions is the only large table, so it is the probe
-- side of every join and each small table is hashed. Host names are matched to assignments once
-- per device (assigned), not once per session, and every join condition is a plain comparison
-- (valid_to NULL compares as infinity): an OR in a LEFT JOIN's condition makes DuckDB fall back
-- to a nested-loop join, measured 15x slower on 10M sessions.
WITH assigned AS (
    SELECT
        d.device_id,
        a.employee_id,
        a.valid_from,
        coalesce(a.valid_to, 'infinity'::TIMESTAMP) AS valid_to
    FROM devices AS d
    JOIN device_assignments AS a ON a.hostname = lower(d.hostname)
)
SELECT
    s.device_id,
    s.session_id,
    s.os_user,
    s.app_id,
    s.category,
    s.started_at,
    s.ended_at,
    s.end_reason,
    d.org,
    d.ownership,
    d.hostname,
    coalesce(a.employee_id, d.employee_id) AS employee_id,
    e.workgroup_id,
    s.cpu_ms,
    s.surfaces,
    s.browsers,
    s.foreground_ms
FROM sessions AS s
LEFT JOIN devices AS d
    ON d.device_id = s.device_id
LEFT JOIN assigned AS a
    ON a.device_id = s.device_id
    AND a.valid_from <= s.started_at
    AND s.started_at < a.valid_to
LEFT JOIN employees AS e
    ON e.employee_id = coalesce(a.employee_id, d.employee_id)
    AND e.valid_from <= s.started_at
    AND s.started_at < coalesce(e.valid_to, 'infinity'::TIMESTAMP)
WHERE s.started_at IS NOT NULL
