"""The derived tables `sessions` and `device_health` (schema 004), folded from new events.

Why incremental: analytics/sql/sessions.sql derives sessions from every event, heartbeats (the
bulk) included; the collector refreshes before each publish (lake.py), so it folds only the
events stored since the last refresh and says which rows changed.

The watermark is the events table's `rowid`. DuckDB 1.5.5 numbers a table's rows by position
and appends after the last one; the numbers persist through checkpoints and reopening and change
only when a checkpoint vacuums deleted rows. Events are never deleted or updated (store.py only
appends, from one writer), so every event has one rowid for good, later commits get higher ones,
and the events with rowid <= a watermark never change (tests/collector/test_session_table.py
checks this across a checkpoint, a reopen and a rolled-back append).

Folding a range again changes nothing: a start fills a row only if it has none, a stop keeps the
shortest duration (sessions.sql's min) and that stop's CPU and foreground time, a heartbeat the
latest instant (max) and, while no stop is known, the largest CPU and foreground time, surfaces
and browsers are a union (sorted), and a device's "latest" values come from the range's highest
rowid. So a refresh that committed before a publish failed is simply folded again from the
published watermark.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from collector.store import with_table

NOTHING_FOLDED = -1
"""The watermark before the first event: rowids start at 0."""


@dataclass(frozen=True)
class Refresh:
    last_rowid: int
    """The events folded so far: rowid <= last_rowid (the argument when nothing was new)."""
    sessions_changed: pa.Table
    """(device_id, session_id) of every `sessions` row inserted or changed; ids as text."""
    devices_changed: pa.Table
    """(device_id) of every `device_health` row inserted or changed."""


def _union(*lists: str) -> str:
    """sessions.sql's surfaces and browsers: every value any of the lists names, sorted; NULL,
    not an empty list, when none names any (an agent too old to say)."""
    return f"nullif(list_sort(list_distinct(flatten([{', '.join(lists)}]))), [])"


# One row per session touched by the new events, with what they say about it. The first stored
# start wins (sessions.sql would show a second start as a second row; agents send one).
_SESSION_DELTA = f"""
WITH new AS (
    SELECT rowid AS r, device_id, kind, session_id, os_user, app_id, category, occurred_at,
           duration_ms, stop_reason, running_sessions, cpu_ms, running_cpu_ms, surfaces,
           browsers, foreground_ms, running_surfaces, running_browsers, running_foreground_ms
    FROM events
    WHERE rowid > $after AND rowid <= $last
      AND kind IN ('app_started', 'app_stopped', 'heartbeat')
),
started AS (
    SELECT device_id, session_id, os_user, app_id, category, occurred_at AS started_at,
           surfaces, browsers
    FROM new
    WHERE kind = 'app_started'
    QUALIFY row_number() OVER (PARTITION BY device_id, session_id ORDER BY r) = 1
),
stopped AS (
    SELECT device_id, session_id,
           min(duration_ms) AS duration_ms,
           arg_min(stop_reason, duration_ms) AS stop_reason,
           arg_min_null(cpu_ms, duration_ms) AS cpu_ms,
           arg_min_null(foreground_ms, duration_ms) AS foreground_ms,
           flatten(list(DISTINCT surfaces) FILTER (WHERE surfaces IS NOT NULL)) AS surfaces,
           flatten(list(DISTINCT browsers) FILTER (WHERE browsers IS NOT NULL)) AS browsers
    FROM new
    WHERE kind = 'app_stopped'
    GROUP BY device_id, session_id
),
beats AS (
    SELECT device_id, session_id, max(occurred_at) AS last_beat_at, max(cpu_ms) AS cpu_ms,
           max(foreground_ms) AS foreground_ms,
           flatten(list(DISTINCT surfaces) FILTER (WHERE surfaces IS NOT NULL)) AS surfaces,
           flatten(list(DISTINCT browsers) FILTER (WHERE browsers IS NOT NULL)) AS browsers
    FROM (
        SELECT device_id, unnest(running_sessions) AS session_id,
               unnest(running_cpu_ms) AS cpu_ms, unnest(running_foreground_ms) AS foreground_ms,
               unnest(running_surfaces) AS surfaces, unnest(running_browsers) AS browsers,
               occurred_at
        FROM new
        WHERE kind = 'heartbeat' AND len(running_sessions) > 0
    )
    GROUP BY device_id, session_id
),
touched AS (
    SELECT device_id, session_id FROM started
    UNION SELECT device_id, session_id FROM stopped
    UNION SELECT device_id, session_id FROM beats
)
SELECT t.device_id, t.session_id::VARCHAR AS session_id, s.os_user, s.app_id, s.category,
       s.started_at, st.duration_ms, st.stop_reason, b.last_beat_at,
       -- the range's stop's, else its heartbeats' largest (merged with the row's in the upsert)
       CASE WHEN st.session_id IS NOT NULL THEN st.cpu_ms ELSE b.cpu_ms END AS cpu_ms,
       CASE WHEN st.session_id IS NOT NULL THEN st.foreground_ms ELSE b.foreground_ms END
           AS foreground_ms,
       {_union("s.surfaces", "st.surfaces", "b.surfaces")} AS surfaces,
       {_union("s.browsers", "st.browsers", "b.browsers")} AS browsers
FROM touched AS t
LEFT JOIN started AS s USING (device_id, session_id)
LEFT JOIN stopped AS st USING (device_id, session_id)
LEFT JOIN beats AS b USING (device_id, session_id)
"""


def _ended_at(started: str, duration: str, beat: str) -> str:
    """sessions.sql's end, best evidence first: the stop's duration (monotonic clock), else
    the last heartbeat listing it (never before the start), else the start itself."""
    return f"""CASE
        WHEN {started} IS NULL THEN NULL
        WHEN {duration} IS NOT NULL THEN {started} + to_milliseconds(({duration})::BIGINT)
        WHEN {beat} IS NOT NULL THEN greatest({beat}, {started})
        ELSE {started}
    END"""


def _end_reason(started: str, duration: str, reason: str, beat: str) -> str:
    return f"""CASE
        WHEN {started} IS NULL THEN NULL
        WHEN {duration} IS NOT NULL THEN {reason}
        WHEN {beat} IS NOT NULL THEN 'last_heartbeat'
        ELSE 'no_evidence'
    END"""


# The merged values of a row that exists (`sessions`) and what the new events say (`excluded`).
_STARTED = "coalesce(sessions.started_at, excluded.started_at)"
_SHORTER = "(sessions.duration_ms IS NULL OR excluded.duration_ms < sessions.duration_ms)"
_DURATION = f"CASE WHEN {_SHORTER} THEN excluded.duration_ms ELSE sessions.duration_ms END"
_REASON = f"CASE WHEN {_SHORTER} THEN excluded.stop_reason ELSE sessions.stop_reason END"
_BEAT = "greatest(sessions.last_beat_at, excluded.last_beat_at)"
# sessions.sql's CPU and foreground time: the shortest stop's (NULL included), else the largest
# heartbeat's.
_FROM_SHORTEST_STOP = """CASE
        WHEN excluded.duration_ms IS NOT NULL
             AND (sessions.duration_ms IS NULL OR excluded.duration_ms < sessions.duration_ms)
            THEN excluded.{0}
        WHEN sessions.duration_ms IS NOT NULL THEN sessions.{0}
        ELSE greatest(sessions.{0}, excluded.{0})
    END"""
_FROM_START = "CASE WHEN sessions.started_at IS NULL THEN excluded.{0} ELSE sessions.{0} END"

_UPSERT_SESSIONS = f"""
INSERT INTO sessions BY NAME
SELECT * REPLACE (session_id::UUID AS session_id),
       {_ended_at("started_at", "duration_ms", "last_beat_at")} AS ended_at,
       {_end_reason("started_at", "duration_ms", "stop_reason", "last_beat_at")} AS end_reason
FROM session_delta
ON CONFLICT (device_id, session_id) DO UPDATE SET
    os_user = {_FROM_START.format("os_user")},
    app_id = {_FROM_START.format("app_id")},
    category = {_FROM_START.format("category")},
    started_at = {_STARTED},
    duration_ms = {_DURATION},
    stop_reason = {_REASON},
    last_beat_at = {_BEAT},
    cpu_ms = {_FROM_SHORTEST_STOP.format("cpu_ms")},
    foreground_ms = {_FROM_SHORTEST_STOP.format("foreground_ms")},
    surfaces = {_union("sessions.surfaces", "excluded.surfaces")},
    browsers = {_union("sessions.browsers", "excluded.browsers")},
    ended_at = {_ended_at(_STARTED, _DURATION, _BEAT)},
    end_reason = {_end_reason(_STARTED, _DURATION, _REASON, _BEAT)}
"""

# Each device's latest state in the new events, "latest" meaning stored last (highest rowid):
# an agent sends in seq order, so this is the device's own order but for a late event filling
# a seq gap. The clock offset is that of the device's latest committed group (same received_at).
_DEVICE_DELTA = """
WITH new AS (
    SELECT rowid AS r, device_id, kind, occurred_at, received_at, agent_version,
           catalog_version, events_dropped
    FROM events
    WHERE rowid > $after AND rowid <= $last
),
latest AS (
    SELECT device_id,
           arg_min(received_at, r) AS first_seen_at,
           arg_max(received_at, r) AS last_seen_at,
           arg_max(occurred_at, r) FILTER (WHERE kind = 'heartbeat') AS last_heartbeat_at,
           arg_max(agent_version, r) FILTER (
               WHERE kind IN ('heartbeat', 'agent_lifecycle') AND agent_version IS NOT NULL
           ) AS agent_version,
           arg_max(catalog_version, r) FILTER (
               WHERE kind IN ('heartbeat', 'agent_lifecycle') AND catalog_version IS NOT NULL
           ) AS catalog_version,
           arg_max(events_dropped, r) FILTER (WHERE kind = 'heartbeat') AS events_dropped
    FROM new
    GROUP BY device_id
),
last_group AS (
    SELECT n.device_id, epoch_ms(max(n.occurred_at)) - epoch_ms(l.last_seen_at) AS offset_ms
    FROM new AS n
    JOIN latest AS l ON n.device_id = l.device_id AND n.received_at = l.last_seen_at
    GROUP BY n.device_id, l.last_seen_at
)
SELECT l.device_id, l.first_seen_at, l.last_seen_at, l.last_heartbeat_at, l.agent_version,
       l.catalog_version, g.offset_ms AS clock_offset_ms, l.events_dropped
FROM latest AS l
JOIN last_group AS g USING (device_id)
"""

_UPSERT_DEVICES = """
INSERT INTO device_health BY NAME SELECT * FROM device_delta
ON CONFLICT (device_id) DO UPDATE SET
    last_seen_at = excluded.last_seen_at,
    last_heartbeat_at = coalesce(excluded.last_heartbeat_at, device_health.last_heartbeat_at),
    agent_version = coalesce(excluded.agent_version, device_health.agent_version),
    catalog_version = coalesce(excluded.catalog_version, device_health.catalog_version),
    clock_offset_ms = excluded.clock_offset_ms,
    events_dropped = CASE WHEN excluded.last_heartbeat_at IS NULL
                          THEN device_health.events_dropped ELSE excluded.events_dropped END
"""


def refresh_derived(con: duckdb.DuckDBPyConnection, after_rowid: int) -> Refresh:
    """Fold the events with rowid > after_rowid into `sessions` and `device_health`.

    Run it inside a transaction for the tables and the returned watermark to change together
    (the publisher does); without one it is still correct, since folding again is harmless.
    """
    row = con.execute(
        "SELECT coalesce(max(rowid), $after) FROM events WHERE rowid > $after",
        {"after": after_rowid},
    ).fetchone()
    last = int(row[0]) if row else after_rowid
    bounds = {"after": after_rowid, "last": last}
    sessions = con.execute(_SESSION_DELTA, bounds).to_arrow_table()
    devices = con.execute(_DEVICE_DELTA, bounds).to_arrow_table()
    if sessions.num_rows:
        with_table(con, "session_delta", sessions, _UPSERT_SESSIONS)
    if devices.num_rows:
        with_table(con, "device_delta", devices, _UPSERT_DEVICES)
    return Refresh(
        last_rowid=last,
        sessions_changed=sessions.select(["device_id", "session_id"]),
        devices_changed=devices.select(["device_id"]),
    )
