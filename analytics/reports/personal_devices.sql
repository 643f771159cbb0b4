-- name: personal_devices
-- description: personal devices enrolled for business use, with whom they belong to
-- clause: City 4.01.06 §3.2 / Library CS3.3.2 (the policy applies to personal devices used for business)
-- params: to, org, workgroup, scope
--
-- $to  TIMESTAMP (UTC): the moment the report describes (the end of a week's range).
-- $org, $workgroup, $scope: as in usage.sql (NULL: no filter), on the workgroup of the device's
-- employee at $to (assignment by host name, else the employee named at enrollment).
--
-- Every device enrolled before $to with ownership 'personal', revoked ones included (revoked_at
-- says when, if by $to): the list is the record of which personal devices were enrolled.
-- last_seen_at is device_health's, the latest the collector knows.
SELECT
    d.device_id,
    d.hostname,
    coalesce(a.employee_id, d.employee_id) AS employee_id,
    e.workgroup_id,
    d.enrolled_at,
    h.last_seen_at,
    v.revoked_at,
    c.clause
FROM devices AS d
LEFT JOIN device_revocations AS v
    ON v.device_id = d.device_id AND v.revoked_at <= $to::TIMESTAMP
LEFT JOIN device_health AS h ON h.device_id = d.device_id
LEFT JOIN device_assignments AS a
    ON a.hostname = lower(d.hostname)
    AND a.valid_from <= $to::TIMESTAMP
    AND (a.valid_to IS NULL OR $to::TIMESTAMP < a.valid_to)
LEFT JOIN employees AS e
    ON e.employee_id = coalesce(a.employee_id, d.employee_id)
    AND e.valid_from <= $to::TIMESTAMP
    AND (e.valid_to IS NULL OR $to::TIMESTAMP < e.valid_to)
LEFT JOIN policy_clauses AS c ON c.org = d.org AND c.topic = 'personal_devices'
WHERE d.ownership = 'personal'
  AND d.enrolled_at < $to::TIMESTAMP
  AND ($org::VARCHAR IS NULL OR d.org = $org::VARCHAR)
  AND ($workgroup::VARCHAR IS NULL OR e.workgroup_id = $workgroup::VARCHAR)
  AND ($scope::VARCHAR[] IS NULL OR list_contains($scope::VARCHAR[], e.workgroup_id))
ORDER BY e.workgroup_id, d.hostname, d.device_id
