-- name: usage
-- description: hours of use by communication category and app
-- clause: City 4.01.06 §1.1 / Library CS3.1 (the communication technologies the policy covers)
-- params: from, to, device
--
-- $from, $to  TIMESTAMP (UTC): the half-open range [from, to); each session is clipped to it,
--             and a session entirely outside it does not count.
-- $device     VARCHAR: one device id, or NULL for every device.
--
-- users counts (device_id, os_user) pairs: the same OS account name on two devices need not be
-- the same person until the roster maps accounts to employees.
-- A session with no evidence of its end (ended_at = started_at) counts as a session of 0 hours
-- when it starts inside the range, so an app that ran is never invisible.
WITH clipped AS (
    SELECT
        device_id,
        os_user,
        app_id,
        category,
        greatest(started_at, $from::TIMESTAMP) AS clip_start,
        least(ended_at, $to::TIMESTAMP) AS clip_end
    FROM sessions
    WHERE ($device::VARCHAR IS NULL OR device_id = $device::VARCHAR)
      AND started_at < $to::TIMESTAMP
      -- overlaps [from, to): ends after from, or is an instant that lies inside the range
      AND (ended_at > $from::TIMESTAMP OR started_at >= $from::TIMESTAMP)
)
SELECT
    category,
    app_id,
    count(DISTINCT device_id) AS devices,
    count(DISTINCT (device_id, os_user)) AS users,
    count(*) AS sessions,
    -- whole milliseconds summed exactly, rounded once
    round(sum(date_diff('millisecond', clip_start, clip_end)) / 3600000, 2)::DECIMAL(12, 2)
        AS hours
FROM clipped
GROUP BY category, app_id
ORDER BY category, hours DESC, app_id
