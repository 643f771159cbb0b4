"""Browser tabs in the tracker (issue 9): one session per (app, OS user) over processes, app
windows and tabs, with surfaces, browsers and foreground time stated by hand."""

from __future__ import annotations

from agent.catalog import App
from agent.events import transition_event
from agent.scan import ProcessCpu, Running, Surface
from agent.tracker import OpenTabs, SessionTracker, Started, Stopped
from commaudit.v1 import events_pb2

GMAIL = App("gmail", "Gmail", "Google", "email", "mixed", ("mail.google.com",))
YOUTUBE = App("youtube", "YouTube", "Google", "video_sharing", "mixed", ("www.youtube.com",))


def tab(
    app: App, user: str, *browsers: str, focused: bool = False
) -> dict[tuple[str, str], OpenTabs]:
    return {(app.id, user): OpenTabs(app, frozenset(browsers or ("chromium",)), focused)}


def window(app: App, user: str, cpu_ms: int) -> Running:
    """A scan that saw one browser process showing `app` as an app window."""
    key = (app.id, user)
    return Running({key: (app, 1)}, {key: {(7, 1): ProcessCpu(cpu_ms, False)}},
                   {key: {Surface.APP_WINDOW}})  # fmt: skip


def test_foreground_time_is_what_each_scan_saw_held_until_the_next() -> None:
    """Scans at 0, 2, 4, 6 s see the tab focused, focused, in the background, focused; the tab
    is gone at 7 s. Held forward: 0-2 and 2-4 focused, 4-6 not, 6-7 focused: 5 s of 7."""
    tracker = SessionTracker()
    [started] = tracker.update(Running(), 100.0, tab(GMAIL, "ann", focused=True))
    assert isinstance(started, Started)
    assert started.session.process_count == 0
    tracker.update(Running(), 102.0, tab(GMAIL, "ann", focused=True))
    tracker.update(Running(), 104.0, tab(GMAIL, "ann", focused=False))
    tracker.update(Running(), 106.0, tab(GMAIL, "ann", focused=True))
    [stopped] = tracker.update(Running(), 107.0, {})
    assert isinstance(stopped, Stopped)
    assert stopped.duration_ms == 7_000
    assert stopped.session.foreground_ms == 5_000
    assert stopped.session.surfaces == {Surface.BROWSER_TAB}
    assert stopped.session.browsers == {"chromium"}
    assert stopped.session.cpu_ms is None  # a browser's CPU time is not the service's


def test_focus_moving_between_two_apps_moves_their_foreground_time() -> None:
    """Gmail focused at 0 and 1 s, YouTube from 3 s; both closed at 4.5 s: Gmail 3 s (0-3),
    YouTube 1.5 s (3-4.5), each open 4.5 s."""
    tracker = SessionTracker()
    both = {**tab(GMAIL, "ann", focused=True), **tab(YOUTUBE, "ann")}
    tracker.update(Running(), 0.0, both)
    tracker.update(Running(), 1.0, both)
    tracker.update(Running(), 3.0, {**tab(GMAIL, "ann"), **tab(YOUTUBE, "ann", focused=True)})
    stops = {t.session.app.id: t for t in tracker.update(Running(), 4.5, {})}
    assert {app: (s.session.foreground_ms, s.duration_ms) for app, s in stops.items()} == {
        "gmail": (3_000, 4_500),
        "youtube": (1_500, 4_500),
    }


def test_an_app_window_and_a_tab_of_one_app_for_one_user_are_one_session() -> None:
    """The window from 0 s (CPU 100 ms at the first scan, 250 ms at 2 s), a focused tab from
    2 s; the window closes at 4 s, the tab at 6 s. One session, 6 s long, both surfaces, CPU
    150 ms (what the window used in it), foreground 4 s (2-6)."""
    tracker = SessionTracker()
    [started] = tracker.update(window(YOUTUBE, "ann", 100), 0.0)
    assert started.session.surfaces == {Surface.APP_WINDOW}
    assert started.session.foreground_ms is None  # no tab yet: focus unknown, not 0
    assert tracker.update(window(YOUTUBE, "ann", 250), 2.0, tab(YOUTUBE, "ann", focused=True)) == []
    assert tracker.update(Running(), 4.0, tab(YOUTUBE, "ann", focused=True)) == []
    assert tracker.running[0].process_count == 0
    [stopped] = tracker.update(Running(), 6.0)
    assert isinstance(stopped, Stopped)
    assert stopped.session.session_id == started.session.session_id
    assert (stopped.duration_ms, stopped.session.cpu_ms, stopped.session.foreground_ms) == (
        6_000, 150, 4_000,
    )  # fmt: skip
    assert stopped.session.surfaces == {Surface.APP_WINDOW, Surface.BROWSER_TAB}


def test_the_same_app_for_two_users_or_in_two_browsers() -> None:
    """Two users: two sessions. One user's tabs in two browsers: one session, both browsers."""
    tracker = SessionTracker()
    tabs = {**tab(GMAIL, "ann", "chromium", "firefox"), **tab(GMAIL, "bob", "edge")}
    transitions = tracker.update(Running(), 0.0, tabs)
    assert {t.session.os_user: t.session.browsers for t in transitions} == {
        "ann": {"chromium", "firefox"},
        "bob": {"edge"},
    }


def test_the_agent_stopping_counts_foreground_time_up_to_the_stop() -> None:
    tracker = SessionTracker()
    tracker.update(Running(), 10.0, tab(GMAIL, "ann", focused=True))
    [stopped] = tracker.stop_all(12.5)
    assert isinstance(stopped, Stopped) and stopped.agent_stopped
    assert stopped.session.foreground_ms == 2_500


def test_events_carry_surfaces_browsers_and_only_the_times_measured() -> None:
    tracker = SessionTracker()
    [started] = tracker.update(Running(), 0.0, tab(GMAIL, "ann", "firefox", "chromium"))
    event = transition_event("dev-1", started)
    assert list(event.app_started.surfaces) == [events_pb2.SURFACE_BROWSER_TAB]
    assert list(event.app_started.browsers) == ["chromium", "firefox"]
    assert event.app_started.process_count == 0
    [stopped] = tracker.update(Running(), 1.0, {})
    body = transition_event("dev-1", stopped).app_stopped
    assert not body.HasField("cpu_ms")  # not measured, which is not 0
    assert body.HasField("foreground_ms") and body.foreground_ms == 0
    [process] = SessionTracker().update(Running({("gmail", "ann"): (GMAIL, 1)}), 0.0)
    started_body = transition_event("dev-1", process).app_started
    assert list(started_body.surfaces) == [events_pb2.SURFACE_PROCESS]
    assert list(started_body.browsers) == []
