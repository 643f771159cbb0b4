"""Tab state as the daemon reads it: aggregated per (app, user, browser); a closed connection's
tabs gone at once, a silent one's after 150 s."""

from __future__ import annotations

import threading

from agent.browser.messages import Tab
from agent.browser.tab_state import BrowserTabs, TabUse


class Clock:
    """Time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tabs_aggregate_per_app_user_and_browser_over_connections() -> None:
    tabs = BrowserTabs()
    tabs.connect(1, "ana", "chrome")
    tabs.connect(2, "ana", "chrome")  # a second Chrome profile of the same user
    tabs.connect(3, "ben", "chrome")
    tabs.connect(4, "ana", "firefox")
    tabs.report(1, [Tab("gmail", False, False, False), Tab("gmail", False, True, False)])
    tabs.report(2, [Tab("gmail", True, False, False), Tab("youtube", False, False, False)])
    tabs.report(3, [Tab("gmail", False, False, False)])
    tabs.report(4, [Tab("gmail", False, False, False)])
    assert tabs.current() == [
        TabUse("gmail", "ana", "chrome", tabs=3, focused=True, audible=True),
        TabUse("gmail", "ana", "firefox", tabs=1, focused=False, audible=False),
        TabUse("gmail", "ben", "chrome", tabs=1, focused=False, audible=False),
        TabUse("youtube", "ana", "chrome", tabs=1, focused=False, audible=False),
    ]


def test_a_report_replaces_the_connections_previous_set() -> None:
    tabs = BrowserTabs()
    tabs.connect(1, "ana", "edge")
    tabs.report(1, [Tab("gmail", True, False, False)])
    tabs.report(1, [Tab("slack", False, False, False)])
    assert [use.app_id for use in tabs.current()] == ["slack"]
    tabs.report(1, [])
    assert tabs.current() == []


def test_a_closed_connections_tabs_vanish_at_once_and_later_reports_are_ignored() -> None:
    tabs = BrowserTabs()
    tabs.connect(1, "ana", "edge")
    tabs.report(1, [Tab("gmail", True, False, False)])
    tabs.disconnect(1)
    assert tabs.current() == []
    tabs.report(1, [Tab("gmail", True, False, False)])  # a message read before the close
    assert tabs.current() == []


def test_a_connection_silent_for_more_than_150_s_counts_as_gone_until_it_speaks() -> None:
    clock = Clock()
    tabs = BrowserTabs(clock)
    tabs.connect(1, "ana", "chromium")
    tabs.report(1, [Tab("gmail", True, False, False)])
    clock.now += 150
    assert len(tabs.current()) == 1  # 150 s: two keepalives may be late, not three
    clock.now += 1
    assert tabs.current() == []
    tabs.seen(1)  # a keepalive: the last report stands again
    assert len(tabs.current()) == 1
    clock.now += 100
    tabs.report(1, [Tab("slack", False, False, False)], alive=False)  # the agent's revision
    clock.now += 51
    assert tabs.current() == []


def test_readers_and_writers_on_many_threads_see_whole_reports() -> None:
    tabs = BrowserTabs()
    for n in range(8):
        tabs.connect(n, f"user{n}", "chrome")
    stop = threading.Event()
    torn: list[list[TabUse]] = []

    def write(n: int) -> None:
        while not stop.is_set():
            tabs.report(n, [Tab("gmail", False, False, False)] * 3)
            tabs.report(n, [Tab("gmail", True, False, False)] * 3)
            tabs.connect(100 + n, "churn", "edge")  # the dict changes size under the readers
            tabs.disconnect(100 + n)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for writer in writers:
        writer.start()
    for _ in range(2000):
        torn += [[u for u in tabs.current() if u.tabs != 3]]
    stop.set()
    for writer in writers:
        writer.join()
    assert not any(torn)
