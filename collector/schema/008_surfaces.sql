-- Schema version 8: where a session's app was seen, and how long it was in front of the user
-- (issue 9 items 3-4: "the surface (process, app window, browser tab) and the browser recorded,
-- and foreground seconds beside open seconds, so that reports can tell 'open all day' from
-- 'in use'"; "reports gain the surface as a column").
--
-- Surfaces are the lowercase names of commaudit.v1.Surface: process | app_window | browser_tab.
-- Browsers: chromium | chrome | edge | firefox. Agents older than the fields send neither, and
-- protobuf cannot tell an empty list from an absent one, so an empty list is stored as NULL:
-- unknown, never "none". foreground_ms is the time one of the session's browser tabs was the
-- active tab of the focused window (the agent knows focus only there): NULL where the session
-- had no browser tab or the agent is older, which is not the same as 0.

-- app_started: the surfaces and browsers it was seen on when it began.
-- app_stopped: all it was seen on during the session, and its foreground total.
ALTER TABLE events ADD COLUMN surfaces VARCHAR[];
ALTER TABLE events ADD COLUMN browsers VARCHAR[];
ALTER TABLE events ADD COLUMN foreground_ms UBIGINT;
-- heartbeat: each running session's so far, in the order of running_sessions (as 006's
-- running_cpu_ms); an entry is NULL where the agent did not say.
ALTER TABLE events ADD COLUMN running_surfaces VARCHAR[][];
ALTER TABLE events ADD COLUMN running_browsers VARCHAR[][];
ALTER TABLE events ADD COLUMN running_foreground_ms UBIGINT[];

-- As analytics/sql/sessions.sql defines them: surfaces and browsers are every one any start,
-- stop or heartbeat of the session named, sorted by name (NULL when none named any);
-- foreground_ms is the stop's value, else the largest a heartbeat reported (as 006's cpu_ms).
ALTER TABLE sessions ADD COLUMN surfaces VARCHAR[];
ALTER TABLE sessions ADD COLUMN browsers VARCHAR[];
ALTER TABLE sessions ADD COLUMN foreground_ms UBIGINT;
