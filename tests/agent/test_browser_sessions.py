"""Browser tabs become sessions in the real agent (issue 9 items 3 and 4).

A real daemon (open_agent, the packaged catalog, a real spool whose events stay put: its
collector refuses connections) listens on a socket of the test's own; the real
`commaudit-browser-host` runs as a subprocess and is spoken to on its stdin/stdout as a browser
speaks to it, with framing written by hand (browser_harness). The os_user is whoever runs the
test, as the kernel tells the agent.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import cli
from agent.browser.socket_path import SOCKET_ENV
from agent.status_file import BrowserStatus, TabApp, read_status
from commaudit.v1 import events_pb2
from tests.agent.agent_harness import (
    Lifecycle,
    RunningAgent,
    config_text,
    lifecycles,
    refusing_address,
    running_agent,
)
from tests.agent.browser.browser_harness import HELLO, Host, tab, tabs_message

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the browser socket needs SO_PEERCRED (Linux)"
)
USER = pwd.getpwuid(os.getuid()).pw_name
Event = events_pb2.Event
TAB, WINDOW = events_pb2.SURFACE_BROWSER_TAB, events_pb2.SURFACE_APP_WINDOW


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[RunningAgent]:
    yield from _agent(tmp_path, "employer")


@pytest.fixture
def personal_agent(tmp_path: Path) -> Iterator[RunningAgent]:
    yield from _agent(tmp_path, "personal")


def _agent(tmp_path: Path, ownership: str) -> Iterator[RunningAgent]:
    file = tmp_path / "agent.toml"
    with refusing_address() as collector:
        file.write_text(config_text(tmp_path, collector, catalog=""))  # "": the packaged one
        with running_agent(file, collector, ownership=ownership) as running:
            running.wait_scanning()
            yield running


@pytest.fixture
def hosts(browser_socket: Path) -> Iterator[list[Host]]:
    started: list[Host] = []
    yield started
    for host in started:
        host.stop()


def connect(hosts: list[Host], socket: Path) -> tuple[Host, Any]:
    """A host the browser started, past hello: the config the agent answered with."""
    host = Host(socket)
    hosts.append(host)
    host.send(HELLO)
    return host, host.reader.next()


def started(app_id: str) -> Any:
    def find(events: list[Event]) -> events_pb2.AppStarted | None:
        return next((e.app_started for e in events if e.app_started.app_id == app_id), None)

    return find


def stopped(app_id: str) -> Any:
    def find(events: list[Event]) -> events_pb2.AppStopped | None:
        return next((e.app_stopped for e in events if e.app_stopped.app_id == app_id), None)

    return find


def test_a_webmail_tab_is_a_session_of_its_user_in_its_browser(
    agent: RunningAgent, hosts: list[Host], browser_socket: Path
) -> None:
    host, config = connect(hosts, browser_socket)
    assert config["collect"] is True
    assert ["mail.google.com", "gmail"] in config["hosts"]
    host.send(tabs_message(tab("gmail", focused=True)))
    begun = agent.wait_for(started("gmail"))
    assert (begun.os_user, begun.category) == (USER, events_pb2.CATEGORY_EMAIL)
    assert (list(begun.surfaces), list(begun.browsers)) == ([TAB], ["chromium"])
    assert begun.process_count == 0


def test_a_site_outside_the_catalog_cannot_even_be_reported(
    agent: RunningAgent, hosts: list[Host], browser_socket: Path
) -> None:
    """The extension filters by hostname; an app id the catalog lacks is refused outright (by
    the host first, then by the agent), and nothing of it reaches the spool."""
    host, _ = connect(hosts, browser_socket)
    host.send(tabs_message(tab("gmail"), tab("bbc-news", focused=True)))
    code, _ = host.finish()
    assert code == 1
    assert host.rest[0]["type"] == "refused" and "bbc-news" in host.rest[0]["reason"]
    time.sleep(0.3)  # several scans
    spooled = b"".join(e.SerializeToString() for e in agent.this_run())
    assert b"bbc-news" not in spooled and b"gmail" not in spooled


def test_focus_moving_between_two_tabs_moves_foreground_time(
    agent: RunningAgent, hosts: list[Host], browser_socket: Path
) -> None:
    host, _ = connect(hosts, browser_socket)
    host.send(tabs_message(tab("gmail", focused=True), tab("youtube")))
    agent.wait_for(started("youtube"))
    first = time.monotonic()
    time.sleep(1.0)
    host.send(tabs_message(tab("gmail"), tab("youtube", focused=True, audible=True)))
    switched = time.monotonic()
    time.sleep(1.0)
    host.close_stdin()
    assert host.finish()[0] == 0
    ended = time.monotonic()
    gmail, youtube = agent.wait_for(stopped("gmail")), agent.wait_for(stopped("youtube"))
    # Each scan's sighting holds until the next (0.05 s apart); the messages take a moment.
    assert abs(gmail.foreground_ms - (switched - first) * 1000) < 400
    assert abs(youtube.foreground_ms - (ended - switched) * 1000) < 400
    assert youtube.foreground_ms > 600 and gmail.foreground_ms > 600
    assert not gmail.HasField("cpu_ms")  # tabs only: the browser's CPU is not Gmail's
    assert list(youtube.surfaces) == [TAB] and list(youtube.browsers) == ["chromium"]


@pytest.mark.parametrize("ending", ["stdin closed", "host killed"])
def test_a_browser_that_goes_ends_its_sessions_at_the_next_scan(
    agent: RunningAgent, hosts: list[Host], browser_socket: Path, ending: str
) -> None:
    host, _ = connect(hosts, browser_socket)
    host.send(tabs_message(tab("slack", focused=True)))
    agent.wait_for(started("slack"))
    gone = time.monotonic()
    if ending == "stdin closed":  # the browser exited and closed the pipe
        host.close_stdin()
    else:  # the host died: the kernel closes its socket
        host.kill()
    end = agent.wait_for(stopped("slack"), timeout=2.0)
    assert time.monotonic() - gone < 1.0  # one scan, well within a heartbeat (60 s)
    assert end.reason == events_pb2.AppStopped.REASON_EXITED


def test_an_app_window_and_a_tab_of_one_app_for_one_user_are_one_session(
    agent: RunningAgent, hosts: list[Host], browser_socket: Path, tmp_path: Path
) -> None:
    window = _app_window(tmp_path, "https://www.youtube.com/")
    try:
        begun = agent.wait_for(started("youtube"))
        assert (list(begun.surfaces), begun.os_user, begun.process_count) == ([WINDOW], USER, 1)
        host, _ = connect(hosts, browser_socket)
        host.send(tabs_message(tab("youtube", focused=True)))
        time.sleep(0.5)  # several scans with both
    finally:
        window.kill()
        window.wait()
        assert window.stdin is not None
        window.stdin.close()
    time.sleep(0.3)
    assert stopped("youtube")(agent.events()) is None, "it ended while its tab was open"
    host.close_stdin()
    end = agent.wait_for(stopped("youtube"))
    assert end.session_id == begun.session_id
    assert [e.app_started.app_id for e in agent.this_run()].count("youtube") == 1
    assert (list(end.surfaces), list(end.browsers)) == ([WINDOW, TAB], ["chromium"])
    assert end.HasField("cpu_ms") and end.foreground_ms >= 500


def _app_window(tmp_path: Path, url: str) -> subprocess.Popen[bytes]:
    """A stand-in for Chromium showing `url` as an app window: a shell copied under the name
    `chromium` (a browser the catalog names), waiting on its stdin, with `--app=URL` among its
    arguments; it runs no child, so it stays the one process."""
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell, "the test needs a POSIX shell"
    binary = tmp_path / "bin" / "chromium"
    binary.parent.mkdir()
    shutil.copy(shell, binary)
    return subprocess.Popen([str(binary), "-c", "read line", f"--app={url}"], stdin=subprocess.PIPE)


def test_a_personal_device_takes_nothing_from_browsers(
    personal_agent: RunningAgent, hosts: list[Host], browser_socket: Path, tmp_path: Path
) -> None:
    host, config = connect(hosts, browser_socket)
    assert config == {"type": "config", "collect": False, "report_incognito": False, "hosts": []}
    host.send(tabs_message(tab("gmail", focused=True)))  # gmail is mixed-use: tracked there
    code, _ = host.finish()
    assert code == 1 and host.rest[0]["type"] == "refused"
    time.sleep(0.3)
    # Other processes of the machine may be catalog apps; no session came from a browser.
    sessions = [e.app_started for e in personal_agent.this_run() if e.HasField("app_started")]
    assert [s.app_id for s in sessions if TAB in s.surfaces or s.browsers] == []
    assert started("gmail")(personal_agent.this_run()) is None
    snapshot = read_status(tmp_path / "state")
    assert snapshot is not None and snapshot.browsers is not None
    assert not snapshot.browsers.collected and "personal device" in snapshot.browsers.detail


def test_status_lists_the_tab_apps_by_name_and_category(
    agent: RunningAgent,
    hosts: list[Host],
    browser_socket: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host, _ = connect(hosts, browser_socket)
    host.send(tabs_message(tab("gmail", focused=True), tab("gmail"), tab("youtube")))
    state = tmp_path / "state"

    def listed() -> BrowserStatus | None:
        snapshot = read_status(state)
        browsers = snapshot.browsers if snapshot else None
        return browsers if browsers and len(browsers.tabs) == 2 else None

    assert agent.wait_for(lambda _: listed()) == BrowserStatus(
        True,
        "",
        (
            TabApp("gmail", "email", "chromium", 2, True),
            TabApp("youtube", "video_sharing", "chromium", 1, False),
        ),
    )
    cli.main(["status", "--state-dir", str(state), "--config", str(tmp_path / "agent.toml")])
    shown = capsys.readouterr().out
    assert "gmail (email) in chromium: 2 tabs, in use" in shown
    assert "youtube (video_sharing) in chromium: 1 tab\n" in shown
    assert "google.com" not in shown and USER not in shown.split("Catalog web services")[1]


def test_an_agent_that_cannot_listen_for_browsers_runs_on_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv(SOCKET_ENV, str(blocker / "browser.sock"))
    for running in _agent(tmp_path, "employer"):
        [start] = lifecycles(running.this_run(), Lifecycle.KIND_STARTED)
        assert start.detail.startswith("browser tabs not collected: cannot listen")
        snapshot = read_status(tmp_path / "state")
        assert snapshot is not None and snapshot.browsers is not None
        assert not snapshot.browsers.collected
        assert snapshot.browsers.detail.startswith("not collected: cannot listen")
