-- name: sessions
-- description: app sessions derived from raw events, one row per app_started
-- clause: City 4.01.06 §1.1 / Library CS3.1 (use of the covered communication technologies)
--
-- How a session ends, best evidence first:
--   app_stopped with the same (device_id, session_id): ended_at = started_at + duration_ms, since
--     the agent measures the duration on its monotonic clock, immune to wall-clock jumps;
--     end_reason = its stop_reason (exited | agent_stopped);
--   else the latest heartbeat of that device listing the session: ended_at = that heartbeat;
--     end_reason = last_heartbeat (the agent died, or the session still runs);
--   else ended_at = started_at; end_reason = no_evidence.
-- Heartbeats are the bulk of the events, so they are unnested once and grouped.
WITH started AS (
    SELECT device_id, session_id, os_user, app_id, category, occurred_at AS started_at
    FROM events
    WHERE kind = 'app_started'
),
stopped AS (
    SELECT device_id, session_id, any_value(duration_ms) AS duration_ms,
           any_value(stop_reason) AS stop_reason
    FROM events
    WHERE kind = 'app_stopped'
    GROUP BY device_id, session_id
),
last_beat AS (
    SELECT device_id, session_id, max(occurred_at) AS seen_at
    FROM (
        SELECT device_id, unnest(running_sessions) AS session_id, occurred_at
        FROM events
        WHERE kind = 'heartbeat' AND len(running_sessions) > 0
    )
    GROUP BY device_id, session_id
)
SELECT
    s.device_id,
    s.session_id,
    s.os_user,
    s.app_id,
    s.category,
    s.started_at,
    CASE
        WHEN st.session_id IS NOT NULL THEN s.started_at + to_milliseconds(st.duration_ms::BIGINT)
        WHEN b.session_id IS NOT NULL THEN greatest(b.seen_at, s.started_at)
        ELSE s.started_at
    END AS ended_at,
    CASE
        WHEN st.session_id IS NOT NULL THEN st.stop_reason
        WHEN b.session_id IS NOT NULL THEN 'last_heartbeat'
        ELSE 'no_evidence'
    END AS end_reason
FROM started AS s
LEFT JOIN stopped AS st USING (device_id, session_id)
LEFT JOIN last_beat AS b USING (device_id, session_id)
