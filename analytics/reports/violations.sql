-- name: violations
-- description: use of a restricted app or category while a restriction of the employee's workgroup was in force
-- clause: City 4.01.06 §4.4 / Library CS3.4.4 (directors may restrict communication technology within their workgroups)
-- params: from, to, org, workgroup, scope
--
-- $from, $to  TIMESTAMP (UTC): the half-open range [from, to); every overlap is clipped to it.
-- $org, $workgroup, $scope: as in usage.sql (NULL: no filter).
--
-- In force: the newest version of a restriction_id, over [effective_from, effective_to), and,
-- when that version has restriction_windows, only inside those weekly windows. Windows are
-- local wall-clock time in the organisation's time zone (org_policies.time_zone), so their UTC
-- position moves with daylight saving time; they are turned into UTC spans once per
-- restriction and day, on the small side, before any session is read.
-- A session is matched to the restrictions of the workgroup its employee was in when it started
-- (session_people) and gives one row per span it overlaps: a session from Monday 16:00 to
-- Tuesday 09:00 under 'Mon-Fri 08:00-17:00' is two rows, and one that began before the
-- restriction took effect counts from then. start is where the overlap begins; minutes is its
-- length. A session with no evidence of its end (0 minutes) still counts when it started
-- inside a span: the app was started while restricted.
-- Every session counts, whatever its surface (issue 9): a restricted app used in an ordinary
-- browser tab is a violation as its desktop client would be. surface says where it was seen,
-- as in session_log.sql ('browser_tab', 'app_window+browser_tab', ...; blank from agents too
-- old to say).
WITH newest AS (
    SELECT *
    FROM restrictions
    QUALIFY version = max(version) OVER (PARTITION BY restriction_id)
),
live AS (
    -- in force at some point of [from, to), its dates clipped to the range
    SELECT
        r.restriction_id,
        r.version,
        r.org,
        r.workgroup_id,
        r.app_id,
        r.category,
        p.time_zone,
        greatest(r.effective_from, $from::TIMESTAMP) AS live_from,
        least(coalesce(r.effective_to, $to::TIMESTAMP), $to::TIMESTAMP) AS live_to
    FROM newest AS r
    JOIN org_policies AS p ON p.org = r.org
    WHERE r.effective_from < $to::TIMESTAMP
      AND (r.effective_to IS NULL OR r.effective_to > $from::TIMESTAMP)
      AND r.effective_from < coalesce(r.effective_to, 'infinity'::TIMESTAMP)
      AND ($org::VARCHAR IS NULL OR r.org = $org::VARCHAR)
      AND ($workgroup::VARCHAR IS NULL OR r.workgroup_id = $workgroup::VARCHAR)
      AND ($scope::VARCHAR[] IS NULL OR list_contains($scope::VARCHAR[], r.workgroup_id))
),
local_days AS (
    -- each local calendar day the scheduled restrictions' live dates touch
    SELECT
        l.*,
        unnest(generate_series(
            timezone(l.time_zone, l.live_from AT TIME ZONE 'UTC')::DATE,
            timezone(l.time_zone, l.live_to AT TIME ZONE 'UTC')::DATE,
            INTERVAL 1 DAY
        ))::DATE AS local_day
    FROM live AS l
    WHERE EXISTS (
        SELECT 1 FROM restriction_windows AS w
        WHERE w.restriction_id = l.restriction_id AND w.version = l.version
    )
),
windows AS (
    -- that day's windows, local wall-clock turned into UTC on that very day
    SELECT
        d.*,
        timezone('UTC', timezone(d.time_zone, d.local_day + to_minutes(w.start_minute)))
            AS window_from,
        timezone('UTC', timezone(d.time_zone, d.local_day + to_minutes(w.end_minute)))
            AS window_to
    FROM local_days AS d
    JOIN restriction_windows AS w
        ON w.restriction_id = d.restriction_id
        AND w.version = d.version
        AND w.iso_day = isodow(d.local_day)
),
spans AS (
    -- where each restriction is in force within [from, to), in UTC
    SELECT restriction_id, org, workgroup_id, app_id, category, live_from AS span_from,
           live_to AS span_to
    FROM live AS l
    WHERE NOT EXISTS (
        SELECT 1 FROM restriction_windows AS w
        WHERE w.restriction_id = l.restriction_id AND w.version = l.version
    )
    UNION ALL
    SELECT restriction_id, org, workgroup_id, app_id, category,
           greatest(live_from, window_from), least(live_to, window_to)
    FROM windows
    WHERE greatest(live_from, window_from) < least(live_to, window_to)
),
matches AS (
    -- the spans (a few rows) are hashed on workgroup_id and every session of the range probes
    -- them once; the app-or-category test and the span's times are checked per match.
    -- Measured on 10M sessions (DESIGN.md §5): reading only the restricted devices' sessions
    -- first, or matching on an unnested (app, category) key, was no faster in DuckDB 1.5.5.
    SELECT
        sp.device_id,
        sp.employee_id,
        sp.workgroup_id,
        sp.app_id,
        sp.category,
        sp.surfaces,
        coalesce(sp.org, s.org) AS org,
        s.restriction_id,
        greatest(sp.started_at, s.span_from) AS overlap_from,
        least(sp.ended_at, s.span_to) AS overlap_to
    FROM spans AS s
    JOIN session_people AS sp
        ON sp.workgroup_id = s.workgroup_id
        AND (sp.app_id = s.app_id OR sp.category = s.category)
        -- overlaps the span as in usage.sql: ends after its start, or is an instant inside it
        AND sp.started_at < s.span_to
        AND (sp.ended_at > s.span_from OR sp.started_at >= s.span_from)
    -- the same test against the whole range, so that only the range's sessions are joined
    -- (the last line is implied, and lets the scan skip earlier weeks: usage.sql)
    WHERE sp.started_at < $to::TIMESTAMP
      AND (sp.ended_at > $from::TIMESTAMP OR sp.started_at >= $from::TIMESTAMP)
      AND sp.ended_at >= $from::TIMESTAMP
)
SELECT
    o.device_id,
    o.employee_id,
    o.workgroup_id,
    o.app_id,
    o.category,
    array_to_string(o.surfaces, '+') AS surface,
    o.restriction_id,
    o.overlap_from AS start,
    round(epoch(o.overlap_to - o.overlap_from) / 60, 1)::DECIMAL(10, 1) AS minutes,
    c.clause
FROM matches AS o
LEFT JOIN policy_clauses AS c ON c.org = o.org AND c.topic = 'restriction'
ORDER BY start, o.device_id, o.restriction_id
