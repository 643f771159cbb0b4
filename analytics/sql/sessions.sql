-- name: sessions
-- description: app sessions derived from raw events, one row per app_started
-- clause: City 4.01.06 §1.1 / Library CS3.1 (use of the covered communication technologies)
-- params:
--
-- The runner makes this `CREATE TEMP VIEW sessions AS ...` before any report runs: a temp view
-- works on a read-only connection, and it shadows any `sessions` table of the main schema.
-- Key: (device_id, session_id); the agent makes session ids, so they are unique per device only.
--
-- How a session ends, best evidence first (DESIGN.md §2):
--   1. app_stopped with the same (device_id, session_id): ended_at = started_at + duration_ms,
--      because the agent measures the duration on its monotonic clock, immune to wall-clock
--      jumps (the stop's own occurred_at is not); end_reason = its stop_reason
--      (exited | agent_stopped);
--   2. else the latest heartbeat of that device whose running_sessions lists it: ended_at = that
--      heartbeat's occurred_at (never before the start, should the device clock have stepped
--      back); end_reason = last_heartbeat (the agent died, or the session still runs);
--   3. else ended_at = started_at; end_reason = no_evidence (still counted as a session).
-- cpu_ms, the CPU time the session's processes used in it (schema 006), comes from the same
-- evidence: the stop's (of the shortest stop, as ended_at), else the largest any heartbeat
-- listing the session reported (CPU time only grows during a session, so the largest is the
-- latest, whatever the device clock did), else NULL. NULL also when the agent did not measure it.
-- Heartbeats are the bulk of all events (one a minute per device), so they are unnested once
-- and grouped to one row per (device_id, session_id) before any join.
WITH started AS (
    SELECT device_id, session_id, os_user, app_id, category, occurred_at AS started_at
    FROM events
    WHERE kind = 'app_started'
),
stopped AS (
    -- Storage dedupes on (device_id, seq); grouping keeps one row even if an agent ever sent
    -- a second stop for a session under a new seq.
    SELECT device_id, session_id,
           min(duration_ms) AS duration_ms,
           arg_min(stop_reason, duration_ms) AS stop_reason,
           arg_min_null(cpu_ms, duration_ms) AS cpu_ms
    FROM events
    WHERE kind = 'app_stopped'
    GROUP BY device_id, session_id
),
last_beat AS (
    SELECT device_id, session_id, max(occurred_at) AS seen_at, max(cpu_ms) AS cpu_ms
    FROM (
        -- the two lists are unnested side by side: the n-th CPU time is the n-th session's
        SELECT device_id, unnest(running_sessions) AS session_id,
               unnest(running_cpu_ms) AS cpu_ms, occurred_at
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
        WHEN st.session_id IS NOT NULL
            THEN s.started_at + to_milliseconds(st.duration_ms::BIGINT)
        WHEN b.session_id IS NOT NULL THEN greatest(b.seen_at, s.started_at)
        ELSE s.started_at
    END AS ended_at,
    CASE
        WHEN st.session_id IS NOT NULL THEN st.stop_reason
        WHEN b.session_id IS NOT NULL THEN 'last_heartbeat'
        ELSE 'no_evidence'
    END AS end_reason,
    CASE WHEN st.session_id IS NOT NULL THEN st.cpu_ms ELSE b.cpu_ms END AS cpu_ms
FROM started AS s
LEFT JOIN stopped AS st USING (device_id, session_id)
LEFT JOIN last_beat AS b USING (device_id, session_id)
