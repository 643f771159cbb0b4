-- name: usage
-- description: hours of use by communication category and app, per organisation and workgroup
-- clause: City 4.01.06 §1.1 / Library CS3.1 (the communication technologies the policy covers)
-- params: from, to, org, workgroup, scope, device
--
-- $from, $to  TIMESTAMP (UTC): the half-open range [from, to); each session is clipped to it,
--             and a session entirely outside it does not count.
-- $org        VARCHAR: 'city' | 'library', or NULL for both.
-- $workgroup  VARCHAR: one workgroup id, or NULL for every workgroup.
-- $scope      VARCHAR[]: the workgroups the reader may see, or NULL for all; when given,
--             sessions outside them (and those of no workgroup) are left out, totals included.
-- $device     VARCHAR: one device id, or NULL for every device.
--
-- A session counts for the workgroup its employee was in when it started (session_people), so
-- an employee who moves mid-week adds hours to both workgroups.
-- users counts (device_id, os_user) pairs: the same OS account name on two devices need not be
-- the same person; employees counts the roster's people responsible for the devices.
-- A session with no evidence of its end (ended_at = started_at) counts as a session of 0 hours
-- when it starts inside the range, so an app that ran is never invisible.
--
-- cpu_seconds is the CPU time the sessions' processes used (user + system, summed over
-- processes): set against hours it tells an app left open in the background (near 0) from one
-- in use. The agent measures CPU time per session, not per minute, so a session clipped to the
-- range brings the share of its CPU time that its clipped time is of its whole time (as if used
-- evenly): ranges side by side add up to the session's total, never count it twice. A session of
-- no duration brings all of it. Sessions whose CPU time is unknown (agents too old to measure
-- it) add nothing; a row where none is known is NULL, not 0.
--
-- surface is where the sessions' app was seen (issue 9): process (a desktop client),
-- app_window (a browser app window or installed web app), browser_tab (an ordinary tab the
-- organisation's browser extension reported). A session seen on several is one session, counted
-- once, under its surfaces joined in name order: 'app_window+browser_tab'. So each surface, or
-- mix, is a row of its own, and a row's sessions and hours still add up to the app's. Blank
-- (NULL) is a session from an agent too old to say: it watched processes, which include browser
-- app windows, so it cannot honestly be called 'process'; it was never a browser tab.
-- foreground_seconds is the time one of the sessions' browser tabs was the active tab of the
-- focused window: set against hours it tells a tab open all day from one in use. It is shared
-- out of a clipped session as cpu_seconds is; the agent knows focus only in a browser tab, so it
-- is NULL for rows with none (and for older agents), never a false 0.
WITH clipped AS (
    SELECT
        org,
        workgroup_id,
        device_id,
        os_user,
        employee_id,
        app_id,
        category,
        array_to_string(surfaces, '+') AS surface,
        greatest(started_at, $from::TIMESTAMP) AS clip_start,
        least(ended_at, $to::TIMESTAMP) AS clip_end,
        -- the share of the session's time inside the range (see above)
        CASE
            WHEN ended_at <= started_at THEN 1
            ELSE date_diff('millisecond', clip_start, clip_end)
                / date_diff('millisecond', started_at, ended_at)
        END AS share,
        cpu_ms * share AS clip_cpu_ms,
        foreground_ms * share AS clip_foreground_ms
    FROM session_people
    WHERE started_at < $to::TIMESTAMP
      -- overlaps [from, to): ends after from, or is an instant that lies inside the range
      AND (ended_at > $from::TIMESTAMP OR started_at >= $from::TIMESTAMP)
      -- implied by the line above (no session ends before it starts); a plain comparison lets
      -- the scan skip the row groups of earlier weeks by their min/max
      AND ended_at >= $from::TIMESTAMP
      AND ($device::VARCHAR IS NULL OR device_id = $device::VARCHAR)
      AND ($org::VARCHAR IS NULL OR org = $org::VARCHAR)
      AND ($workgroup::VARCHAR IS NULL OR workgroup_id = $workgroup::VARCHAR)
      AND ($scope::VARCHAR[] IS NULL OR list_contains($scope::VARCHAR[], workgroup_id))
)
SELECT
    org,
    workgroup_id,
    category,
    app_id,
    surface,
    count(DISTINCT device_id) AS devices,
    count(DISTINCT (device_id, os_user)) AS users,
    count(DISTINCT employee_id) AS employees,
    count(*) AS sessions,
    -- whole milliseconds summed exactly, rounded once
    round(sum(date_diff('millisecond', clip_start, clip_end)) / 3600000, 2)::DECIMAL(12, 2)
        AS hours,
    round(sum(clip_foreground_ms) / 1000, 1)::DECIMAL(14, 1) AS foreground_seconds,
    round(sum(clip_cpu_ms) / 1000, 1)::DECIMAL(14, 1) AS cpu_seconds
FROM clipped
GROUP BY org, workgroup_id, category, app_id, surface
ORDER BY org, workgroup_id, category, hours DESC, app_id, surface
