-- name: usage
-- description: hours of use by communication category and app
-- clause: City 4.01.06 §1.1 / Library CS3.1 (the communication technologies the policy covers)
-- params: from, to, device
--
-- $from, $to: TIMESTAMP (UTC), half-open range [from, to); each session is clipped to it.
-- $device: a device id, or NULL for every device.
WITH clipped AS (
    SELECT
        device_id, os_user, session_id, app_id, category,
        greatest(started_at, $from::TIMESTAMP) AS clip_start,
        least(ended_at, $to::TIMESTAMP) AS clip_end
    FROM sessions
    WHERE started_at < $to::TIMESTAMP
      AND ended_at >= $from::TIMESTAMP
      AND ($device::VARCHAR IS NULL OR device_id = $device::VARCHAR)
)
SELECT
    category,
    app_id,
    count(DISTINCT device_id) AS devices,
    count(DISTINCT (device_id, os_user)) AS users,
    count(*) AS sessions,
    round(sum(epoch(greatest(clip_end - clip_start, INTERVAL 0 SECOND))) / 3600, 2)::DECIMAL(12, 2)
        AS hours
FROM clipped
GROUP BY category, app_id
ORDER BY category, hours DESC, app_id
