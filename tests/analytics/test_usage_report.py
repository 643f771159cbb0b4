"""The usage report on hand-built events; every expected number is worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from analytics.report_files import list_reports, parse_report
from analytics.run import run_report
from tests.analytics.event_rows import EventLog

DAY = datetime(2026, 11, 18)
NEXT_DAY = datetime(2026, 11, 19)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EventLog]:
    events = EventLog(tmp_path / "events.duckdb")
    yield events
    events.con.close()


def usage(
    log: EventLog, start: datetime = DAY, end: datetime = NEXT_DAY, device: str | None = None
) -> dict[str, tuple[object, ...]]:
    """app_id -> (category, devices, users, sessions, hours)."""
    con = duckdb.connect(str(log.close()), read_only=True)
    try:
        result = run_report(con, "usage", {"from": start, "to": end, "device": device})
    finally:
        con.close()
    assert result.columns == ("category", "app_id", "devices", "users", "sessions", "hours")
    return {row[1]: (row[0], *row[2:]) for row in result.rows}


def test_a_stopped_session_counts_its_measured_duration(log: EventLog) -> None:
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=90)
    assert usage(log)["outlook"] == ("email", 1, 1, 1, Decimal("1.50"))


def test_a_session_without_a_stop_ends_at_its_last_heartbeat(log: EventLog) -> None:
    session = log.session("d1", "zoom", DAY.replace(hour=10), category="teleconferencing")
    log.heartbeat("d1", DAY.replace(hour=10, minute=30), [session])
    log.heartbeat("d1", DAY.replace(hour=10, minute=45), [session])
    log.heartbeat("d1", DAY.replace(hour=11), [])  # it had ended by then
    assert usage(log)["zoom"] == ("teleconferencing", 1, 1, 1, Decimal("0.75"))


def test_a_session_with_no_evidence_of_its_end_counts_as_a_session_of_no_time(
    log: EventLog,
) -> None:
    log.session("d1", "slack", DAY.replace(hour=12), category="instant_messaging")
    assert usage(log)["slack"] == ("instant_messaging", 1, 1, 1, Decimal("0.00"))


def test_a_session_crossing_midnight_is_clipped_to_the_range(log: EventLog) -> None:
    # 22:00 on the 17th to 02:00 on the 18th: 2 hours fall inside the 18th.
    log.session(
        "d1", "teams", DAY.replace(day=17, hour=22), minutes=240, category="teleconferencing"
    )
    assert usage(log)["teams"][-1] == Decimal("2.00")


def test_a_session_crossing_the_end_of_the_range_is_clipped(log: EventLog) -> None:
    # 23:30 on the 18th for 60 minutes: 30 of them inside the 18th.
    log.session(
        "d1", "teams", DAY.replace(hour=23, minute=30), minutes=60, category="teleconferencing"
    )
    assert usage(log)["teams"][-1] == Decimal("0.50")


def test_sessions_outside_the_range_are_absent(log: EventLog) -> None:
    log.session("d1", "outlook", DAY.replace(day=17, hour=9), minutes=60)
    log.session("d1", "gmail", NEXT_DAY.replace(hour=9), minutes=60)
    assert usage(log) == {}


def test_two_os_users_on_one_device_are_two_users(log: EventLog) -> None:
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=30, user="ann")
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=60, user="bob")
    log.session("d2", "outlook", DAY.replace(hour=9), minutes=30, user="ann")
    assert usage(log)["outlook"] == ("email", 2, 3, 3, Decimal("2.00"))


def test_the_device_filter_keeps_one_device(log: EventLog) -> None:
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=60)
    log.session("d2", "outlook", DAY.replace(hour=9), minutes=30)
    assert usage(log, device="d2")["outlook"] == ("email", 1, 1, 1, Decimal("0.50"))


def test_an_agent_stopped_session_counts_like_an_exited_one(log: EventLog) -> None:
    log.session("d1", "signal", DAY.replace(hour=9), minutes=6, reason="agent_stopped",
                category="instant_messaging")  # fmt: skip
    assert usage(log)["signal"][-1] == Decimal("0.10")


def test_sessions_derive_their_end_reason_from_the_best_evidence(log: EventLog) -> None:
    stopped = log.session("d1", "outlook", DAY.replace(hour=9), minutes=10)
    beating = log.session("d1", "zoom", DAY.replace(hour=9))
    silent = log.session("d1", "slack", DAY.replace(hour=9))
    log.heartbeat("d1", DAY.replace(hour=9, minute=5), [beating])
    con = duckdb.connect(str(log.close()), read_only=True)
    run_report(con, "usage", {"from": DAY, "to": NEXT_DAY, "device": None})
    reasons = dict(con.execute("SELECT session_id::VARCHAR, end_reason FROM sessions").fetchall())
    con.close()
    assert reasons == {stopped: "exited", beating: "last_heartbeat", silent: "no_evidence"}


def test_a_report_refuses_missing_and_unknown_parameters(log: EventLog) -> None:
    con = duckdb.connect(str(log.close()), read_only=True)
    with pytest.raises(ValueError, match=r"missing parameters \['device'\].*unknown.*'dev'"):
        run_report(con, "usage", {"from": DAY, "to": NEXT_DAY, "dev": "d1"})
    con.close()


def test_every_report_file_names_its_clause() -> None:
    reports = list_reports()
    assert reports
    for report in reports:
        assert report.description and "CS3" in report.clause and "4.01.06" in report.clause


def test_a_report_file_without_a_clause_is_refused() -> None:
    with pytest.raises(ValueError, match=r"x\.sql: header has no '-- clause:' line"):
        parse_report("-- name: x\n-- description: y\nSELECT 1", "x.sql")


def test_the_session_log_lists_each_overlapping_session_unclipped(log: EventLog) -> None:
    log.session(
        "d1", "teams", DAY.replace(day=17, hour=23), minutes=90, category="teleconferencing"
    )
    log.session("d1", "outlook", DAY.replace(hour=9), minutes=0.5)
    log.session("d2", "outlook", DAY.replace(hour=9), minutes=5)
    con = duckdb.connect(str(log.close()), read_only=True)
    result = run_report(con, "session_log", {"from": DAY, "to": NEXT_DAY, "device": "d1"})
    con.close()
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    assert [(r["app_id"], r["minutes"], r["end_reason"]) for r in rows] == [
        ("teams", Decimal("90.0"), "exited"),
        ("outlook", Decimal("0.5"), "exited"),
    ]
    assert rows[0]["ended_at"] == datetime(2026, 11, 18, 0, 30)
