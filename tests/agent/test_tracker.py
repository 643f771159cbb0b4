"""Sessions from scans: one per (app, OS user), started once, stopped once, timed monotonically,
with the CPU time their processes used while in them."""

from __future__ import annotations

from agent.catalog import App
from agent.scan import ProcessCpu, ProcessKey, Running
from agent.tracker import SessionTracker, Started, Stopped

SLACK = App("slack", "Slack", "Salesforce", "instant_messaging", "business")
ZOOM = App("zoom", "Zoom", "Zoom", "teleconferencing", "business")


def counts(*entries: tuple[App, str, int]) -> Running:
    """A scan that saw `count` processes of each (app, user), with no CPU readings."""
    return Running({(app.id, user): (app, count) for app, user, count in entries})


def readings(app: App, user: str, processes: dict[ProcessKey, ProcessCpu]) -> Running:
    """A scan that saw these processes of one (app, user) with their CPU times."""
    key = (app.id, user)
    return Running({key: (app, len(processes))}, {key: processes})


def old(cpu_ms: int | None) -> ProcessCpu:
    return ProcessCpu(cpu_ms, new=False)


def new(cpu_ms: int) -> ProcessCpu:
    return ProcessCpu(cpu_ms, new=True)


def test_a_new_app_starts_a_session_and_its_end_stops_it_with_the_duration() -> None:
    tracker = SessionTracker()
    [started] = tracker.update(counts((SLACK, "ann", 2)), now_mono=100.0)
    assert isinstance(started, Started)
    assert tracker.update(counts((SLACK, "ann", 3)), now_mono=102.0) == []
    [stopped] = tracker.update(Running(), now_mono=130.5)
    assert isinstance(stopped, Stopped)
    assert stopped.session.session_id == started.session.session_id
    assert stopped.duration_ms == 30_500
    assert stopped.session.process_count == 3
    assert not stopped.agent_stopped


def test_two_users_of_one_app_are_two_sessions() -> None:
    tracker = SessionTracker()
    transitions = tracker.update(counts((ZOOM, "ann", 1), (ZOOM, "bob", 1)), now_mono=0.0)
    assert {t.session.os_user for t in transitions} == {"ann", "bob"}
    assert len({t.session.session_id for t in transitions}) == 2


def test_restarting_an_app_is_a_new_session() -> None:
    tracker = SessionTracker()
    [first] = tracker.update(counts((ZOOM, "ann", 1)), now_mono=0.0)
    tracker.update(Running(), now_mono=10.0)
    [second] = tracker.update(counts((ZOOM, "ann", 1)), now_mono=20.0)
    assert first.session.session_id != second.session.session_id


def test_stop_all_ends_open_sessions_as_agent_stopped() -> None:
    tracker = SessionTracker()
    tracker.update(counts((ZOOM, "ann", 1), (SLACK, "ann", 1)), now_mono=0.0)
    stopped = tracker.stop_all(now_mono=5.0)
    assert len(stopped) == 2
    assert all(isinstance(s, Stopped) and s.agent_stopped for s in stopped)
    assert tracker.running == []


def test_a_process_already_running_counts_only_the_cpu_time_it_uses_in_the_session() -> None:
    tracker = SessionTracker()
    [started] = tracker.update(readings(ZOOM, "ann", {(10, 1): old(50_000)}), now_mono=0.0)
    assert started.session.cpu_ms == 0  # its 50 s before the agent saw it are not this session's
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(50_400)}), now_mono=2.0)
    assert started.session.cpu_ms == 400


def test_a_process_started_since_the_previous_scan_counts_from_its_start() -> None:
    tracker = SessionTracker()
    [started] = tracker.update(readings(ZOOM, "ann", {(10, 1): new(300)}), now_mono=0.0)
    assert started.session.cpu_ms == 300  # the app's start-up is in use too
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(350), (11, 7): new(20)}), now_mono=2.0)
    assert started.session.cpu_ms == 300 + 50 + 20


def test_a_process_that_exits_keeps_what_it_used_up_to_its_last_scan() -> None:
    tracker = SessionTracker()
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(1_000), (11, 5): old(200)}), now_mono=0.0)
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(1_100), (11, 5): old(900)}), now_mono=2.0)
    [session] = tracker.running
    assert session.cpu_ms == 100 + 700
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(1_150)}), now_mono=4.0)  # 11 exited
    assert session.cpu_ms == 150 + 700
    [stopped] = tracker.update(Running(), now_mono=6.0)
    assert isinstance(stopped, Stopped) and stopped.session.cpu_ms == 850


def test_a_reused_pid_is_another_process_counted_from_its_own_start() -> None:
    tracker = SessionTracker()
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(1_000)}), now_mono=0.0)
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(1_600)}), now_mono=2.0)
    # pid 10 exited and a new Zoom process got it: a new start time, a new process
    tracker.update(readings(ZOOM, "ann", {(10, 9): new(30)}), now_mono=4.0)
    [session] = tracker.running
    assert session.cpu_ms == 600 + 30


def test_an_unreadable_cpu_time_keeps_what_was_known() -> None:
    tracker = SessionTracker()
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(1_000)}), now_mono=0.0)
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(1_250)}), now_mono=2.0)
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(None), (12, 3): old(None)}), now_mono=4.0)
    [session] = tracker.running
    assert session.cpu_ms == 250
    tracker.update(readings(ZOOM, "ann", {(10, 1): old(1_300), (12, 3): old(80)}), now_mono=6.0)
    assert session.cpu_ms == 300  # 12's first reading is its baseline: it was there before


def test_each_users_session_counts_only_its_own_processes() -> None:
    tracker = SessionTracker()
    scan = Running(
        {("zoom", "ann"): (ZOOM, 1), ("zoom", "bob"): (ZOOM, 1)},
        {("zoom", "ann"): {(10, 1): new(500)}, ("zoom", "bob"): {(20, 1): new(40)}},
    )
    tracker.update(scan, now_mono=0.0)
    assert {s.os_user: s.cpu_ms for s in tracker.running} == {"ann": 500, "bob": 40}
