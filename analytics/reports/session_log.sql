-- name: session_log
-- description: every app session in the range, one row each, for review of a device's use
-- clause: City 4.01.06 §3.1 / §4.1, Library CS3.3.1 / CS3.4.1 (use of employer technology may be reviewed by appropriate staff)
-- params: from, to, device
--
-- $from, $to: TIMESTAMP (UTC), half-open range [from, to): sessions that overlap it, unclipped.
-- $device: a device id, or NULL for every device.
-- end_reason says how the end is known: exited | agent_stopped (measured by the agent),
-- last_heartbeat (the agent stopped reporting it, or it still runs), no_evidence.
SELECT
    device_id,
    os_user,
    app_id,
    category,
    started_at,
    ended_at,
    round(epoch(ended_at - started_at) / 60, 1)::DECIMAL(10, 1) AS minutes,
    end_reason
FROM sessions
WHERE ($device::VARCHAR IS NULL OR device_id = $device::VARCHAR)
  AND started_at < $to::TIMESTAMP
  -- overlaps [from, to) as in usage.sql: ends after from, or is an instant inside the range
  AND (ended_at > $from::TIMESTAMP OR started_at >= $from::TIMESTAMP)
ORDER BY started_at, device_id, app_id
