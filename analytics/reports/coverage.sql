-- name: coverage
-- description: devices whose monitoring has a hole: silent, missing events, old agent or catalog, clock ahead, never enrolled
-- clause: City 4.01.06 §2.3 / Library CS3.2.3 (IMS deploys the appropriate safeguards)
-- params: to, org, workgroup, scope, silent_hours
--
-- $to             TIMESTAMP (UTC): the moment the report describes (the end of a week's range).
-- $org, $workgroup, $scope: as in usage.sql (NULL: no filter), on the workgroup of the device's
--                 employee at $to (assignment by host name, else the employee named at enrollment).
-- $silent_hours   INTEGER: a device not heard from for this many hours before $to is silent.
--
-- One row per device and kind of finding; detail says what was seen:
--   silent        device_health.last_seen_at (or, never heard from, enrolled_at) is older than
--                 $silent_hours before $to;
--   seq_gap       seq_gaps rows detected before $to: seq_gaps holds only the gaps still open
--                 (a late event shrinks its gap, a filled one is deleted), so these are the
--                 gaps detected in the week and those from before it that are still open;
--   old_agent     agent_version below the newest any device in service reports;
--   old_catalog   the same for catalog_version; versions compare number by number (0.10 > 0.9);
--   clock_skew    clock_offset_ms above 5 minutes: the estimate only errs negative, so only a
--                 clock running ahead can be told (schema 004, device_health);
--   never_enrolled  a device assignment valid at $to whose host name no device enrolled with
--                 (device_id NULL).
-- Device state comes from device_health (kept by the collector), never from the heartbeats.
-- A device revoked by $to is out of service: it is reported for seq gaps only.
WITH people AS (
    SELECT
        d.device_id,
        d.org,
        d.hostname,
        d.enrolled_at,
        coalesce(a.employee_id, d.employee_id) AS employee_id,
        e.workgroup_id,
        v.revoked_at IS NOT NULL AS revoked
    FROM devices AS d
    LEFT JOIN device_revocations AS v
        ON v.device_id = d.device_id AND v.revoked_at <= $to::TIMESTAMP
    LEFT JOIN device_assignments AS a
        ON a.hostname = lower(d.hostname)
        AND a.valid_from <= $to::TIMESTAMP
        AND (a.valid_to IS NULL OR $to::TIMESTAMP < a.valid_to)
    LEFT JOIN employees AS e
        ON e.employee_id = coalesce(a.employee_id, d.employee_id)
        AND e.valid_from <= $to::TIMESTAMP
        AND (e.valid_to IS NULL OR $to::TIMESTAMP < e.valid_to)
    WHERE d.enrolled_at < $to::TIMESTAMP
),
in_service AS (
    SELECT
        p.*,
        h.last_seen_at,
        h.agent_version,
        h.catalog_version,
        h.clock_offset_ms,
        regexp_extract_all(nullif(h.agent_version, ''), '[0-9]+')::BIGINT[] AS agent_key,
        regexp_extract_all(nullif(h.catalog_version, ''), '[0-9]+')::BIGINT[] AS catalog_key
    FROM people AS p
    LEFT JOIN device_health AS h ON h.device_id = p.device_id
    WHERE NOT p.revoked
),
newest AS (
    SELECT
        max(agent_key) AS agent_key,
        arg_max(agent_version, agent_key) AS agent_version,
        max(catalog_key) AS catalog_key,
        arg_max(catalog_version, catalog_key) AS catalog_version
    FROM in_service
),
gaps AS (
    SELECT
        device_id,
        string_agg(first_seq || '..' || last_seq, ', ' ORDER BY first_seq) AS ranges,
        sum(last_seq - first_seq + 1) AS missing
    FROM seq_gaps
    WHERE detected_at < $to::TIMESTAMP
    GROUP BY device_id
),
findings AS (
    SELECT 'silent' AS finding, s.device_id, s.hostname, s.employee_id, s.workgroup_id, s.org,
           CASE
               WHEN s.last_seen_at IS NULL
                   THEN 'never heard from since enrolling at '
                       || strftime(s.enrolled_at, '%Y-%m-%d %H:%M UTC')
               ELSE 'last heard from at ' || strftime(s.last_seen_at, '%Y-%m-%d %H:%M UTC')
           END AS detail
    FROM in_service AS s
    WHERE coalesce(s.last_seen_at, s.enrolled_at)
        < $to::TIMESTAMP - to_hours($silent_hours::INTEGER)
    UNION ALL
    SELECT 'seq_gap', p.device_id, p.hostname, p.employee_id, p.workgroup_id, p.org,
           g.missing || ' events missing: seq ' || g.ranges
    FROM gaps AS g
    JOIN people AS p ON p.device_id = g.device_id
    UNION ALL
    SELECT 'old_agent', s.device_id, s.hostname, s.employee_id, s.workgroup_id, s.org,
           'agent ' || s.agent_version || ', newest in service ' || n.agent_version
    FROM in_service AS s, newest AS n
    WHERE s.agent_key < n.agent_key
    UNION ALL
    SELECT 'old_catalog', s.device_id, s.hostname, s.employee_id, s.workgroup_id, s.org,
           'catalog ' || s.catalog_version || ', newest in service ' || n.catalog_version
    FROM in_service AS s, newest AS n
    WHERE s.catalog_key < n.catalog_key
    UNION ALL
    SELECT 'clock_skew', s.device_id, s.hostname, s.employee_id, s.workgroup_id, s.org,
           'clock ahead by at least ' || round(s.clock_offset_ms / 60000, 1) || ' min'
    FROM in_service AS s
    WHERE s.clock_offset_ms > 5 * 60 * 1000
    UNION ALL
    SELECT 'never_enrolled', NULL, a.hostname, a.employee_id, e.workgroup_id, a.org,
           'assigned since ' || strftime(a.valid_from, '%Y-%m-%d') || ', not enrolled'
    FROM device_assignments AS a
    LEFT JOIN employees AS e
        ON e.employee_id = a.employee_id
        AND e.valid_from <= $to::TIMESTAMP
        AND (e.valid_to IS NULL OR $to::TIMESTAMP < e.valid_to)
    WHERE a.valid_from <= $to::TIMESTAMP
      AND (a.valid_to IS NULL OR $to::TIMESTAMP < a.valid_to)
      AND a.hostname NOT IN (
          SELECT lower(hostname) FROM people WHERE hostname IS NOT NULL
      )
)
SELECT f.finding, f.device_id, f.hostname, f.employee_id, f.workgroup_id, f.detail, c.clause
FROM findings AS f
LEFT JOIN policy_clauses AS c ON c.org = f.org AND c.topic = 'safeguards'
WHERE ($org::VARCHAR IS NULL OR f.org = $org::VARCHAR)
  AND ($workgroup::VARCHAR IS NULL OR f.workgroup_id = $workgroup::VARCHAR)
  AND ($scope::VARCHAR[] IS NULL OR list_contains($scope::VARCHAR[], f.workgroup_id))
ORDER BY f.finding, f.workgroup_id, f.hostname, f.device_id
