"""sd_notify as systemd sees it: a datagram socket receives READY, WATCHDOG and STOPPING from the
agent and the collector, run as installed (console scripts, real collector, SIGTERM to stop)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.service_notify import Watchdog, notify, watchdog_interval_s
from tests.e2e.services import BIN, Collector, enroll, run

WATCHDOG_USEC = "400000"  # a 0.4 s WatchdogSec: pings every 0.2 s


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """The socket systemd would pass as $NOTIFY_SOCKET, bound in the test's directory."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


@pytest.fixture
def no_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Children must not inherit a real manager's socket when the tests run under one."""
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)


def received_until(sock: socket.socket, wanted: str, deadline_s: float) -> list[str]:
    """Every message received until one equals `wanted` (included) or the deadline passes."""
    messages: list[str] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if messages[-1] == wanted:
            break
    return messages


def managed_env(sock: socket.socket) -> dict[str, str]:
    return {**os.environ, "NOTIFY_SOCKET": sock.getsockname(), "WATCHDOG_USEC": WATCHDOG_USEC}


def test_notify_is_a_no_op_without_a_manager() -> None:
    assert notify("READY=1", {}) is False


def test_notify_sends_one_datagram_to_a_socket_path(notify_socket: socket.socket) -> None:
    assert notify("READY=1", {"NOTIFY_SOCKET": notify_socket.getsockname()})
    assert notify_socket.recv(4096) == b"READY=1"


def test_notify_reaches_an_abstract_socket_named_with_an_at_sign() -> None:
    name = f"commaudit-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_notify_to_a_vanished_socket_reports_failure_without_raising(tmp_path: Path) -> None:
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


def test_watchdog_interval_is_half_of_watchdog_usec_and_none_when_unset() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None


def test_watchdog_meant_for_another_process_is_not_ours() -> None:
    mine = {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval_s(mine) == 0.5
    assert watchdog_interval_s({**mine, "WATCHDOG_PID": str(os.getpid() + 1)}) is None


def test_watchdog_pings_at_most_once_per_interval(notify_socket: socket.socket) -> None:
    watchdog = Watchdog({"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "2000000"})
    for _ in range(5):
        watchdog.ping()
    assert notify_socket.recv(4096) == b"WATCHDOG=1"
    with pytest.raises(TimeoutError):
        notify_socket.recv(4096)


def test_agent_run_reports_ready_pings_the_watchdog_and_says_stopping_on_sigterm(
    tmp_path: Path, notify_socket: socket.socket, no_manager: None
) -> None:
    collector = Collector(tmp_path, extra_args=("--publish-interval-s", "0")).start()
    try:
        state_dir = enroll(tmp_path, collector, "device")
        argv = [str(BIN / "commaudit-agent"), "run", "--state-dir", str(state_dir),
                "--scan-interval", "0.05"]  # fmt: skip
        agent = subprocess.Popen(argv, env=managed_env(notify_socket))
        try:
            ready = received_until(notify_socket, "READY=1", 20)
            pings = [m for m in received_until(notify_socket, "never", 1.0) if m == "WATCHDOG=1"]
            agent.send_signal(signal.SIGTERM)
            stopping = received_until(notify_socket, "STOPPING=1", 10)
            assert agent.wait(20) == 0
        finally:
            agent.kill()
            agent.wait()
    finally:
        collector.terminate()
    assert ready[-1:] == ["READY=1"]
    # 1 s at a 0.2 s interval: about 5 pings, not one per 0.05 s scan (that would be ~20).
    assert 3 <= len(pings) <= 7, pings
    assert stopping[-1:] == ["STOPPING=1"]


def test_collector_serve_reports_ready_pings_the_watchdog_and_says_stopping_on_sigterm(
    tmp_path: Path, notify_socket: socket.socket, no_manager: None
) -> None:
    state_dir = tmp_path / "collector"
    run([str(BIN / "commaudit-collector"), "init", "--state-dir", str(state_dir)])
    argv = [str(BIN / "commaudit-collector"), "serve", "--state-dir", str(state_dir),
            "--listen", "127.0.0.1:0", "--publish-interval-s", "0"]  # fmt: skip
    log = (tmp_path / "collector.log").open("wb")
    collector = subprocess.Popen(
        argv, env=managed_env(notify_socket), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        ready = received_until(notify_socket, "READY=1", 30)
        pings = [m for m in received_until(notify_socket, "never", 1.0) if m == "WATCHDOG=1"]
        collector.send_signal(signal.SIGTERM)
        stopping = received_until(notify_socket, "STOPPING=1", 10)
        assert collector.wait(30) == 0
    finally:
        collector.kill()
        collector.wait()
        log.close()
    assert ready[-1:] == ["READY=1"], (tmp_path / "collector.log").read_text()
    assert 3 <= len(pings) <= 7, pings
    assert stopping[-1:] == ["STOPPING=1"]
