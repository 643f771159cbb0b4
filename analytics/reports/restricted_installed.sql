-- name: restricted_installed
-- description: devices with a restricted app installed while the restriction is in force
-- clause: City 4.01.06 §4.4 / Library CS3.4.4 (directors may restrict communication technology within their workgroups)
-- params: to, org, workgroup, scope
--
-- $to  TIMESTAMP (UTC): the moment the report describes (the end of a week's range).
-- $org, $workgroup, $scope: as in usage.sql (NULL: no filter).
--
-- Installed at $to: the latest app_installed or app_removed event (in the device's own order,
-- seq) of each device, app and path stamped before $to is an install. Only those two kinds of
-- event are read, never the heartbeats.
-- Restricted: the newest version of a restriction of the workgroup of the device's employee at
-- $to (assignment by host name, else the employee named at enrollment), covering the app by
-- app_id or category, with effective_from <= $to < effective_to. A schedule limits when an app
-- may be used, not whether it may be on the device, so it is not consulted here.
-- A device revoked by $to is left out: it no longer reports, so its installs are not known.
WITH newest AS (
    SELECT *
    FROM restrictions
    QUALIFY version = max(version) OVER (PARTITION BY restriction_id)
),
in_force AS (
    SELECT restriction_id, workgroup_id, app_id, category
    FROM newest
    WHERE effective_from <= $to::TIMESTAMP
      AND (effective_to IS NULL OR $to::TIMESTAMP < effective_to)
),
people AS (
    -- each device in service at $to with the employee and workgroup answering for it then
    SELECT
        d.device_id,
        d.org,
        d.hostname,
        coalesce(a.employee_id, d.employee_id) AS employee_id,
        e.workgroup_id
    FROM devices AS d
    LEFT JOIN device_assignments AS a
        ON a.hostname = lower(d.hostname)
        AND a.valid_from <= $to::TIMESTAMP
        AND (a.valid_to IS NULL OR $to::TIMESTAMP < a.valid_to)
    LEFT JOIN employees AS e
        ON e.employee_id = coalesce(a.employee_id, d.employee_id)
        AND e.valid_from <= $to::TIMESTAMP
        AND (e.valid_to IS NULL OR $to::TIMESTAMP < e.valid_to)
    WHERE d.enrolled_at < $to::TIMESTAMP
      AND d.device_id NOT IN (
          SELECT device_id FROM device_revocations WHERE revoked_at <= $to::TIMESTAMP
      )
),
installed AS (
    SELECT device_id, app_id, category, path, installed_at
    FROM (
        SELECT
            device_id,
            app_id,
            path,
            arg_max(kind, seq) AS last_kind,
            arg_max(category, seq) AS category,
            arg_max(occurred_at, seq) AS installed_at
        FROM events
        WHERE kind IN ('app_installed', 'app_removed')
          AND occurred_at < $to::TIMESTAMP
        GROUP BY device_id, app_id, path
    )
    WHERE last_kind = 'app_installed'
)
SELECT
    p.device_id,
    p.hostname,
    p.employee_id,
    p.workgroup_id,
    i.app_id,
    i.category,
    i.path,
    i.installed_at,
    r.restriction_id,
    c.clause
FROM in_force AS r
JOIN people AS p ON p.workgroup_id = r.workgroup_id
JOIN installed AS i
    ON i.device_id = p.device_id
    AND (i.app_id = r.app_id OR i.category = r.category)
LEFT JOIN policy_clauses AS c ON c.org = p.org AND c.topic = 'restriction'
WHERE ($org::VARCHAR IS NULL OR p.org = $org::VARCHAR)
  AND ($workgroup::VARCHAR IS NULL OR p.workgroup_id = $workgroup::VARCHAR)
  AND ($scope::VARCHAR[] IS NULL OR list_contains($scope::VARCHAR[], p.workgroup_id))
ORDER BY p.workgroup_id, p.hostname, p.device_id, i.app_id, i.path, r.restriction_id
