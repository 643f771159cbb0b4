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
-- foreground_ms, the time one of its browser tabs was the active tab of the focused window
-- (schema 008), comes the same way as cpu_ms: it too only grows during a session.
-- surfaces (process | app_window | browser_tab) and browsers are every one that the session's
-- start, any stop or any heartbeat listing it named, distinct and sorted by name: a YouTube app
-- window and a YouTube tab of one user are one session, seen on both (issue 9 item 3). NULL when
-- none named any: agents older than schema 008 cannot say, which is not the same as "none".
-- Heartbeats are the bulk of all events (one a minute per device), so they are unnested once
-- and grouped to one row per (device_id, session_id) before any join.
WITH started AS (
    SELECT device_id, session_id, os_user, app_id, category, occurred_at AS started_at,
           surfaces, browsers
    FROM events
    WHERE kind = 'app_started'
),
stopped AS (
    -- Storage dedupes on (device_id, seq); grouping keeps one row even if an agent ever sent
    -- a second stop for a session under a new seq.
    SELECT device_id, session_id,
           min(duration_ms) AS duration_ms,
           arg_min(stop_reason, duration_ms) AS stop_reason,
           arg_min_null(cpu_ms, duration_ms) AS cpu_ms,
           arg_min_null(foreground_ms, duration_ms) AS foreground_ms,
           flatten(list(DISTINCT surfaces) FILTER (WHERE surfaces IS NOT NULL)) AS surfaces,
           flatten(list(DISTINCT browsers) FILTER (WHERE browsers IS NOT NULL)) AS browsers
    FROM events
    WHERE kind = 'app_stopped'
    GROUP BY device_id, session_id
),
last_beat AS (
    SELECT device_id, session_id, max(occurred_at) AS seen_at, max(cpu_ms) AS cpu_ms,
           max(foreground_ms) AS foreground_ms,
           flatten(list(DISTINCT surfaces) FILTER (WHERE surfaces IS NOT NULL)) AS surfaces,
           flatten(list(DISTINCT browsers) FILTER (WHERE browsers IS NOT NULL)) AS browsers
    FROM (
        -- the lists are unnested side by side: the n-th entry of each is the n-th session's
        -- (a list an older agent did not send is NULL, and unnests as NULL for every session)
        SELECT device_id, unnest(running_sessions) AS session_id,
               unnest(running_cpu_ms) AS cpu_ms,
               unnest(running_foreground_ms) AS foreground_ms,
               unnest(running_surfaces) AS surfaces,
               unnest(running_browsers) AS browsers,
               occurred_at
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
    CASE WHEN st.session_id IS NOT NULL THEN st.cpu_ms ELSE b.cpu_ms END AS cpu_ms,
    -- the union of all three, NULL rather than an empty list (see above)
    nullif(list_sort(list_distinct(flatten([s.surfaces, st.surfaces, b.surfaces]))), [])
        AS surfaces,
    nullif(list_sort(list_distinct(flatten([s.browsers, st.browsers, b.browsers]))), [])
        AS browsers,
    CASE WHEN st.session_id IS NOT NULL THEN st.foreground_ms ELSE b.foreground_ms END
        AS foreground_ms
FROM started AS s
LEFT JOIN stopped AS st USING (device_id, session_id)
LEFT JOIN last_beat AS b USING (device_id, session_id)
