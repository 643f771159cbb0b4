"""The session log on hand-built events: each overlapping session once, unclipped."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import duckdb

from analytics.run import run_report
from tests.analytics.event_rows import EventLog

DAY = datetime(2026, 11, 18)
NEXT_DAY = datetime(2026, 11, 19)


def session_log(log: EventLog, device: str | None = None) -> list[dict[str, object]]:
    con = duckdb.connect(str(log.close()), read_only=True)
    try:
        result = run_report(con, "session_log", {"from": DAY, "to": NEXT_DAY, "device": device})
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


def test_a_session_that_ended_exactly_where_the_range_begins_is_not_listed(
    log: EventLog,
) -> None:
    log.session("d1", "zoom", DAY.replace(day=17, hour=23), minutes=60,
                category="teleconferencing")  # fmt: skip
    assert session_log(log) == []
