"""Where an app was seen and how long it was in front (issue 9 items 3-4), in the collector:
hand-built events of a new and an older agent sent to a real collector, stored, folded into
sessions, published into the lake and shown by session_log and usage; refusals over gRPC; and
a database made before schema 8 brought up to it. Every number is worked out by hand below."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import grpc

from analytics.run import run_report
from collector.lake import Publisher, attach_lake
from collector.schema import apply_migrations, migrations
from collector.store import Store
from commaudit.v1 import events_pb2
from tests.collector.collector_harness import DEVICE, RunningCollector, StartCollector, trailers
from tests.collector.test_app_activity import lake_connection

NINE = datetime(2026, 11, 18, 9)
EPOCH = datetime(1970, 1, 1)
PROCESS, APP_WINDOW, BROWSER_TAB = (
    events_pb2.SURFACE_PROCESS,
    events_pb2.SURFACE_APP_WINDOW,
    events_pb2.SURFACE_BROWSER_TAB,
)
APPS = {
    "youtube": events_pb2.CATEGORY_VIDEO_SHARING,
    "gmail": events_pb2.CATEGORY_EMAIL,
    "zoom": events_pb2.CATEGORY_TELECONFERENCING,
    "outlook": events_pb2.CATEGORY_EMAIL,
}
SESSION = {app: str(uuid.uuid4()) for app in APPS}


def event(seq: int, minute: int, **kind: Any) -> events_pb2.Event:
    at = NINE + timedelta(minutes=minute)
    return events_pb2.Event(
        seq=seq,
        event_id=str(uuid.uuid4()),
        occurred_at_ms=int((at - EPOCH).total_seconds() * 1000),
        **kind,
    )


def app(name: str) -> dict[str, Any]:
    return {"session_id": SESSION[name], "app_id": name, "category": APPS[name], "os_user": "ann"}


def started(seq: int, name: str, **seen: Any) -> events_pb2.Event:
    return event(seq, 0, app_started=events_pb2.AppStarted(process_count=1, **app(name), **seen))


def stopped(seq: int, name: str, minutes: int, **seen: Any) -> events_pb2.Event:
    stop = events_pb2.AppStopped(
        duration_ms=minutes * 60_000,
        reason=events_pb2.AppStopped.REASON_EXITED,
        **app(name),
        **seen,
    )
    return event(seq, minutes, app_stopped=stop)


def running(name: str, **seen: Any) -> events_pb2.RunningApp:
    return events_pb2.RunningApp(process_count=1, **app(name), **seen)


def a_morning() -> list[events_pb2.Event]:
    """YouTube in a Chrome app window, then also in a tab in Edge (one session, 30 minutes,
    754 s in front); Gmail in a Firefox tab, still open at the last heartbeat (09:10, 30 s in
    front); Zoom's desktop client for 45 minutes; Outlook for 5 minutes, from an agent too old
    to name surfaces (it sends none of the new fields)."""
    beat = events_pb2.Heartbeat(
        running=[
            running("youtube", surfaces=[APP_WINDOW, BROWSER_TAB], browsers=["chrome", "edge"],
                    foreground_ms=240_000),
            running("gmail", surfaces=[BROWSER_TAB], browsers=["firefox"], foreground_ms=30_000),
            running("zoom", surfaces=[PROCESS]),
            running("outlook"),
        ],
        agent_version="0.9.0", catalog_version="t", uptime_ms=600_000,
    )  # fmt: skip
    return [
        started(1, "youtube", surfaces=[APP_WINDOW], browsers=["chrome"]),
        started(2, "gmail", surfaces=[BROWSER_TAB], browsers=["firefox"]),
        started(3, "zoom", surfaces=[PROCESS]),
        started(4, "outlook"),
        stopped(5, "outlook", 5),
        event(6, 10, heartbeat=beat),
        stopped(7, "youtube", 30, surfaces=[BROWSER_TAB, APP_WINDOW], browsers=["edge", "chrome"],
                foreground_ms=754_000),
        stopped(8, "zoom", 45, surfaces=[PROCESS]),
    ]  # fmt: skip


def test_surfaces_browsers_and_foreground_time_travel_to_the_session_log_and_usage(
    start_collector: StartCollector, tmp_path: Path
) -> None:
    collector = start_collector(publish_interval_s=600)
    assert collector.report(DEVICE, a_morning()).acked_seq == 8
    assert collector.rows(
        "SELECT seq, surfaces, browsers, foreground_ms FROM events"
        " WHERE kind IN ('app_started', 'app_stopped') ORDER BY seq"
    ) == [
        (1, ["app_window"], ["chrome"], None),
        (2, ["browser_tab"], ["firefox"], None),
        (3, ["process"], None, None),
        (4, None, None, None),  # the older agent: unknown, not empty
        (5, None, None, None),
        (7, ["browser_tab", "app_window"], ["edge", "chrome"], 754_000),  # as sent
        (8, ["process"], None, None),
    ]
    assert collector.rows(
        "SELECT running_surfaces, running_browsers, running_foreground_ms FROM events"
        " WHERE kind = 'heartbeat'"
    ) == [
        (
            [["app_window", "browser_tab"], ["browser_tab"], ["process"], None],
            [["chrome", "edge"], ["firefox"], None, None],
            [240_000, 30_000, None, None],
        )
    ]
    collector.stop()  # publishes once more: the sessions folded from what the last commit stored

    con = lake_connection(tmp_path / "collector" / "lake")
    try:
        assert con.execute(
            "SELECT app_id, surfaces, browsers, foreground_ms, end_reason FROM sessions"
            " ORDER BY app_id"
        ).fetchall() == [
            ("gmail", ["browser_tab"], ["firefox"], 30_000, "last_heartbeat"),
            ("outlook", None, None, None, "exited"),
            ("youtube", ["app_window", "browser_tab"], ["chrome", "edge"], 754_000, "exited"),
            ("zoom", ["process"], None, None, "exited"),
        ]
        day = {"from": NINE.replace(hour=0), "to": NINE + timedelta(days=1), "device": None,
               "org": None, "workgroup": None, "scope": None}  # fmt: skip
        log = run_report(con, "session_log", day)
        shown = ("app_id", "surface", "browsers", "minutes", "foreground_seconds")
        at = [log.columns.index(column) for column in shown]
        assert [tuple(row[i] for i in at) for row in log.rows] == [
            ("gmail", "browser_tab", "firefox", Decimal("10.0"), Decimal("30.0")),
            ("outlook", None, None, Decimal("5.0"), None),
            ("youtube", "app_window+browser_tab", "chrome+edge", Decimal("30.0"), Decimal("754.0")),
            ("zoom", "process", None, Decimal("45.0"), None),
        ]
        usage = run_report(con, "usage", day)
        shown = ("category", "app_id", "surface", "sessions", "hours", "foreground_seconds")
        at = [usage.columns.index(column) for column in shown]
        assert [tuple(row[i] for i in at) for row in usage.rows] == [
            ("email", "gmail", "browser_tab", 1, Decimal("0.17"), Decimal("30.0")),
            ("email", "outlook", None, 1, Decimal("0.08"), None),
            ("teleconferencing", "zoom", "process", 1, Decimal("0.75"), None),
            ("video_sharing", "youtube", "app_window+browser_tab", 1, Decimal("0.50"),
             Decimal("754.0")),
        ]  # fmt: skip
    finally:
        con.close()


def test_foreground_time_longer_than_the_session_is_refused_naming_the_field_and_seq(
    collector: RunningCollector,
) -> None:
    too_long = stopped(2, "youtube", 1, surfaces=[BROWSER_TAB], foreground_ms=60_001)
    error = collector.refusal(DEVICE, [started(1, "youtube"), too_long])
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "events[1].app_stopped.foreground_ms: 60001 ms, longer than the session's"
        " duration_ms 60000",
    )
    assert trailers(error)["commaudit-rejected-seq"] == "2"
    assert collector.rows("SELECT count(*) FROM events") == [(0,)]
    all_of_it = stopped(2, "youtube", 1, surfaces=[BROWSER_TAB], foreground_ms=60_000)
    assert collector.report(DEVICE, [started(1, "youtube"), all_of_it]).acked_seq == 2


def test_a_surface_named_twice_in_a_heartbeat_is_refused_naming_the_entry(
    collector: RunningCollector,
) -> None:
    beat = events_pb2.Heartbeat(
        running=[running("gmail"), running("youtube", surfaces=[BROWSER_TAB, BROWSER_TAB])]
    )
    error = collector.refusal(DEVICE, [event(1, 0, heartbeat=beat)])
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "events[0].heartbeat.running[1].surfaces[1]: SURFACE_BROWSER_TAB repeats surfaces[0]",
    )


def test_a_database_at_schema_7_is_brought_to_8_with_its_rows_intact(tmp_path: Path) -> None:
    path = tmp_path / "collector.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL)"
    )
    for version, name, sql in migrations():
        if version <= 7:  # as a collector of the release before this schema left it
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [version, name]
            )
    session = str(uuid.uuid4())
    con.execute(
        "INSERT INTO events (device_id, seq, event_id, kind, occurred_at, received_at,"
        " session_id, app_id, category, os_user, duration_ms, stop_reason, cpu_ms, raw)"
        " VALUES ('d1', 1, ?, 'app_stopped', ?, ?, ?, 'zoom', 'teleconferencing', 'ann',"
        " 60000, 'exited', 1500, 'x')",
        [str(uuid.uuid4()), NINE, NINE, session],
    )
    con.execute(
        "INSERT INTO sessions (device_id, session_id, app_id, started_at, ended_at, end_reason,"
        " cpu_ms) VALUES ('d1', ?, 'zoom', ?, ?, 'exited', 1500)",
        [session, NINE, NINE + timedelta(minutes=1)],
    )
    con.close()

    store = Store(path)  # as the collector opens its database
    try:
        assert store.schema_version == max(version for version, _, _ in migrations())
        with store.cursor() as cursor:
            assert cursor.execute(
                "SELECT name FROM schema_version WHERE version = 8"
            ).fetchall() == [("008_surfaces.sql",)]
            assert cursor.execute(
                "SELECT seq, app_id, duration_ms, cpu_ms, raw, surfaces, browsers, foreground_ms,"
                " running_surfaces, running_browsers, running_foreground_ms FROM events"
            ).fetchall() == [(1, "zoom", 60_000, 1_500, b"x", None, None, None, None, None, None)]
            assert cursor.execute(
                "SELECT session_id::VARCHAR, end_reason, cpu_ms, surfaces, browsers,"
                " foreground_ms FROM sessions"
            ).fetchall() == [(session, "exited", 1_500, None, None, None)]
    finally:
        store.close()
    again = duckdb.connect(str(path))
    try:
        assert apply_migrations(again) == store.schema_version  # nothing left to apply
    finally:
        again.close()


NEW_EVENT_COLUMNS = ("surfaces", "browsers", "foreground_ms", "running_surfaces",
                     "running_browsers", "running_foreground_ms")  # fmt: skip


def insert_event(con: duckdb.DuckDBPyConnection, seq: int, kind: str, **columns: Any) -> None:
    names = ["device_id", "seq", "event_id", "kind", "occurred_at", "received_at", "raw"]
    values: list[Any] = ["d1", seq, str(uuid.uuid4()), kind, NINE, NINE, b""]
    names += list(columns)
    values += list(columns.values())
    marks = ", ".join("?" for _ in values)
    con.execute(f"INSERT INTO events ({', '.join(names)}) VALUES ({marks})", values)


def test_a_lake_published_before_schema_8_gains_its_columns_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "collector.duckdb")
    cursor = store.cursor()
    lake_dir = tmp_path / "lake"
    try:
        old, new = str(uuid.uuid4()), str(uuid.uuid4())
        insert_event(cursor, 1, "app_started", session_id=old, app_id="zoom", os_user="ann")
        publisher = Publisher(cursor, lake_dir)
        publisher.publish_once()
        publisher.close()
        # The lake as a collector before schema 8 left it: none of 008's columns.
        attach_lake(cursor, lake_dir, read_only=False, alias="before")
        for column in NEW_EVENT_COLUMNS:
            cursor.execute(f"ALTER TABLE before.events DROP COLUMN {column}")
        for column in ("surfaces", "browsers", "foreground_ms"):
            cursor.execute(f"ALTER TABLE before.sessions DROP COLUMN {column}")
        cursor.execute("DETACH before")

        insert_event(cursor, 2, "app_started", session_id=new, app_id="youtube", os_user="ann",
                     surfaces=["browser_tab"], browsers=["chrome"])  # fmt: skip
        insert_event(cursor, 3, "heartbeat", running_sessions=[old, new],
                     running_surfaces=[None, ["browser_tab"]], running_browsers=[None, ["chrome"]],
                     running_foreground_ms=[None, 5_000])  # fmt: skip
        publisher = Publisher(cursor, lake_dir)  # a restarted collector, now at schema 8
        publisher.publish_once()
        publisher.close()
    finally:
        cursor.close()
        store.close()

    con = lake_connection(lake_dir)
    try:
        assert con.execute(
            "SELECT seq, surfaces, browsers, running_surfaces, running_foreground_ms FROM events"
            " ORDER BY seq"
        ).fetchall() == [
            (1, None, None, None, None),
            (2, ["browser_tab"], ["chrome"], None, None),
            (3, None, None, [None, ["browser_tab"]], [None, 5_000]),
        ]
        assert con.execute(
            "SELECT app_id, surfaces, browsers, foreground_ms FROM sessions ORDER BY app_id"
        ).fetchall() == [
            ("youtube", ["browser_tab"], ["chrome"], 5_000),
            ("zoom", None, None, None),
        ]
    finally:
        con.close()
