"""Sessions from scans: one per (app, OS user), started once, stopped once, timed monotonically."""

from __future__ import annotations

from agent.catalog import App
from agent.tracker import SessionTracker, Started, Stopped

SLACK = App("slack", "Slack", "Salesforce", "instant_messaging", "business")
ZOOM = App("zoom", "Zoom", "Zoom", "teleconferencing", "business")


def test_a_new_app_starts_a_session_and_its_end_stops_it_with_the_duration() -> None:
    tracker = SessionTracker()
    [started] = tracker.update({("slack", "ann"): (SLACK, 2)}, now_mono=100.0)
    assert isinstance(started, Started)
    assert tracker.update({("slack", "ann"): (SLACK, 3)}, now_mono=102.0) == []
    [stopped] = tracker.update({}, now_mono=130.5)
    assert isinstance(stopped, Stopped)
    assert stopped.session.session_id == started.session.session_id
    assert stopped.duration_ms == 30_500
    assert stopped.session.process_count == 3
    assert not stopped.agent_stopped


def test_two_users_of_one_app_are_two_sessions() -> None:
    tracker = SessionTracker()
    transitions = tracker.update(
        {("zoom", "ann"): (ZOOM, 1), ("zoom", "bob"): (ZOOM, 1)}, now_mono=0.0
    )
    assert {t.session.os_user for t in transitions} == {"ann", "bob"}
    assert len({t.session.session_id for t in transitions}) == 2


def test_restarting_an_app_is_a_new_session() -> None:
    tracker = SessionTracker()
    [first] = tracker.update({("zoom", "ann"): (ZOOM, 1)}, now_mono=0.0)
    tracker.update({}, now_mono=10.0)
    [second] = tracker.update({("zoom", "ann"): (ZOOM, 1)}, now_mono=20.0)
    assert first.session.session_id != second.session.session_id


def test_stop_all_ends_open_sessions_as_agent_stopped() -> None:
    tracker = SessionTracker()
    tracker.update({("zoom", "ann"): (ZOOM, 1), ("slack", "ann"): (SLACK, 1)}, now_mono=0.0)
    stopped = tracker.stop_all(now_mono=5.0)
    assert len(stopped) == 2
    assert all(isinstance(s, Stopped) and s.agent_stopped for s in stopped)
    assert tracker.running == []
