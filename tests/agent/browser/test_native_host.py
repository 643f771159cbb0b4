"""The native host as a browser runs it (the installed `commaudit-browser-host`, framed JSON on
its stdin and stdout) against a real BrowserSocket."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.browser.messages import BrowserConfig
from agent.browser.native_host import Relay
from agent.browser.socket_path import SOCKET_ENV
from agent.browser.tab_state import TabUse
from agent.catalog import host_app, load_catalog
from tests.agent.browser.browser_harness import (
    AGENT_CLI,
    CONFIG,
    CONFIG_JSON,
    HELLO,
    FrameReader,
    Host,
    RunningAgent,
    frame,
    start_agent,
    tab,
    tabs_message,
    wait_until,
)

ME = pwd.getpwuid(os.getuid()).pw_name


def started(agent: RunningAgent, hosts: list[Host], argv: list[str] | None = None) -> Host:
    """A host that said hello and got the config back, as the extension's first exchange."""
    return started_together(agent, hosts, 1, argv)[0]


def started_together(
    agent: RunningAgent, hosts: list[Host], n: int, argv: list[str] | None = None
) -> list[Host]:
    """`n` hosts started at once (each start costs the interpreter's imports)."""
    new = [Host(agent.path, argv) for _ in range(n)]
    hosts.extend(new)
    for host in new:
        host.send(HELLO)
    for host in new:
        assert host.reader.next() == CONFIG_JSON
    return new


def refused(host: Host) -> tuple[str, str]:
    """The reason the host gave the extension, and its stderr, once it has exited 1."""
    message = host.reader.next()
    assert message is not None and message["type"] == "refused", message
    returncode, stderr = host.finish()
    assert returncode == 1, stderr
    assert host.rest == [], "nothing follows a refusal"
    reason: str = message["reason"]
    return reason, stderr


def test_config_reaches_stdout_after_hello_and_tabs_become_the_users_tab_use(
    agent: RunningAgent, hosts: list[Host]
) -> None:
    host = started(agent, hosts)
    host.send(tabs_message(tab("gmail", focused=True), tab("gmail"), tab("youtube", audible=True)))
    assert wait_until(lambda: len(agent.tabs.current()) == 2)
    assert agent.tabs.current() == [
        TabUse("gmail", ME, "chromium", tabs=2, focused=True, audible=False),
        TabUse("youtube", ME, "chromium", tabs=1, focused=False, audible=True),
    ]
    host.send({"type": "keepalive"})
    agent.set_config(BrowserConfig(collect=True, report_incognito=True, hosts=CONFIG.hosts))
    assert host.reader.next() == {**CONFIG_JSON, "report_incognito": True}
    host.close_stdin()
    assert host.finish() == (0, "")
    assert host.rest == []


def test_closing_stdin_ends_the_tabs_at_once(agent: RunningAgent, hosts: list[Host]) -> None:
    host = started(agent, hosts)
    host.send(tabs_message(tab("slack", focused=True)))
    assert wait_until(lambda: len(agent.tabs.current()) == 1)
    host.close_stdin()
    assert host.finish()[0] == 0
    assert wait_until(lambda: agent.tabs.current() == [], timeout=0.5)


def test_killing_the_host_ends_the_tabs_at_once(agent: RunningAgent, hosts: list[Host]) -> None:
    host = started(agent, hosts)
    host.send(tabs_message(tab("slack", focused=True)))
    assert wait_until(lambda: len(agent.tabs.current()) == 1)
    host.kill()
    host.process.wait(timeout=5)
    assert wait_until(lambda: agent.tabs.current() == [], timeout=0.5)


def test_an_unreachable_agent_is_exit_1_with_a_clear_message(
    tmp_path: Path, hosts: list[Host]
) -> None:
    host = Host(tmp_path / "no-agent.sock")
    hosts.append(host)
    returncode, stderr = host.finish()
    assert returncode == 1
    assert stderr == (
        f"commaudit-browser-host: cannot reach the commaudit agent at {tmp_path}/no-agent.sock:"
        " No such file or directory; is it running?\n"
    )
    assert host.rest == []


BAD = [
    pytest.param(struct.pack("=I", 1 << 20), "frame of 1048576 bytes exceeds the limit", id="big"),
    pytest.param(struct.pack("=I", 6) + b"{tabs}", "frame body is not JSON", id="malformed"),
    pytest.param(struct.pack("=I", 50) + b"{", "truncated frame: body of 1 of 50", id="truncated"),
    pytest.param(
        frame(tabs_message({**tab("gmail"), "audible": "yes"})),
        "tabs[0].audible: expected true or false, got string 'yes'",
        id="wrong-type",
    ),
    pytest.param(
        frame(tabs_message(tab("news"))),
        "tabs[0].app: 'news' is not an app of the agent's config",
        id="unknown-app",
    ),
    pytest.param(
        frame({**HELLO, "os_user": "mayor"}),
        "os_user: set by the native host from its own login, never sent",
        id="claims-another-user",
    ),
]


@pytest.mark.parametrize(("data", "reason"), BAD)
def test_a_bad_message_from_the_browser_is_refused_and_the_agent_serves_on(
    agent: RunningAgent, hosts: list[Host], data: bytes, reason: str
) -> None:
    other, bad = started_together(agent, hosts, 2)
    other.send(tabs_message(tab("youtube")))
    bad.send(tabs_message(tab("gmail")))
    assert wait_until(lambda: len(agent.tabs.current()) == 2)
    bad.write(data)
    if "truncated" in reason:
        bad.close_stdin()
    got, stderr = refused(bad)
    assert got.startswith(reason)
    assert stderr == f"commaudit-browser-host: refused a message from the browser: {got}\n"
    assert wait_until(lambda: [u.app_id for u in agent.tabs.current()] == ["youtube"])
    other.send(tabs_message(tab("slack")))
    assert wait_until(lambda: [u.app_id for u in agent.tabs.current()] == ["slack"])
    assert agent.client().hello(ME) == CONFIG_JSON  # and a new connection is served


def test_a_refusal_by_the_agent_is_passed_to_the_extension_and_ends_the_host(
    agent: RunningAgent, hosts: list[Host]
) -> None:
    host = started(agent, hosts)
    # The catalog dropped youtube a moment ago and the new config is not pushed yet: the host
    # still allows it, the agent, asked at each message, does not.
    agent.set_config(BrowserConfig(True, False, CONFIG.hosts[:1]), push=False)
    host.send(tabs_message(tab("youtube")))
    reason, stderr = refused(host)
    assert reason == "tabs[0].app: 'youtube' is not an app of the agent's config"
    assert (
        stderr == f"commaudit-browser-host: the commaudit agent refused the connection: {reason}\n"
    )
    assert agent.socket.refusals == 1


def test_a_refusal_sent_just_before_the_agent_closed_still_reaches_the_extension() -> None:
    """The host's send fails (the agent is gone) before it has read the agent's last words."""
    browser_in, to_host = os.pipe()
    from_host, browser_out = os.pipe()
    host_end, agent_end = socket.socketpair()
    with host_end:
        agent_end.sendall(frame({"type": "refused", "reason": "too many tabs today"}))
        agent_end.close()
        os.write(to_host, frame(HELLO))  # poll reports stdin first: this send fails first
        assert Relay(browser_out, host_end, "ana").run(browser_in) == 1
    os.close(browser_out)
    reader = FrameReader(from_host)
    assert reader.next() == {"type": "refused", "reason": "too many tabs today"}
    assert reader.next() is None
    for fd in (browser_in, to_host, from_host):
        os.close(fd)


def test_an_agent_that_goes_away_ends_the_host_with_exit_1(
    agent: RunningAgent, hosts: list[Host]
) -> None:
    host = started(agent, hosts)
    agent.socket.close()
    assert host.finish() == (
        1,
        "commaudit-browser-host: the commaudit agent closed the connection\n",
    )


def test_tabs_on_a_personal_device_are_refused_by_the_host_itself(
    agent: RunningAgent, hosts: list[Host]
) -> None:
    agent.set_config(BrowserConfig(collect=False, report_incognito=False, hosts=CONFIG.hosts))
    host = Host(agent.path)
    hosts.append(host)
    host.send(HELLO)
    assert host.reader.next() == {**CONFIG_JSON, "collect": False}
    host.send(tabs_message(tab("gmail")))
    reason, _ = refused(host)
    assert reason == "tabs: this device's privacy profile collects nothing from browsers (§3.2)"
    assert agent.socket.refusals == 0  # stopped before the agent


def test_only_the_packaged_catalogs_apps_come_back_from_a_browser_with_a_news_site_open(
    agent: RunningAgent, hosts: list[Host]
) -> None:
    catalog = BrowserConfig(collect=True, report_incognito=False, hosts=load_catalog().web_hosts())
    agent.set_config(catalog, push=False)
    host = Host(agent.path)
    hosts.append(host)
    host.send(HELLO)
    config = host.reader.next()
    assert config["hosts"] == [list(pair) for pair in catalog.hosts]
    pairs = tuple((pattern, app) for pattern, app in config["hosts"])
    open_tabs = ["mail.google.com", "www.youtube.com", "news.example.org", "www.bbc.co.uk"]
    apps = [host_app(name, pairs) for name in open_tabs]  # the extension's filter
    assert apps == ["gmail", "youtube", None, None]
    host.send(tabs_message(*(tab(app) for app in apps if app)))
    assert wait_until(lambda: [u.app_id for u in agent.tabs.current()] == ["gmail", "youtube"])


def test_the_agents_cli_runs_the_same_host(agent: RunningAgent, hosts: list[Host]) -> None:
    origin = "chrome-extension://abcdefghijklmnopabcdefghijklmnop/"
    host = started(agent, hosts, [str(AGENT_CLI), "browser-host", origin, "--parent-window=0"])
    host.send(tabs_message(tab("gmail")))
    assert wait_until(lambda: [u.app_id for u in agent.tabs.current()] == ["gmail"])
    host.close_stdin()
    assert host.finish() == (0, "")


AS_NOBODY = r"""
import locale, os, pwd, shutil, sys  # argparse imports these late: load them while root

from agent.browser import native_host

# The interpreter lives where only root may look: load everything first, then become nobody.
nobody = pwd.getpwnam("nobody")
os.setgroups([])
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)
sys.exit(native_host.main([]))
"""
CLAIMS_ROOT = r"""
import os, pwd, socket, sys

from tests.agent.browser.browser_harness import HELLO, FrameReader, frame

nobody = pwd.getpwnam("nobody")
os.setgroups([])
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)
client = socket.socket(socket.AF_UNIX)
client.connect(sys.argv[1])
client.sendall(frame({**HELLO, "os_user": "root"}))
print(FrameReader(client.fileno()).next()["reason"])
"""


@pytest.fixture
def open_agent() -> Iterator[RunningAgent]:
    """An agent whose socket every user can reach (pytest's tmp_path is root's alone)."""
    directory = Path(tempfile.mkdtemp(prefix="commaudit-browser-"))
    directory.chmod(0o755)
    running = start_agent(directory)
    yield running
    running.stop()
    shutil.rmtree(directory)


@pytest.mark.skipif(os.getuid() != 0, reason="becoming another user needs root")
def test_the_user_comes_from_the_peer_credentials_not_the_message(
    open_agent: RunningAgent, hosts: list[Host]
) -> None:
    nobody = pwd.getpwnam("nobody")
    host = started(open_agent, hosts, [sys.executable, "-c", AS_NOBODY])
    host.send(tabs_message(tab("gmail", focused=True)))
    assert wait_until(lambda: len(open_agent.tabs.current()) == 1)
    assert open_agent.tabs.current() == [TabUse("gmail", "nobody", "chromium", 1, True, False)]
    claims: Any = subprocess.run(
        [sys.executable, "-c", CLAIMS_ROOT, str(open_agent.path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, SOCKET_ENV: str(open_agent.path)},
    )
    assert claims.stdout == (
        f"os_user: 'root' is not the connecting process's user 'nobody' (uid {nobody.pw_uid})\n"
    ), claims.stderr
    assert [use.os_user for use in open_agent.tabs.current()] == ["nobody"]
