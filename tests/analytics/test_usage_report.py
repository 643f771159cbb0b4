"""The usage report over sessions derived from hand-built events (the sessions view shadows the
collector's table); every expected number is worked out by hand."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pytest

from analytics.run import ReportResult, create_sessions_view, run_report
from tests.analytics.event_rows import EventLog

DAY = datetime(2026, 11, 18)
NEXT_DAY = datetime(2026, 11, 19)
COLUMNS = (
    "org", "workgroup_id", "category", "app_id", "surface", "devices", "users", "employees",
    "sessions", "hours", "foreground_seconds", "cpu_seconds",
)  # fmt: skip
NO_FILTERS: dict[str, object] = {"org": None, "workgroup": None, "scope": None}


def events_connection(log: EventLog) -> duckdb.DuckDBPyConnection:
    """The event file read-only, with sessions derived from its events."""
    con = duckdb.connect(str(log.close()), read_only=True)
    create_sessions_view(con)
    return con


def run_usage(
    log: EventLog, start: object = DAY, end: object = NEXT_DAY, device: str | None = None
) -> ReportResult:
    con = events_connection(log)
    try:
        return run_report(con, "usage", {"from": start, "to": end, "device": device} | NO_FILTERS)
    finally:
        con.close()


def usage(
    log: EventLog, start: object = DAY, end: object = NEXT_DAY, device: str | None = None
) -> dict[str, tuple[object, ...]]:
    """app_id -> (category, devices, users, sessions, hours)."""
    result = run_usage(log, start, end, device)
    assert result.columns == COLUMNS
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in result.rows]
    keep = ("category", "devices", "users", "sessions", "hours")
    return {row["app_id"]: tuple(row[column] for column in keep) for row in rows}


def test_a_stopped_session_counts_its_measured_duration(log: EventLog) -> None:
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=90)
    assert usage(log) == {"outlook": ("email", 1, 1, 1, Decimal("1.50"))}


def test_a_session_without_a_stop_ends_at_its_last_heartbeat_listing_it(log: EventLog) -> None:
    session = log.session("d1", "zoom", DAY.replace(hour=10), category="teleconferencing")
    log.heartbeat("d1", DAY.replace(hour=10, minute=30), [session])
    log.heartbeat("d1", DAY.replace(hour=10, minute=45), [session])
    log.heartbeat("d1", DAY.replace(hour=11), [])  # it had ended by then
    assert usage(log) == {"zoom": ("teleconferencing", 1, 1, 1, Decimal("0.75"))}


def test_a_session_with_no_evidence_of_its_end_counts_as_a_session_of_no_time(
    log: EventLog,
) -> None:
    log.session("d1", "slack", DAY.replace(hour=12), category="instant_messaging")
    assert usage(log) == {"slack": ("instant_messaging", 1, 1, 1, Decimal("0.00"))}


def test_a_session_crossing_midnight_into_the_range_is_clipped(log: EventLog) -> None:
    # 22:00 on the 17th to 02:00 on the 18th; the range starts 00:00 on the 18th: 2.00 h.
    log.session("d1", "teams", DAY - timedelta(hours=2), minutes=240, category="teleconferencing")
    assert usage(log)["teams"] == ("teleconferencing", 1, 1, 1, Decimal("2.00"))


def test_a_session_crossing_the_end_of_the_range_is_clipped(log: EventLog) -> None:
    # 23:30 on the 18th for 60 minutes: 30 of them fall before 00:00 on the 19th.
    log.session("d1", "teams", DAY.replace(hour=23, minute=30), minutes=60)
    assert usage(log)["teams"][-1] == Decimal("0.50")


def test_a_session_spanning_the_whole_range_counts_the_range(log: EventLog) -> None:
    # 12:00 on the 17th to 12:00 on the 19th: all 24 hours of the 18th.
    log.session("d1", "teams", DAY - timedelta(hours=12), minutes=48 * 60)
    assert usage(log)["teams"][-1] == Decimal("24.00")


def test_sessions_entirely_outside_the_range_are_absent(log: EventLog) -> None:
    log.session("d1", "outlook", DAY.replace(day=17, hour=9), minutes=60)
    log.session("d1", "gmail", NEXT_DAY.replace(hour=9), minutes=60)
    log.session("d1", "slack", DAY.replace(day=17, hour=9), category="instant_messaging")
    assert usage(log) == {}


def test_the_range_is_half_open_at_both_ends(log: EventLog) -> None:
    log.session("d1", "outlook", DAY - timedelta(hours=1), minutes=60)  # ends exactly at $from
    log.session("d1", "gmail", NEXT_DAY, minutes=60)  # starts exactly at $to
    log.session("d1", "slack", DAY, category="instant_messaging")  # an instant exactly at $from
    assert usage(log) == {"slack": ("instant_messaging", 1, 1, 1, Decimal("0.00"))}


def test_two_os_users_on_one_device_are_two_users(log: EventLog) -> None:
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=30, user="ann")
    log.session("d1", "outlook", DAY.replace(hour=10), minutes=60, user="bob")
    log.session("d1", "outlook", DAY.replace(hour=11), minutes=30, user="ann")
    assert usage(log) == {"outlook": ("email", 1, 2, 3, Decimal("2.00"))}


def test_one_account_name_on_two_devices_counts_once_per_device(log: EventLog) -> None:
    # Until the roster maps accounts to employees, "ann" on d1 and on d2 may be two people.
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=30, user="ann")
    log.session("d2", "outlook", DAY.replace(hour=9), minutes=30, user="ann")
    assert usage(log)["outlook"][1:4] == (2, 2, 2)


def test_the_device_parameter_keeps_one_device(log: EventLog) -> None:
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=60)
    log.session("d2", "outlook", DAY.replace(hour=9), minutes=30)
    log.session("d1", "zoom", DAY.replace(hour=9), minutes=30, category="teleconferencing")
    assert usage(log, device="d2") == {"outlook": ("email", 1, 1, 1, Decimal("0.50"))}


def test_a_null_device_parameter_means_every_device(log: EventLog) -> None:
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=60)
    log.session("d2", "outlook", DAY.replace(hour=9), minutes=30)
    assert usage(log, device=None) == {"outlook": ("email", 2, 2, 2, Decimal("1.50"))}


def test_rows_are_ordered_by_category_then_hours_descending(log: EventLog) -> None:
    log.session("d1", "zoom", DAY.replace(hour=9), minutes=6, category="teleconferencing")
    log.session("d1", "gmail", DAY.replace(hour=9), minutes=12)
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=30)
    log.session("d1", "teams", DAY.replace(hour=9), minutes=60, category="teleconferencing")
    rows = run_usage(log).rows
    assert [(row[3], row[COLUMNS.index("hours")]) for row in rows] == [
        ("outlook", Decimal("0.50")),
        ("gmail", Decimal("0.20")),
        ("teams", Decimal("1.00")),
        ("zoom", Decimal("0.10")),
    ]


def test_an_aware_range_is_taken_in_utc(log: EventLog) -> None:
    # 09:00-10:00 UTC; the range 10:00-11:00 at UTC+01:00 is 09:00-10:00 UTC.
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=60)
    plus_one = timezone(timedelta(hours=1))
    start, end = DAY.replace(hour=10, tzinfo=plus_one), DAY.replace(hour=11, tzinfo=plus_one)
    assert usage(log, start, end)["outlook"][-1] == Decimal("1.00")


def cpu_seconds(log: EventLog, start: datetime = DAY, end: datetime = NEXT_DAY) -> object:
    """The one row's cpu_seconds."""
    [row] = run_usage(log, start, end).rows
    return row[COLUMNS.index("cpu_seconds")]


def stopped_using_cpu(
    log: EventLog, start: datetime, minutes: int, cpu_ms: int | None, app: str = "zoom"
) -> None:
    """A session of `minutes`, whose processes used `cpu_ms` in it."""
    common = {"session_id": str(uuid.uuid4()), "app_id": app, "category": "teleconferencing",
              "os_user": "ann"}  # fmt: skip
    log.insert("d1", "app_started", start, process_count=1, **common)
    log.insert("d1", "app_stopped", start + timedelta(minutes=minutes), stop_reason="exited",
               duration_ms=minutes * 60_000, cpu_ms=cpu_ms, **common)  # fmt: skip


def test_cpu_seconds_add_up_the_sessions_cpu_time(log: EventLog) -> None:
    stopped_using_cpu(log, DAY.replace(hour=9), 60, 90_000)  # in use: 90 s in an hour
    stopped_using_cpu(log, DAY.replace(hour=11), 480, 1_500)  # open all day, idle
    assert cpu_seconds(log) == Decimal("91.5")


def test_a_session_clipped_to_the_range_brings_that_share_of_its_cpu_time(log: EventLog) -> None:
    # 22:00 on the 17th to 02:00 on the 18th, 40 s of CPU: a half of it in each day.
    stopped_using_cpu(log, DAY - timedelta(hours=2), 240, 40_000)
    assert cpu_seconds(log) == Decimal("20.0")
    assert cpu_seconds(log, DAY - timedelta(days=1), DAY) == Decimal("20.0")


def test_a_session_still_running_brings_the_cpu_time_of_its_last_heartbeat(
    log: EventLog,
) -> None:
    session = log.session("d1", "zoom", DAY.replace(hour=10), category="teleconferencing")
    log.insert("d1", "heartbeat", DAY.replace(hour=10, minute=30), running_sessions=[session],
               running_cpu_ms=[3_000])  # fmt: skip
    log.insert("d1", "heartbeat", DAY.replace(hour=11), running_sessions=[session],
               running_cpu_ms=[7_000])  # fmt: skip
    assert cpu_seconds(log) == Decimal("7.0")


def test_cpu_time_unknown_for_every_session_of_a_row_is_null_not_zero(log: EventLog) -> None:
    stopped_using_cpu(log, DAY.replace(hour=9), 60, None)  # an agent that does not measure it
    stopped_using_cpu(log, DAY.replace(hour=9), 60, 0, app="teams")
    stopped_using_cpu(log, DAY.replace(hour=11), 60, None, app="teams")
    rows = run_usage(log).rows
    assert {row[3]: row[COLUMNS.index("cpu_seconds")] for row in rows} == {
        "zoom": None,
        "teams": Decimal("0.0"),  # the one session that says
    }


def a_day_on_several_surfaces(log: EventLog) -> None:
    """Gmail in a Firefox tab open all day (96 s in front) and, from an agent too old to say,
    half an hour; YouTube in an app window and a tab (one session, 754 s in front), in a tab
    alone for an hour (1,800 s) and in an app window alone for a quarter of an hour."""
    tab, video = ["browser_tab"], "video_sharing"
    log.session("d1", "gmail", DAY.replace(hour=8), minutes=480, surfaces=tab,
                browsers=["firefox"], foreground_ms=96_000)  # fmt: skip
    log.session("d2", "gmail", DAY.replace(hour=9), minutes=30)
    log.session("d1", "youtube", DAY.replace(hour=9), minutes=30, category=video,
                surfaces=["app_window", "browser_tab"], browsers=["chrome"],
                foreground_ms=754_000)  # fmt: skip
    log.session("d1", "youtube", DAY.replace(hour=13), minutes=60, category=video,
                surfaces=tab, browsers=["chrome"], foreground_ms=1_800_000)  # fmt: skip
    log.session("d2", "youtube", DAY.replace(hour=15), minutes=15, category=video,
                surfaces=["app_window"], browsers=["chrome"])  # fmt: skip


def surfaces(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """(app_id, surface, sessions, hours, foreground_seconds) per row, in the report's order."""
    keep = ("app_id", "surface", "sessions", "hours", "foreground_seconds")
    return [tuple(row[COLUMNS.index(column)] for column in keep) for row in rows]


def test_each_surface_is_a_row_and_foreground_seconds_stand_beside_the_hours(
    log: EventLog,
) -> None:
    a_day_on_several_surfaces(log)
    assert surfaces(run_usage(log).rows) == [
        ("gmail", "browser_tab", 1, Decimal("8.00"), Decimal("96.0")),  # open all day, idle
        ("gmail", None, 1, Decimal("0.50"), None),  # an older agent: unknown, blank
        ("youtube", "browser_tab", 1, Decimal("1.00"), Decimal("1800.0")),  # in use
        ("youtube", "app_window+browser_tab", 1, Decimal("0.50"), Decimal("754.0")),
        ("youtube", "app_window", 1, Decimal("0.25"), None),  # focus is known only in a tab
    ]


def test_a_clipped_session_brings_its_share_of_foreground_time(log: EventLog) -> None:
    a_day_on_several_surfaces(log)
    # From noon: half of the Gmail tab's 8 hours, so half its 96 s; the morning ones not at all.
    assert surfaces(run_usage(log, DAY.replace(hour=12)).rows) == [
        ("gmail", "browser_tab", 1, Decimal("4.00"), Decimal("48.0")),
        ("youtube", "browser_tab", 1, Decimal("1.00"), Decimal("1800.0")),
        ("youtube", "app_window", 1, Decimal("0.25"), None),
    ]


def test_a_missing_parameter_is_refused_by_name(log: EventLog) -> None:
    con = events_connection(log)
    with pytest.raises(ValueError, match=r"report usage: missing parameter \$device"):
        run_report(con, "usage", {"from": DAY, "to": NEXT_DAY} | NO_FILTERS)
    con.close()


def test_parameters_the_report_does_not_declare_are_not_bound(log: EventLog) -> None:
    # The runner is given every parameter any report takes; usage takes no $silent_hours.
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=60)
    con = events_connection(log)
    params = NO_FILTERS | {"from": DAY, "to": NEXT_DAY, "device": None, "silent_hours": 24}
    assert [row[3] for row in run_report(con, "usage", params).rows] == ["outlook"]
    con.close()


def test_an_unknown_report_is_refused_listing_the_known_ones(log: EventLog) -> None:
    con = events_connection(log)
    with pytest.raises(ValueError, match=r"no report named 'usage2' \(known: .*usage"):
        run_report(con, "usage2", {})
    con.close()
