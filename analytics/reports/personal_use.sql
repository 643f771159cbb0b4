-- name: personal_use
-- description: hours of personal apps in work hours, per organisation and workgroup only (opt-in)
-- clause: City 4.01.06 §4.1 / Library CS3.4.1 (personal use is allowed where it does not interfere with the job; reviewed by appropriate staff)
-- params: from, to, org, workgroup, scope
--
-- $from, $to  TIMESTAMP (UTC): the half-open range [from, to); every overlap is clipped to it.
-- $org, $workgroup, $scope: as in usage.sql (NULL: no filter).
--
-- Only for an organisation whose org_policies.personal_use_report is true (off unless an admin
-- enables it): for the others this returns no rows. Aggregated per organisation and workgroup
-- on purpose: no device, employee or app is named (§4.1: appropriate staff only).
-- Personal apps: catalog_apps.use = 'personal'. Work hours: org_policies.work_days,
-- [work_start_minute, work_end_minute) in the organisation's local time, turned into UTC spans
-- day by day (so daylight saving time moves them) before any session is read. A session counts
-- for the workgroup its employee was in when it started; employees counts distinct employees.
WITH enabled AS (
    SELECT org, time_zone, work_days, work_start_minute, work_end_minute
    FROM org_policies
    WHERE personal_use_report
      AND ($org::VARCHAR IS NULL OR org = $org::VARCHAR)
),
local_days AS (
    SELECT
        p.*,
        unnest(generate_series(
            timezone(p.time_zone, $from::TIMESTAMP AT TIME ZONE 'UTC')::DATE,
            timezone(p.time_zone, $to::TIMESTAMP AT TIME ZONE 'UTC')::DATE,
            INTERVAL 1 DAY
        ))::DATE AS local_day
    FROM enabled AS p
),
work_spans AS (
    SELECT
        org,
        greatest(
            $from::TIMESTAMP,
            timezone('UTC', timezone(time_zone, local_day + to_minutes(work_start_minute)))
        ) AS span_from,
        least(
            $to::TIMESTAMP,
            timezone('UTC', timezone(time_zone, local_day + to_minutes(work_end_minute)))
        ) AS span_to
    FROM local_days
    WHERE list_contains(work_days, isodow(local_day))
),
personal AS (
    SELECT sp.org, sp.workgroup_id, sp.employee_id, sp.started_at, sp.ended_at
    FROM session_people AS sp
    JOIN catalog_apps AS a ON a.app_id = sp.app_id
    WHERE a.use = 'personal'
      AND sp.started_at < $to::TIMESTAMP
      AND (sp.ended_at > $from::TIMESTAMP OR sp.started_at >= $from::TIMESTAMP)
      AND sp.ended_at >= $from::TIMESTAMP  -- implied; lets the scan skip earlier weeks (usage.sql)
      AND ($workgroup::VARCHAR IS NULL OR sp.workgroup_id = $workgroup::VARCHAR)
      AND ($scope::VARCHAR[] IS NULL OR list_contains($scope::VARCHAR[], sp.workgroup_id))
),
matches AS (
    SELECT
        u.org,
        u.workgroup_id,
        u.employee_id,
        greatest(u.started_at, w.span_from) AS overlap_from,
        least(u.ended_at, w.span_to) AS overlap_to
    FROM work_spans AS w
    JOIN personal AS u
        ON u.org = w.org
        -- overlaps the span as in usage.sql: ends after its start, or is an instant inside it
        AND u.started_at < w.span_to
        AND (u.ended_at > w.span_from OR u.started_at >= w.span_from)
    WHERE w.span_from < w.span_to
)
SELECT
    o.org,
    o.workgroup_id,
    count(DISTINCT o.employee_id) AS employees,
    round(sum(date_diff('millisecond', o.overlap_from, o.overlap_to)) / 3600000, 2)
        ::DECIMAL(12, 2) AS hours,
    c.clause
FROM matches AS o
LEFT JOIN policy_clauses AS c ON c.org = o.org AND c.topic = 'personal_use'
GROUP BY o.org, o.workgroup_id, c.clause
ORDER BY o.org, o.workgroup_id
