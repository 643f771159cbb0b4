"""The kernel's process events (Linux proc connector): what reaches the agent, what the kernel
filters out before it does, and a reader that stays right when events are lost."""

from __future__ import annotations

import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from agent.platform.linux import ProcFiles
from agent.platform.proc_connector import (
    PROC_EVENT_COMM,
    PROC_EVENT_EXEC,
    PROC_EVENT_EXIT,
    PROC_EVENT_FORK,
    ProcConnector,
)

StartApp = Callable[[str], subprocess.Popen[bytes]]


def _connector_or_skip() -> ProcConnector:
    connector = ProcConnector.open()
    if connector is None:
        pytest.skip("the kernel's process events need root (CAP_NET_ADMIN), initial namespaces")
    return connector


@pytest.fixture
def connector() -> Iterator[ProcConnector]:
    opened = _connector_or_skip()
    yield opened
    opened.close()


def _raw_events(connector: ProcConnector) -> list[tuple[int, int, int]]:
    """(what, pid, tgid) of every message queued, read past the agent's own parsing: for fork the
    child's pid and tgid. Exactly what the kernel let through the socket filter."""
    events = []
    while select.select([connector.fileno()], [], [], 0)[0]:
        message = os.read(connector.fileno(), 256)
        what = struct.unpack_from("=I", message, 36)[0]
        offset = 60 if what == PROC_EVENT_FORK else 52
        events.append((what, *struct.unpack_from("=ii", message, offset)))
    return events


def test_threads_never_reach_the_agent_and_a_process_life_does(connector: ProcConnector) -> None:
    thread_ids: list[int] = []

    def record() -> None:
        thread_ids.append(threading.get_native_id())
        time.sleep(0.01)

    threads = [threading.Thread(target=record) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    child = subprocess.Popen(["sleep", "0.05"])
    child.wait()
    time.sleep(0.1)
    events = _raw_events(connector)
    assert not {pid for _, pid, _ in events} & set(thread_ids)  # dropped in the kernel
    assert all(pid == tgid for _, pid, tgid in events)  # processes only, never threads
    mine = [what for what, pid, _ in events if pid == child.pid]
    assert mine == [PROC_EVENT_FORK, PROC_EVENT_EXEC, PROC_EVENT_EXIT]


def test_drain_names_each_start_rename_and_end(connector: ProcConnector) -> None:
    rename = "import ctypes, sys; print('ready', flush=True); sys.stdin.readline(); ctypes.CDLL(None).prctl(15, b'renamed', 0, 0, 0); print('renamed', flush=True); sys.stdin.readline()"  # noqa: E501
    child = subprocess.Popen(
        [sys.executable, "-c", rename], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == b"ready\n"  # started: its fork and exec are queued
        assert _drained_until(connector, child.pid)
        connector.drain()
        child.stdin.write(b"\n")
        child.stdin.flush()
        assert child.stdout.readline() == b"renamed\n"
        assert _drained_until(connector, child.pid)  # renamed itself: a comm event
        child.stdin.write(b"\n")
        child.stdin.flush()
        child.wait()
        assert _drained_until(connector, child.pid)  # ended
    finally:
        child.kill()
        child.communicate()


def test_a_comm_event_is_kept_by_the_kernel_filter(connector: ProcConnector) -> None:
    rename = "import ctypes; ctypes.CDLL(None).prctl(15, b'renamed', 0, 0, 0)"
    child = subprocess.run([sys.executable, "-c", rename], check=True)
    assert child.returncode == 0
    time.sleep(0.1)
    kinds = {what for what, _, _ in _raw_events(connector)}
    assert PROC_EVENT_COMM in kinds


def _drained_until(connector: ProcConnector, pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        changed = connector.drain()
        if changed is None or pid in changed:
            return True
        time.sleep(0.01)
    return False


def _shrink_buffer(connector: ProcConnector) -> None:
    """The smallest receive buffer the kernel allows: a few events overflow it."""
    sock = socket.socket(fileno=os.dup(connector.fileno()))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)
    finally:
        sock.close()


def test_lost_events_are_reported_and_the_reader_then_reads_every_process(
    stand_in_app: StartApp,
) -> None:
    connector = _connector_or_skip()
    reader = ProcFiles(connector=connector)
    try:
        reader.read_all()
        _shrink_buffer(connector)
        for _ in range(40):  # ~120 events: far more than the buffer holds
            subprocess.run(["true"], check=True)
        started = stand_in_app("evolution")
        deadline = time.monotonic() + 10
        stamps = reader.read_all()
        while started.pid not in stamps and time.monotonic() < deadline:
            stamps = reader.read_all()
        assert stamps[started.pid][1] == b"evolution"
    finally:
        reader.close()


def test_drain_says_when_events_were_lost(connector: ProcConnector) -> None:
    _shrink_buffer(connector)
    for _ in range(40):
        subprocess.run(["true"], check=True)
    assert connector.drain() is None


@contextmanager
def _opens_of(path: str) -> Iterator[list[str]]:
    """Every open of `path` by this process while inside: Python's audit hook sees each
    os.open. Hooks cannot be removed, so the hook stays and only listens while asked."""
    seen: list[str] = []
    _LISTENING[:] = [(path, seen)]
    try:
        yield seen
    finally:
        _LISTENING.clear()


_LISTENING: list[tuple[str, list[str]]] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _LISTENING and args and str(args[0]) == _LISTENING[0][0]:
        _LISTENING[0][1].append(str(args[0]))


sys.addaudithook(_audit)


def test_a_process_that_did_not_change_is_not_read_again(stand_in_app: StartApp) -> None:
    connector = _connector_or_skip()
    reader = ProcFiles(connector=connector)
    idle = stand_in_app("evolution")
    try:
        deadline = time.monotonic() + 10
        while reader.read_all().get(idle.pid, (0, b""))[1] != b"evolution":  # until it exec'd
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.05)
        reader.read_all()  # events of its start that came while it was being read
        with _opens_of(f"/proc/{idle.pid}/stat") as opens:
            for _ in range(5):
                assert reader.read_all()[idle.pid][1] == b"evolution"
            assert opens == []  # nothing changed: the kernel said nothing of it
        idle.kill()
        idle.wait()
        assert idle.pid not in reader.read_all()  # its exit was reported
    finally:
        reader.close()


def test_closing_unsubscribes_and_closes_the_socket(connector: ProcConnector) -> None:
    connector.close()
    assert connector.fileno() == -1
    connector.close()  # twice is harmless (the daemon's shutdown and the finalizer)
