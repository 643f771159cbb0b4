"""CPU time per app session, from the agent's own events to the analysts' reports: sent to a
real collector, stored, folded into sessions, published into the lake, and shown by
session_log and usage (issue 7 item 4). Every number is worked out by hand below."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from agent.catalog import App
from agent.events import heartbeat_event, transition_event
from agent.scan import ProcessCpu, ProcessKey, Running
from agent.tracker import SessionTracker
from analytics.run import run_report
from collector.lake import attach_sql
from commaudit.v1 import events_pb2
from tests.collector.collector_harness import DEVICE, StartCollector

ZOOM = App("zoom", "Zoom", "Zoom", "teleconferencing", "business")
OUTLOOK = App("outlook", "Microsoft Outlook", "Microsoft", "email", "business")
SLACK = App("slack", "Slack", "Salesforce", "instant_messaging", "business")
NINE = datetime(2026, 11, 18, 9)
EPOCH = datetime(1970, 1, 1)


class Agent:
    """The agent's tracker and event encoding, fed scans stated by hand (minutes after 09:00)."""

    def __init__(self) -> None:
        self.tracker = SessionTracker()
        self.events: list[events_pb2.Event] = []

    def scan(self, minute: int, processes: dict[App, dict[ProcessKey, int]]) -> None:
        """Every process here existed before the agent saw it: it counts from this reading."""
        running = Running(
            {(app.id, "ann"): (app, len(found)) for app, found in processes.items()},
            {
                (app.id, "ann"): {key: ProcessCpu(ms, new=False) for key, ms in found.items()}
                for app, found in processes.items()
            },
        )
        for transition in self.tracker.update(running, now_mono=minute * 60.0):
            self._add(transition_event(DEVICE, transition), minute)

    def heartbeat(self, minute: int) -> None:
        beat = heartbeat_event(
            DEVICE, self.tracker.running, catalog_version="t", spool_depth=0, events_dropped=0,
            uptime_ms=minute * 60_000,
        )  # fmt: skip
        self._add(beat, minute)

    def _add(self, event: events_pb2.Event, minute: int) -> None:
        at = NINE + timedelta(minutes=minute)
        event.occurred_at_ms = int((at - EPOCH).total_seconds() * 1000)
        event.seq = len(self.events) + 1
        self.events.append(event)


def a_day_of_three_apps() -> list[events_pb2.Event]:
    """Zoom in use for 30 minutes (180 s of CPU), Outlook open 8 hours in the background (2.4 s),
    Slack still running at its last heartbeat, 5 minutes in (12.34 s)."""
    agent = Agent()
    agent.scan(0, {ZOOM: {(10, 1): 5_000}, OUTLOOK: {(20, 1): 100}, SLACK: {(30, 1): 0}})
    agent.scan(5, {ZOOM: {(10, 1): 65_000}, OUTLOOK: {(20, 1): 500}, SLACK: {(30, 1): 12_340}})
    agent.heartbeat(5)
    agent.scan(29, {ZOOM: {(10, 1): 185_000}, OUTLOOK: {(20, 1): 900}, SLACK: {(30, 1): 12_340}})
    agent.scan(30, {OUTLOOK: {(20, 1): 900}, SLACK: {(30, 1): 12_340}})  # Zoom has exited
    agent.scan(479, {OUTLOOK: {(20, 1): 2_500}, SLACK: {(30, 1): 12_340}})
    agent.scan(480, {SLACK: {(30, 1): 12_340}})  # Outlook has exited
    return agent.events


def lake_connection(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    """An analyst's session on the published lake."""
    con = duckdb.connect()
    for statement in attach_sql(lake_dir).split(";\n"):
        if statement.strip():
            con.execute(statement)
    return con


def test_cpu_time_travels_from_the_agent_to_the_session_log_and_usage(
    start_collector: StartCollector, tmp_path: Path
) -> None:
    collector = start_collector(publish_interval_s=600)
    events = a_day_of_three_apps()
    assert [e.WhichOneof("kind") for e in events] == [
        *["app_started"] * 3, "heartbeat", "app_stopped", "app_stopped",
    ]  # fmt: skip
    assert collector.report(DEVICE, events).acked_seq == 6
    assert collector.rows(
        "SELECT kind, app_id, cpu_ms, running_cpu_ms FROM events ORDER BY seq"
    ) == [
        ("app_started", "zoom", None, None),
        ("app_started", "outlook", None, None),
        ("app_started", "slack", None, None),
        ("heartbeat", None, None, [60_000, 400, 12_340]),
        ("app_stopped", "zoom", 180_000, None),
        ("app_stopped", "outlook", 2_400, None),
    ]
    collector.stop()  # publishes once more: what the last commit stored

    con = lake_connection(tmp_path / "collector" / "lake")
    try:
        day = {"from": NINE.replace(hour=0), "to": NINE + timedelta(days=1), "device": None,
               "org": None, "workgroup": None, "scope": None}  # fmt: skip
        log = run_report(con, "session_log", day)
        shown = [log.columns.index(c) for c in ("app_id", "minutes", "end_reason", "cpu_seconds")]
        assert [tuple(r[i] for i in shown) for r in log.rows] == [
            ("outlook", Decimal("480.0"), "exited", Decimal("2.4")),  # open all day, idle
            ("slack", Decimal("5.0"), "last_heartbeat", Decimal("12.3")),
            ("zoom", Decimal("30.0"), "exited", Decimal("180.0")),  # in use
        ]
        morning = day | {"from": NINE, "to": NINE.replace(hour=13)}
        usage = run_report(con, "usage", morning)
        shown = [usage.columns.index(c) for c in ("app_id", "hours", "cpu_seconds")]
        assert sorted(tuple(r[i] for i in shown) for r in usage.rows) == [
            ("outlook", Decimal("4.00"), Decimal("1.2")),  # half its time, half its CPU time
            ("slack", Decimal("0.08"), Decimal("12.3")),
            ("zoom", Decimal("0.50"), Decimal("180.0")),
        ]
    finally:
        con.close()
