"""The derived `sessions` and `device_health` tables, folded from new events by rowid: the
watermark holds in DuckDB, each fold states by hand, and any batching equals sessions.sql."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.report_files import sessions_query
from collector.encode import SCHEMA
from collector.schema import apply_migrations
from collector.session_table import NOTHING_FOLDED, Refresh, refresh_derived

T0 = datetime(2026, 11, 18, 9)
S1, S2, S3 = (str(uuid.UUID(int=n)) for n in (1, 2, 3))

_INSERT = """
INSERT INTO events BY NAME
SELECT * REPLACE (event_id::UUID AS event_id, session_id::UUID AS session_id,
                  running_sessions::UUID[] AS running_sessions)
FROM batch
"""


def ms(at: datetime) -> int:
    return int((at - datetime(1970, 1, 1)).total_seconds() * 1000)


class Events:
    """Appends events as the collector stores them (Arrow, one transaction per batch), seqs
    numbered per device from 1; each batch is received at its own instant."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._seq: dict[str, int] = {}
        self.received = T0 + timedelta(days=1)

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        self.received += timedelta(seconds=1)
        full = []
        for row in rows:
            device = row["device_id"]
            seq = self._seq[device] = self._seq.get(device, 0) + 1
            at = row.get("occurred_at", T0)
            full.append(
                {
                    **row,
                    "seq": seq,
                    "event_id": str(uuid.uuid4()),
                    "occurred_at": ms(at),
                    "received_at": ms(self.received),
                    "raw": b"",
                }
            )
        self.con.register("batch", pa.Table.from_pylist(full, schema=SCHEMA))
        try:
            self.con.execute(_INSERT)
        finally:
            self.con.unregister("batch")


def started(
    device: str,
    session: str,
    at: datetime,
    app: str = "slack",
    *,
    surfaces: list[str] | None = None,
    browsers: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "device_id": device,
        "kind": "app_started",
        "session_id": session,
        "occurred_at": at,
        "app_id": app,
        "category": "instant_messaging",
        "os_user": "ann",
        "process_count": 1,
        "surfaces": surfaces,
        "browsers": browsers,
    }


def stopped(
    device: str,
    session: str,
    at: datetime,
    minutes: float,
    reason: str = "exited",
    cpu_ms: int | None = None,
    *,
    surfaces: list[str] | None = None,
    browsers: list[str] | None = None,
    foreground_ms: int | None = None,
) -> dict[str, Any]:
    return {
        "device_id": device,
        "kind": "app_stopped",
        "session_id": session,
        "occurred_at": at,
        "duration_ms": round(minutes * 60_000),
        "stop_reason": reason,
        "cpu_ms": cpu_ms,
        "surfaces": surfaces,
        "browsers": browsers,
        "foreground_ms": foreground_ms,
    }


def heartbeat(
    device: str,
    at: datetime,
    running: list[str],
    *,
    version: str = "0.1.0",
    dropped: int = 0,
    cpu_ms: list[int | None] | None = None,
    surfaces: list[list[str] | None] | None = None,
    browsers: list[list[str] | None] | None = None,
    foreground_ms: list[int | None] | None = None,
) -> dict[str, Any]:
    """`cpu_ms`, `surfaces`, `browsers` and `foreground_ms`, if given, are each running
    session's so far, in the same order."""
    return {
        "device_id": device,
        "kind": "heartbeat",
        "occurred_at": at,
        "running_sessions": running,
        "running_cpu_ms": cpu_ms,
        "running_surfaces": surfaces,
        "running_browsers": browsers,
        "running_foreground_ms": foreground_ms,
        "agent_version": version,
        "catalog_version": "2026.11",
        "events_dropped": dropped,
    }


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "collector.duckdb"))
    apply_migrations(connection)
    yield connection
    connection.close()


def session_rows(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT device_id, session_id::VARCHAR, started_at, ended_at, end_reason FROM sessions"
        " ORDER BY device_id, session_id"
    ).fetchall()


def keys(refresh: Refresh) -> list[tuple[str, str]]:
    return sorted(zip(*refresh.sessions_changed.to_pydict().values(), strict=True))


def test_rowids_only_grow_with_appends_across_a_checkpoint_a_rollback_and_a_reopen(
    tmp_path: Path,
) -> None:
    path = tmp_path / "collector.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con)
    events = Events(con)
    events.append([heartbeat("d1", T0, []) for _ in range(3)])
    con.execute("CHECKPOINT")
    events.append([heartbeat("d2", T0, [])])
    con.execute("BEGIN TRANSACTION")
    events.append([heartbeat("d3", T0, []) for _ in range(5)])
    con.execute("ROLLBACK")
    con.close()
    con = duckdb.connect(str(path))
    events = Events(con)
    events.append([heartbeat("d4", T0, [])])
    rows = con.execute("SELECT rowid, device_id FROM events ORDER BY rowid").fetchall()
    con.close()
    # The rolled-back rows took no rowid for good; the old rows kept theirs.
    assert rows == [(0, "d1"), (1, "d1"), (2, "d1"), (3, "d2"), (4, "d4")]


def test_a_session_is_refreshed_start_heartbeat_then_stop(con: duckdb.DuckDBPyConnection) -> None:
    events = Events(con)
    events.append([started("d1", S1, T0)])
    first = refresh_derived(con, NOTHING_FOLDED)
    assert first.last_rowid == 0
    assert keys(first) == [("d1", S1)]
    assert session_rows(con) == [("d1", S1, T0, T0, "no_evidence")]

    events.append([heartbeat("d1", T0 + timedelta(minutes=1), [S1])])
    second = refresh_derived(con, first.last_rowid)
    assert (second.last_rowid, keys(second)) == (1, [("d1", S1)])
    assert session_rows(con) == [("d1", S1, T0, T0 + timedelta(minutes=1), "last_heartbeat")]

    events.append([stopped("d1", S1, T0 + timedelta(hours=5), minutes=3)])
    third = refresh_derived(con, second.last_rowid)
    # The stop's measured duration wins over its wall-clock stamp and the heartbeat.
    assert session_rows(con) == [("d1", S1, T0, T0 + timedelta(minutes=3), "exited")]
    assert con.execute("SELECT last_beat_at, duration_ms FROM sessions").fetchall() == [
        (T0 + timedelta(minutes=1), 180_000)
    ]

    nothing = refresh_derived(con, third.last_rowid)
    assert (nothing.last_rowid, nothing.sessions_changed.num_rows) == (2, 0)
    assert nothing.devices_changed.num_rows == 0


def test_a_stop_before_its_start_is_kept_without_a_start_until_the_start_arrives(
    con: duckdb.DuckDBPyConnection,
) -> None:
    events = Events(con)
    events.append([stopped("d1", S2, T0 + timedelta(minutes=9), minutes=7, reason="agent_stopped")])
    events.append([heartbeat("d1", T0 + timedelta(minutes=2), [S2])])
    early = refresh_derived(con, NOTHING_FOLDED)
    assert session_rows(con) == [("d1", S2, None, None, None)]
    events.append([started("d1", S2, T0, app="zoom")])
    refresh_derived(con, early.last_rowid)
    assert session_rows(con) == [("d1", S2, T0, T0 + timedelta(minutes=7), "agent_stopped")]
    assert con.execute("SELECT app_id, os_user FROM sessions").fetchall() == [("zoom", "ann")]


def test_a_late_heartbeat_of_an_earlier_minute_does_not_move_the_end_back(
    con: duckdb.DuckDBPyConnection,
) -> None:
    events = Events(con)
    events.append([started("d1", S1, T0), heartbeat("d1", T0 + timedelta(minutes=5), [S1])])
    folded = refresh_derived(con, NOTHING_FOLDED)
    events.append([heartbeat("d1", T0 + timedelta(minutes=2), [S1])])  # filling a seq gap
    refresh_derived(con, folded.last_rowid)
    assert session_rows(con) == [("d1", S1, T0, T0 + timedelta(minutes=5), "last_heartbeat")]


def test_the_same_session_id_on_two_devices_is_two_sessions(
    con: duckdb.DuckDBPyConnection,
) -> None:
    events = Events(con)
    events.append([started("d1", S1, T0), started("d2", S1, T0 + timedelta(minutes=1))])
    events.append([heartbeat("d2", T0 + timedelta(minutes=4), [S1])])
    refresh_derived(con, NOTHING_FOLDED)
    assert session_rows(con) == [
        ("d1", S1, T0, T0, "no_evidence"),
        ("d2", S1, T0 + timedelta(minutes=1), T0 + timedelta(minutes=4), "last_heartbeat"),
    ]


def test_folding_a_range_again_changes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    events = Events(con)
    events.append([started("d1", S1, T0), heartbeat("d1", T0 + timedelta(minutes=1), [S1])])
    events.append([stopped("d1", S1, T0, minutes=2), stopped("d1", S1, T0, minutes=1)])
    refresh_derived(con, NOTHING_FOLDED)
    before = con.execute("SELECT * FROM sessions").fetchall()
    health = con.execute("SELECT * FROM device_health").fetchall()
    again = refresh_derived(con, 1)  # as after a publish that failed once the fold committed
    assert keys(again) == [("d1", S1)]
    assert con.execute("SELECT * FROM sessions").fetchall() == before
    assert con.execute("SELECT * FROM device_health").fetchall() == health
    assert before[0][6:8] == (60_000, "exited")  # the shorter of two stops, as sessions.sql


def cpu(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT session_id::VARCHAR, cpu_ms FROM sessions ORDER BY device_id, session_id"
    ).fetchall()


def test_cpu_time_is_the_largest_a_heartbeat_reported_until_the_stop_says_the_total(
    con: duckdb.DuckDBPyConnection,
) -> None:
    events = Events(con)
    events.append([started("d1", S1, T0), started("d1", S2, T0)])
    folded = refresh_derived(con, NOTHING_FOLDED)
    assert cpu(con) == [(S1, None), (S2, None)]  # nothing reported yet
    events.append([heartbeat("d1", T0 + timedelta(minutes=1), [S1, S2], cpu_ms=[400, 7])])
    events.append([heartbeat("d1", T0 + timedelta(minutes=2), [S2, S1], cpu_ms=[9, 900])])
    folded = refresh_derived(con, folded.last_rowid)
    assert cpu(con) == [(S1, 900), (S2, 9)]  # each session its own entry of the list
    # A heartbeat of an earlier minute, stored late (a seq gap filled), has a smaller total.
    events.append([heartbeat("d1", T0 + timedelta(seconds=30), [S1], cpu_ms=[100])])
    folded = refresh_derived(con, folded.last_rowid)
    assert cpu(con) == [(S1, 900), (S2, 9)]
    events.append([stopped("d1", S1, T0 + timedelta(minutes=3), minutes=3, cpu_ms=1_250)])
    folded = refresh_derived(con, folded.last_rowid)
    events.append([heartbeat("d1", T0 + timedelta(minutes=4), [S1], cpu_ms=[5_000])])  # stale
    refresh_derived(con, folded.last_rowid)
    assert cpu(con) == [(S1, 1_250), (S2, 9)]  # the stop's total stands


def seen(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT session_id::VARCHAR, surfaces, browsers, foreground_ms FROM sessions"
        " ORDER BY device_id, session_id"
    ).fetchall()


def test_surfaces_and_browsers_gather_from_every_event_and_foreground_time_as_cpu_time(
    con: duckdb.DuckDBPyConnection,
) -> None:
    events = Events(con)
    events.append([started("d1", S1, T0, "youtube", surfaces=["app_window"], browsers=["edge"])])
    folded = refresh_derived(con, NOTHING_FOLDED)
    assert seen(con) == [(S1, ["app_window"], ["edge"], None)]
    # The user opens a YouTube tab in Chrome too: the same session, now on two surfaces.
    beat = heartbeat("d1", T0 + timedelta(minutes=1), [S1], surfaces=[["app_window",
        "browser_tab"]], browsers=[["chrome", "edge"]], foreground_ms=[40_000])  # fmt: skip
    events.append([beat])
    folded = refresh_derived(con, folded.last_rowid)
    assert seen(con) == [(S1, ["app_window", "browser_tab"], ["chrome", "edge"], 40_000)]
    stop = stopped("d1", S1, T0 + timedelta(minutes=3), minutes=3, surfaces=["browser_tab"],
                   browsers=["chrome"], foreground_ms=70_000)  # fmt: skip
    events.append([stop])
    folded = refresh_derived(con, folded.last_rowid)
    stale = heartbeat("d1", T0 + timedelta(minutes=4), [S1], surfaces=[["process"]],
                      foreground_ms=[99_000])  # fmt: skip
    events.append([stale])
    refresh_derived(con, folded.last_rowid)
    # Surfaces are a union (sorted by name), whoever named them; the stop's foreground total
    # stands against a later heartbeat's, as its CPU time does.
    assert seen(con) == [(S1, ["app_window", "browser_tab", "process"], ["chrome", "edge"], 70_000)]


def test_what_an_older_agent_does_not_measure_stays_unknown(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """CPU time, surfaces, browsers and foreground time: NULL, never a false 0 or []."""
    events = Events(con)
    events.append([started("d1", S1, T0), heartbeat("d1", T0 + timedelta(minutes=1), [S1])])
    events.append([started("d1", S2, T0), stopped("d1", S2, T0, minutes=1)])
    refresh_derived(con, NOTHING_FOLDED)
    assert cpu(con) == [(S1, None), (S2, None)]
    assert seen(con) == [(S1, None, None, None), (S2, None, None, None)]


def test_device_health_keeps_each_devices_latest_state(con: duckdb.DuckDBPyConnection) -> None:
    events = Events(con)
    beat = T0 + timedelta(minutes=1)
    events.append([heartbeat("d1", beat, [], version="0.1.0", dropped=2)])  # received T0+1d+1s
    lifecycle = {
        "device_id": "d1",
        "kind": "agent_lifecycle",
        "lifecycle": "started",
        "agent_version": "0.2.0",
        "occurred_at": T0 + timedelta(days=1, seconds=5),  # the device clock runs 3 s ahead
    }
    events.append([lifecycle, started("d1", S1, T0)])  # received T0+1d+2s
    first = refresh_derived(con, NOTHING_FOLDED)
    assert first.devices_changed.to_pydict() == {"device_id": ["d1"]}
    row = con.execute(
        "SELECT first_seen_at, last_seen_at, last_heartbeat_at, agent_version,"
        " catalog_version, clock_offset_ms, events_dropped FROM device_health"
    ).fetchall()
    received = T0 + timedelta(days=1)
    assert row == [
        (
            received + timedelta(seconds=1),
            received + timedelta(seconds=2),
            beat,
            "0.2.0",  # the lifecycle event came after the heartbeat
            "2026.11",  # the lifecycle event named no catalog: the heartbeat's stays
            3_000,
            2,
        )
    ]
    events.append([heartbeat("d1", T0 + timedelta(days=1), [], version="0.2.0", dropped=5)])
    refresh_derived(con, first.last_rowid)
    row = con.execute(
        "SELECT first_seen_at, last_heartbeat_at, clock_offset_ms, events_dropped"
        " FROM device_health"
    ).fetchall()
    assert row == [(received + timedelta(seconds=1), T0 + timedelta(days=1), -3_000, 5)]


# -- Any interleaving of events, in any batches, folds to what sessions.sql derives from all.

DEVICES = ("d1", "d2")
SESSIONS = (S1, S2, S3)
SURFACES = ("process", "app_window", "browser_tab")
BROWSERS = ("chromium", "chrome", "edge", "firefox")


@st.composite
def event_logs(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Starts (at most one per session), stops (distinct durations: sessions.sql breaks a tie
    arbitrarily) and heartbeats, with CPU times, foreground times, surfaces and browsers or
    none (an older agent), shuffled and cut into batches."""
    minute = st.integers(0, 120).map(lambda m: T0 + timedelta(minutes=m))
    cpu_ms = st.none() | st.integers(0, 10_000)
    surfaces = st.none() | st.lists(st.sampled_from(SURFACES), min_size=1, max_size=3, unique=True)
    browsers = st.none() | st.lists(st.sampled_from(BROWSERS), min_size=1, max_size=4, unique=True)
    rows: list[dict[str, Any]] = []
    for device in DEVICES:
        for session in SESSIONS:
            if draw(st.booleans()):
                seen_on = {"surfaces": draw(surfaces), "browsers": draw(browsers)}
                rows.append(started(device, session, draw(minute), **seen_on))
            if draw(st.booleans()):  # half the sessions end by heartbeats or not at all
                durations = draw(st.lists(st.integers(0, 90), min_size=1, max_size=2, unique=True))
                rows += [
                    stopped(
                        device,
                        session,
                        draw(minute),
                        minutes,
                        cpu_ms=draw(cpu_ms),
                        surfaces=draw(surfaces),
                        browsers=draw(browsers),
                        foreground_ms=draw(cpu_ms),
                    )
                    for minutes in durations
                ]
        for _ in range(draw(st.integers(0, 5))):
            running = draw(st.lists(st.sampled_from(SESSIONS), min_size=1, max_size=3, unique=True))
            each = {"min_size": len(running), "max_size": len(running)}
            rows.append(
                heartbeat(
                    device,
                    draw(minute),
                    running,
                    cpu_ms=draw(st.none() | st.lists(cpu_ms, **each)),
                    surfaces=draw(st.none() | st.lists(surfaces, **each)),
                    browsers=draw(st.none() | st.lists(browsers, **each)),
                    foreground_ms=draw(st.none() | st.lists(cpu_ms, **each)),
                )
            )
    order = draw(st.permutations(rows))
    cuts = draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    batches: list[list[dict[str, Any]]] = [[]]
    for row, cut in zip(order, cuts, strict=True):
        batches[-1].append(row)
        if cut:
            batches.append([])
    return [batch for batch in batches if batch]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=event_logs())
def test_sessions_folded_in_any_batches_equal_sessions_sql_over_all_events(
    batches: list[list[dict[str, Any]]],
) -> None:
    con = duckdb.connect()
    try:
        apply_migrations(con)
        events = Events(con)
        watermark = NOTHING_FOLDED
        for batch in batches:
            events.append(batch)
            watermark = refresh_derived(con, watermark).last_rowid
        columns = "device_id, session_id, os_user, app_id, category, started_at, ended_at,"
        columns += " end_reason, cpu_ms, surfaces, browsers, foreground_ms"
        folded = con.execute(
            f"SELECT {columns} FROM sessions WHERE started_at IS NOT NULL ORDER BY ALL"
        ).fetchall()
        reference = con.execute(
            f"SELECT {columns} FROM ({sessions_query().sql}) ORDER BY ALL"
        ).fetchall()
        assert folded == reference
        # Every session any event names has a row, started or not.
        named = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT device_id, session_id FROM events"
            " WHERE session_id IS NOT NULL UNION SELECT DISTINCT device_id,"
            " unnest(running_sessions) FROM events)"
        ).fetchone()
        assert named == con.execute("SELECT count(*) FROM sessions").fetchone()
    finally:
        con.close()
