-- Schema version 6: how much an app session was in use, not only running (issue 7 item 4).
-- cpu_ms is the CPU time (user + system, milliseconds) that a session's processes used while
-- they belonged to it, as the agent measures it: near 0 for an app left open in the background
-- all day, more for one in use. NULL where the agent did not measure it (agents older than the
-- field send nothing), which is not the same as 0. It is a total for the whole session, so a
-- report that clips a session to a range can only share it out (analytics/reports/usage.sql).

-- app_stopped: the session's total.
ALTER TABLE events ADD COLUMN cpu_ms UBIGINT;
-- heartbeat: each running session's total so far, in the order of running_sessions.
ALTER TABLE events ADD COLUMN running_cpu_ms UBIGINT[];
-- As analytics/sql/sessions.sql defines it: the stop's value, else the largest a heartbeat
-- reported (CPU time only grows during a session, so the largest is the latest).
ALTER TABLE sessions ADD COLUMN cpu_ms UBIGINT;
