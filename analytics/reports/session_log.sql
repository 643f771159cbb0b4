-- name: session_log
-- description: every app session in the range, one row each, for review of a device's use
-- clause: City 4.01.06 §3.1 / §4.1, Library CS3.3.1 / CS3.4.1 (use of employer technology may be reviewed by appropriate staff)
-- params: from, to, org, workgroup, scope, device
--
-- $from, $to: TIMESTAMP (UTC), half-open range [from, to): sessions that overlap it, unclipped.
-- $org, $workgroup, $scope, $device: as in usage.sql (NULL: no filter); workgroup and employee
-- are those responsible when the session started.
-- end_reason says how the end is known: exited | agent_stopped (measured by the agent),
-- last_heartbeat (the agent stopped reporting it, or it still runs), no_evidence.
-- cpu_seconds is the CPU time the session's processes used in it (user + system, summed over
-- processes, so it can exceed the wall time on several cores): near 0 for an app left open in
-- the background, more for one in use. Against minutes it tells "open all day" from "in use".
-- For a session ended by heartbeat it is the total the last heartbeat reported; NULL when the
-- agent did not measure it (older agents) or no stop or heartbeat reported it yet.
-- surface is where the app was seen (issue 9): process | app_window | browser_tab, several
-- joined in name order ('app_window+browser_tab': a YouTube app window and a YouTube tab of one
-- user are one session); browsers likewise ('chrome+edge'). Blank (NULL) when the agent was too
-- old to say: it watched processes, browser app windows among them, so blank is not 'process'.
-- foreground_seconds is the time one of its browser tabs was the active tab of the focused
-- window: beside minutes it tells a tab open all day from one in use. NULL, not 0, when the
-- session had no browser tab (the agent knows focus only there) or the agent was too old.
SELECT
    device_id,
    org,
    workgroup_id,
    employee_id,
    os_user,
    app_id,
    category,
    array_to_string(surfaces, '+') AS surface,
    array_to_string(browsers, '+') AS browsers,
    started_at,
    ended_at,
    round(epoch(ended_at - started_at) / 60, 1)::DECIMAL(10, 1) AS minutes,
    round(foreground_ms / 1000, 1)::DECIMAL(12, 1) AS foreground_seconds,
    end_reason,
    round(cpu_ms / 1000, 1)::DECIMAL(12, 1) AS cpu_seconds
FROM session_people
WHERE started_at < $to::TIMESTAMP
  -- overlaps [from, to) as in usage.sql: ends after from, or is an instant inside the range
  AND (ended_at > $from::TIMESTAMP OR started_at >= $from::TIMESTAMP)
  AND ended_at >= $from::TIMESTAMP  -- implied; lets the scan skip earlier weeks (usage.sql)
  AND ($device::VARCHAR IS NULL OR device_id = $device::VARCHAR)
  AND ($org::VARCHAR IS NULL OR org = $org::VARCHAR)
  AND ($workgroup::VARCHAR IS NULL OR workgroup_id = $workgroup::VARCHAR)
  AND ($scope::VARCHAR[] IS NULL OR list_contains($scope::VARCHAR[], workgroup_id))
ORDER BY started_at, device_id, app_id
