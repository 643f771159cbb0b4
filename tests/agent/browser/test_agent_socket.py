"""The agent's socket, spoken to directly by local processes as any of them may (it is 0666):
the user comes from the peer credentials, anything not exactly the protocol is refused with
its reason and counted, and the other connections are served on."""

from __future__ import annotations

import os
import pwd
import socket
import stat
import struct
from pathlib import Path
from typing import Any

import pytest

from agent.browser.agent_socket import MAX_CONNECTIONS_PER_USER, BrowserSocket
from agent.browser.messages import BrowserConfig
from agent.browser.tab_state import BrowserTabs, TabUse
from tests.agent.browser.browser_harness import (
    CONFIG,
    CONFIG_JSON,
    HELLO,
    Client,
    RunningAgent,
    frame,
    tab,
    tabs_message,
    wait_until,
)

ME = pwd.getpwuid(os.getuid()).pw_name


def connected(agent: RunningAgent) -> Client:
    client = agent.client()
    assert client.hello(ME) == CONFIG_JSON
    return client


def refusal(client: Client) -> str:
    """The reason of the `refused` the agent sends, after which it closes the connection."""
    message = client.reader.next()
    assert message is not None and message["type"] == "refused", message
    assert client.reader.next() is None, "the connection stays open after a refusal"
    reason: str = message["reason"]
    return reason


def test_hello_gets_the_config_and_tabs_become_the_peers_tab_use(agent: RunningAgent) -> None:
    client = connected(agent)
    client.send(tabs_message(tab("gmail", focused=True), tab("youtube", audible=True)))
    assert wait_until(lambda: len(agent.tabs.current()) == 2)
    assert agent.tabs.current() == [
        TabUse("gmail", ME, "chromium", tabs=1, focused=True, audible=False),
        TabUse("youtube", ME, "chromium", tabs=1, focused=False, audible=True),
    ]
    client.close()
    assert wait_until(lambda: agent.tabs.current() == [], timeout=1)


def test_the_socket_is_0666_in_a_directory_made_0755(agent: RunningAgent) -> None:
    assert stat.S_IMODE(agent.path.stat().st_mode) == 0o666
    assert stat.S_IMODE(agent.path.parent.stat().st_mode) == 0o755


BAD = [
    pytest.param(
        struct.pack("=I", 70000), "frame of 70000 bytes exceeds the limit", id="oversized"
    ),
    pytest.param(struct.pack("=I", 9) + b'{"type":}', "frame body is not JSON", id="malformed"),
    pytest.param(
        frame(tabs_message({**tab("gmail"), "focused": 1})),
        r"tabs[0].focused: expected true or false, got number 1",
        id="wrong-type",
    ),
    pytest.param(
        frame(tabs_message(tab("gmail"), tab("news"))),
        "tabs[1].app: 'news' is not an app of the agent's config",
        id="unknown-app",
    ),
    pytest.param(
        frame({"type": "tabs", "tabs": [tab("gmail")], "url": "https://mail.google.com/x"}),
        "url: not a field of tabs",
        id="unknown-key",
    ),
    pytest.param(frame({**HELLO, "os_user": ME}), "hello: sent twice", id="second-hello"),
]


@pytest.mark.parametrize(("data", "reason"), BAD)
def test_a_bad_message_is_refused_with_its_reason_and_the_others_are_served_on(
    agent: RunningAgent, data: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    other = connected(agent)
    other.send(tabs_message(tab("slack")))
    bad = connected(agent)
    bad.send(tabs_message(tab("gmail")))
    assert wait_until(lambda: len(agent.tabs.current()) == 2)
    bad.sock.sendall(data)
    assert refusal(bad).startswith(reason)
    assert agent.socket.refusals == 1
    assert f"(uid {os.getuid()}, pid {os.getpid()}): {reason}" in caplog.text
    assert [use.app_id for use in agent.tabs.current()] == ["slack"]  # the refused one's: gone
    other.send(tabs_message(tab("youtube")))
    assert wait_until(lambda: [u.app_id for u in agent.tabs.current()] == ["youtube"])
    connected(agent).close()


def test_a_frame_cut_short_by_the_end_of_the_stream_is_refused(agent: RunningAgent) -> None:
    client = connected(agent)
    client.sock.sendall(struct.pack("=I", 100) + b'{"type": ')
    client.sock.shutdown(socket.SHUT_WR)
    assert refusal(client) == "truncated frame: body of 9 of 100 bytes"


def test_a_hello_naming_another_user_is_refused(agent: RunningAgent) -> None:
    client = agent.client()
    client.send({**HELLO, "os_user": "mayor"})
    assert refusal(client) == (
        f"os_user: 'mayor' is not the connecting process's user {ME!r} (uid {os.getuid()})"
    )
    assert agent.socket.refusals == 1
    assert agent.tabs.current() == []


@pytest.mark.parametrize("kind", ["tabs", "keepalive"])
def test_anything_before_hello_is_refused(agent: RunningAgent, kind: str) -> None:
    client = agent.client()
    client.send(tabs_message(tab("gmail")) if kind == "tabs" else {"type": "keepalive"})
    assert refusal(client) == f"{kind}: sent before hello"


def test_incognito_tabs_are_dropped_unless_the_organisation_asks_for_them(
    agent: RunningAgent,
) -> None:
    client = connected(agent)
    client.send(tabs_message(tab("gmail"), tab("youtube", incognito=True, focused=True)))
    assert wait_until(lambda: len(agent.tabs.current()) == 1)
    assert agent.tabs.current()[0].app_id == "gmail"
    agent.set_config(BrowserConfig(collect=True, report_incognito=True, hosts=CONFIG.hosts))
    assert client.reader.next() == {**CONFIG_JSON, "report_incognito": True}
    assert wait_until(lambda: len(agent.tabs.current()) == 2)  # the report already received
    assert agent.socket.refusals == 0


def test_a_personal_device_answers_hello_and_refuses_tabs(agent: RunningAgent) -> None:
    agent.set_config(BrowserConfig(collect=False, report_incognito=False, hosts=CONFIG.hosts))
    client = agent.client()
    assert client.hello(ME) == {**CONFIG_JSON, "collect": False}
    client.send({"type": "keepalive"})
    client.send(tabs_message(tab("gmail")))
    assert refusal(client) == (
        "tabs: this device's privacy profile collects nothing from browsers (§3.2)"
    )
    assert agent.tabs.current() == []


def test_a_pushed_config_reaches_every_connection_and_filters_what_it_reported(
    agent: RunningAgent,
) -> None:
    first, second = connected(agent), connected(agent)
    first.send(tabs_message(tab("gmail"), tab("slack")))
    assert wait_until(lambda: len(agent.tabs.current()) == 2)
    fewer = BrowserConfig(collect=True, report_incognito=False, hosts=CONFIG.hosts[:1])
    agent.set_config(fewer)
    for client in (first, second):
        assert client.reader.next() == {**CONFIG_JSON, "hosts": [["mail.google.com", "gmail"]]}
    assert wait_until(lambda: [u.app_id for u in agent.tabs.current()] == ["gmail"])
    agent.set_config(BrowserConfig(collect=False, report_incognito=False, hosts=CONFIG.hosts))
    assert first.reader.next()["collect"] is False
    assert wait_until(lambda: agent.tabs.current() == [])


def test_one_user_may_not_hold_more_than_the_connection_limit(agent: RunningAgent) -> None:
    clients = [connected(agent) for _ in range(MAX_CONNECTIONS_PER_USER)]
    extra = agent.client()
    assert refusal(extra) == f"more than {MAX_CONNECTIONS_PER_USER} connections of uid"
    clients.pop().close()
    assert wait_until(lambda: _hello_answered(agent))


def _hello_answered(agent: RunningAgent) -> bool:
    client = agent.client()
    client.send({**HELLO, "os_user": ME})
    answer: Any = client.reader.next()
    return bool(answer["type"] == "config")


def test_a_stale_socket_is_replaced_and_a_live_one_or_a_file_is_left_alone(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory = tmp_path_factory.mktemp("s")
    path = directory / "browser.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a killed agent leaves
    first = BrowserSocket(path, BrowserTabs(), lambda: CONFIG)
    first.start()
    second = BrowserSocket(path, BrowserTabs(), lambda: CONFIG)
    with pytest.raises(OSError, match="another process is listening there already"):
        second.start()
    second.close()
    first.close()
    assert not path.exists()
    path.write_text("not a socket")
    third = BrowserSocket(path, BrowserTabs(), lambda: CONFIG)
    with pytest.raises(OSError, match="exists and is not a socket; not removing it"):
        third.start()
    third.close()
    assert path.read_text() == "not a socket"


def test_closing_the_socket_ends_every_connection_and_its_tabs(agent: RunningAgent) -> None:
    client = connected(agent)
    client.send(tabs_message(tab("gmail")))
    assert wait_until(lambda: len(agent.tabs.current()) == 1)
    agent.socket.close()
    assert agent.tabs.current() == []
    assert client.reader.next() is None
    assert not Path(agent.path).exists()
