"""Sessions derived from raw events (analytics/sql/sessions.sql), end by end reason."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from analytics.run import create_sessions_view
from tests.analytics.event_rows import EventLog

NINE = datetime(2026, 11, 18, 9)


def sessions(log: EventLog) -> dict[str, tuple[datetime, str]]:
    """session_id -> (ended_at, end_reason), read through the temp view on a read-only file."""
    con = duckdb.connect(str(log.close()), read_only=True)
    try:
        create_sessions_view(con)
        rows = con.execute("SELECT session_id::VARCHAR, ended_at, end_reason FROM sessions")
        return {session: (ended, reason) for session, ended, reason in rows.fetchall()}
    finally:
        con.close()


def test_a_stopped_session_ends_its_measured_duration_after_its_start(log: EventLog) -> None:
    # The device clock stepped back an hour before the stop was stamped; the agent's monotonic
    # duration (30 min) is the truth.
    session = log.session("d1", "outlook", NINE, minutes=30, stopped_at=NINE - timedelta(hours=1))
    assert sessions(log) == {session: (datetime(2026, 11, 18, 9, 30), "exited")}


def test_an_agent_stopped_session_keeps_its_stop_reason(log: EventLog) -> None:
    session = log.session("d1", "outlook", NINE, minutes=5, reason="agent_stopped")
    assert sessions(log)[session] == (datetime(2026, 11, 18, 9, 5), "agent_stopped")


def test_a_session_with_no_stop_ends_at_the_latest_heartbeat_listing_it(log: EventLog) -> None:
    session = log.session("d1", "zoom", NINE)
    log.heartbeat("d1", NINE + timedelta(minutes=1), [session])
    log.heartbeat("d1", NINE + timedelta(minutes=2), [session])
    log.heartbeat("d1", NINE + timedelta(minutes=3), [])
    assert sessions(log) == {session: (datetime(2026, 11, 18, 9, 2), "last_heartbeat")}


def test_a_stop_outranks_later_heartbeats(log: EventLog) -> None:
    session = log.session("d1", "zoom", NINE, minutes=10)
    log.heartbeat("d1", NINE + timedelta(minutes=30), [session])
    assert sessions(log)[session] == (datetime(2026, 11, 18, 9, 10), "exited")


def test_a_heartbeat_of_another_device_does_not_end_a_session(log: EventLog) -> None:
    session = log.session("d1", "zoom", NINE)
    log.heartbeat("d2", NINE + timedelta(minutes=5), [session])
    assert sessions(log) == {session: (NINE, "no_evidence")}


def test_a_session_with_neither_stop_nor_heartbeat_ends_at_its_start(log: EventLog) -> None:
    session = log.session("d1", "slack", NINE)
    assert sessions(log) == {session: (NINE, "no_evidence")}


def test_a_heartbeat_stamped_before_the_start_never_makes_a_negative_session(
    log: EventLog,
) -> None:
    # A wall-clock step back between the start and the heartbeat.
    session = log.session("d1", "zoom", NINE)
    log.heartbeat("d1", NINE - timedelta(minutes=5), [session])
    assert sessions(log) == {session: (NINE, "last_heartbeat")}


def test_one_heartbeat_listing_several_sessions_bounds_each(log: EventLog) -> None:
    first = log.session("d1", "zoom", NINE)
    second = log.session("d1", "slack", NINE + timedelta(minutes=1))
    log.heartbeat("d1", NINE + timedelta(minutes=2), [first, second])
    log.heartbeat("d1", NINE + timedelta(minutes=3), [second])
    assert sessions(log) == {
        first: (datetime(2026, 11, 18, 9, 2), "last_heartbeat"),
        second: (datetime(2026, 11, 18, 9, 3), "last_heartbeat"),
    }
