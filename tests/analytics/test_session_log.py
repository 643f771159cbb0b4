"""The session log: each overlapping session once, unclipped; on sessions derived from
hand-built events, and on org_fixture.py's world for who answers for each session."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb

from analytics.run import create_sessions_view, run_report
from tests.analytics.event_rows import EventLog
from tests.analytics.org_fixture import World

DAY = datetime(2026, 11, 18)
NEXT_DAY = datetime(2026, 11, 19)


def session_log(log: EventLog, device: str | None = None) -> list[dict[str, object]]:
    con = duckdb.connect(str(log.close()), read_only=True)
    try:
        create_sessions_view(con)
        params = {"from": DAY, "to": NEXT_DAY, "device": device, "org": None, "workgroup": None,
                  "scope": None}  # fmt: skip
        result = run_report(con, "session_log", params)
    finally:
        con.close()
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_each_overlapping_session_is_listed_once_and_unclipped(log: EventLog) -> None:
    log.session("d1", "teams", DAY.replace(day=17, hour=23), minutes=90,
                category="teleconferencing")  # fmt: skip
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=0.5)
    log.session("d2", "outlook", DAY.replace(hour=9), minutes=5)
    rows = session_log(log, device="d1")
    assert [(r["app_id"], r["minutes"], r["end_reason"]) for r in rows] == [
        ("teams", Decimal("90.0"), "exited"),
        ("outlook", Decimal("0.5"), "exited"),
    ]
    assert rows[0]["ended_at"] == datetime(2026, 11, 18, 0, 30)


def test_cpu_seconds_tell_an_app_in_use_from_one_open_in_the_background(log: EventLog) -> None:
    common = {"app_id": "zoom", "category": "teleconferencing", "os_user": "ann"}
    for hour, minutes, cpu_ms in ((9, 30, 184_000), (13, 240, 1_960)):
        session = {"session_id": str(uuid.uuid4()), **common}
        start = DAY.replace(hour=hour)
        log.insert("d1", "app_started", start, process_count=1, **session)
        log.insert("d1", "app_stopped", start + timedelta(minutes=minutes), stop_reason="exited",
                   duration_ms=minutes * 60_000, cpu_ms=cpu_ms, **session)  # fmt: skip
    log.session("d1", "outlook", DAY.replace(hour=18), minutes=5)  # an agent that did not say
    rows = session_log(log)
    assert [(r["minutes"], r["cpu_seconds"]) for r in rows] == [
        (Decimal("30.0"), Decimal("184.0")),  # in use
        (Decimal("240.0"), Decimal("2.0")),  # open in the background
        (Decimal("5.0"), None),  # unknown, not 0
    ]
    assert list(rows[0])[-4:] == ["minutes", "foreground_seconds", "end_reason", "cpu_seconds"]


def test_a_session_that_ended_exactly_where_the_range_begins_is_not_listed(
    log: EventLog,
) -> None:
    log.session("d1", "zoom", DAY.replace(day=17, hour=23), minutes=60,
                category="teleconferencing")  # fmt: skip
    assert session_log(log) == []


def test_each_session_names_the_employee_and_workgroup_answering_for_it_then(
    world: World,
) -> None:
    world.session("d-ann", "outlook", datetime(2026, 11, 17, 9), 30)  # Ann still in wg-parks
    world.session("d-ann", "outlook", datetime(2026, 11, 19, 9), 30)  # Ann now in wg-fin
    world.session("d-kiosk", "slack", datetime(2026, 11, 18, 9), 30)  # enrolled for L100
    rows = world.rows("session_log")
    assert [(r["device_id"], r["org"], r["workgroup_id"], r["employee_id"]) for r in rows] == [
        ("d-ann", "city", "wg-parks", "E101"),
        ("d-kiosk", "library", "wg-main", "L100"),
        ("d-ann", "city", "wg-fin", "E101"),
    ]


def test_scope_org_and_workgroup_keep_only_their_own_sessions(world: World) -> None:
    world.session("d-ann", "outlook", datetime(2026, 11, 17, 9), 30)
    world.session("d-ann", "outlook", datetime(2026, 11, 19, 9), 30)
    world.session("d-kiosk", "slack", datetime(2026, 11, 18, 9), 30)
    world.session("d-unknown", "slack", datetime(2026, 11, 18, 9), 30)  # never enrolled
    assert len(world.rows("session_log")) == 4

    def started(**params: object) -> list[object]:
        return [r["started_at"] for r in world.rows("session_log", **params)]

    assert started(scope=["wg-fin"]) == [datetime(2026, 11, 19, 9)]
    assert started(workgroup="wg-parks") == [datetime(2026, 11, 17, 9)]
    assert started(org="library") == [datetime(2026, 11, 18, 9)]


def test_a_device_handed_over_answers_to_each_assignee_in_turn(world: World) -> None:
    # bob-pc goes to Finn on Thursday 12:00; FIN-SPARE enrolls with no employee named and is
    # found by its host name, whatever its case.
    handover = datetime(2026, 11, 19, 12)
    world.sql("UPDATE device_assignments SET valid_to = ? WHERE hostname = 'bob-pc'", handover)
    world.sql("INSERT INTO device_assignments VALUES ('bob-pc', 'city', 'E200', ?, NULL, 'imp')",
              handover)  # fmt: skip
    world.sql(
        "INSERT INTO devices (device_id, key_sha256, org, ownership, employee_id, hostname,"
        " token_id, enrolled_at) VALUES ('d-spare', '', 'city', 'employer', NULL, 'FIN-SPARE',"
        " 'tok', ?)",
        datetime(2026, 11, 2),
    )
    world.session("d-bob", "outlook", datetime(2026, 11, 19, 11), 30)
    world.session("d-bob", "outlook", datetime(2026, 11, 19, 12), 30)
    world.session("d-spare", "outlook", datetime(2026, 11, 20, 9), 30)
    rows = world.rows("session_log")
    assert [(r["device_id"], r["employee_id"], r["workgroup_id"]) for r in rows] == [
        ("d-bob", "E102", "wg-parks"),
        ("d-bob", "E200", "wg-fin"),
        ("d-spare", "E200", "wg-fin"),
    ]


def test_surface_browsers_and_foreground_seconds_tell_where_and_how_much_it_was_in_use(
    log: EventLog,
) -> None:
    tab = ["browser_tab"]
    log.session(
        "d1",
        "gmail",
        DAY.replace(hour=8),
        minutes=480,
        surfaces=tab,
        browsers=["firefox"],
        foreground_ms=95_500,
    )  # open all day, seldom in front
    # A YouTube app window, then a YouTube tab in Chrome and in Edge: one session.
    youtube = {"session_id": str(uuid.uuid4()), "app_id": "youtube",
               "category": "video_sharing", "os_user": "ann"}  # fmt: skip
    log.insert("d1", "app_started", DAY.replace(hour=9), process_count=1,
               surfaces=["app_window"], browsers=["chrome"], **youtube)  # fmt: skip
    log.insert("d1", "heartbeat", DAY.replace(hour=9, minute=10),
               running_sessions=[youtube["session_id"]],
               running_surfaces=[["app_window", "browser_tab"]], running_browsers=[["chrome"]],
               running_foreground_ms=[300_000])  # fmt: skip
    log.insert("d1", "app_stopped", DAY.replace(hour=9, minute=30), stop_reason="exited",
               duration_ms=30 * 60_000, surfaces=["browser_tab", "app_window"],
               browsers=["edge", "chrome"], foreground_ms=754_000, **youtube)  # fmt: skip
    log.session("d1", "zoom", DAY.replace(hour=10), minutes=45, surfaces=["process"],
                category="teleconferencing")  # fmt: skip
    log.session("d1", "outlook", DAY.replace(hour=11), minutes=5)  # an agent too old to say
    # A Slack tab still open at its last heartbeat: the foreground time that heartbeat reported.
    slack = log.session("d1", "slack", DAY.replace(hour=12), surfaces=tab, browsers=["edge"],
                        category="instant_messaging")  # fmt: skip
    for minute, foreground_ms in ((1, 30_000), (2, 45_000)):
        log.insert("d1", "heartbeat", DAY.replace(hour=12, minute=minute),
                   running_sessions=[slack], running_surfaces=[tab],
                   running_browsers=[["edge"]], running_foreground_ms=[foreground_ms])  # fmt: skip
    rows = session_log(log)
    assert list(rows[0])[7:9] == ["surface", "browsers"]  # after category
    assert [(r["app_id"], r["surface"], r["browsers"], r["minutes"], r["foreground_seconds"])
            for r in rows] == [
        ("gmail", "browser_tab", "firefox", Decimal("480.0"), Decimal("95.5")),
        ("youtube", "app_window+browser_tab", "chrome+edge", Decimal("30.0"), Decimal("754.0")),
        ("zoom", "process", None, Decimal("45.0"), None),  # focus is known only in a tab
        ("outlook", None, None, Decimal("5.0"), None),  # unknown: blank, not 'process'
        ("slack", "browser_tab", "edge", Decimal("2.0"), Decimal("45.0")),
    ]  # fmt: skip
