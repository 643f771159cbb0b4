-- name: usage_by_day
-- description: hours of use by communication category, day by day (UTC days)
-- clause: City 4.01.06 §1.1 / Library CS3.1 (the communication technologies the policy covers)
-- params: from, to, org, workgroup, scope, device
--
-- $from, $to, $org, $workgroup, $scope, $device: as in usage.sql.
--
-- usage.sql's sessions, each clipped to the range and then cut at every UTC midnight, so a
-- session from 23:00 to 01:00 gives an hour to each day. milliseconds is exact; hours is it
-- rounded once per row, so sums over days should be taken of milliseconds (the weekly trend of
-- the directors' summaries does). A session with no evidence of its end counts on its start
-- day with 0 hours, as in usage.sql.
WITH clipped AS (
    SELECT
        category,
        greatest(started_at, $from::TIMESTAMP) AS clip_start,
        least(ended_at, $to::TIMESTAMP) AS clip_end
    FROM session_people
    WHERE started_at < $to::TIMESTAMP
      AND (ended_at > $from::TIMESTAMP OR started_at >= $from::TIMESTAMP)
      AND ended_at >= $from::TIMESTAMP
      AND ($device::VARCHAR IS NULL OR device_id = $device::VARCHAR)
      AND ($org::VARCHAR IS NULL OR org = $org::VARCHAR)
      AND ($workgroup::VARCHAR IS NULL OR workgroup_id = $workgroup::VARCHAR)
      AND ($scope::VARCHAR[] IS NULL OR list_contains($scope::VARCHAR[], workgroup_id))
),
cut AS (
    SELECT
        category,
        clip_start,
        clip_end,
        unnest(generate_series(
            date_trunc('day', clip_start), date_trunc('day', clip_end), INTERVAL 1 DAY
        )) AS day_start
    FROM clipped
),
pieces AS (
    SELECT
        day_start::DATE AS day,
        category,
        date_diff(
            'millisecond',
            greatest(clip_start, day_start),
            least(clip_end, day_start + INTERVAL 1 DAY)
        ) AS milliseconds,
        clip_start = clip_end AS instant
    FROM cut
)
SELECT
    day,
    category,
    count(*) AS sessions,
    sum(milliseconds)::BIGINT AS milliseconds,
    round(sum(milliseconds) / 3600000, 2)::DECIMAL(12, 2) AS hours
FROM pieces
-- a piece of a real session that falls on a day it does not reach (it ends at midnight) is
-- dropped; an instant session keeps its one piece
WHERE milliseconds > 0 OR instant
GROUP BY day, category
ORDER BY day, category
