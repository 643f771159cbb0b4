"""Fixtures shared by every test directory: real processes under catalog apps' names, and a
browser socket of each test's own."""

from __future__ import annotations

import getpass
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.browser.socket_path import SOCKET_ENV


@pytest.fixture(autouse=True)
def browser_socket(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every agent a test starts (in-process or as a console script) listens for browsers here,
    never on the device's /run/commaudit-agent/browser.sock: tests may run as root, beside a
    real agent. A short path: a Unix socket's is at most 107 bytes."""
    path = tmp_path_factory.mktemp("sock") / "browser.sock"
    monkeypatch.setenv(SOCKET_ENV, str(path))
    return path


@pytest.fixture
def os_user() -> str:
    return getpass.getuser()


@pytest.fixture
def stand_in_app(tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """Start a harmless copy of `sleep` under a catalog app's process name; stopped at teardown."""
    started: list[subprocess.Popen[bytes]] = []
    sleep = shutil.which("sleep")
    assert sleep, "the tests need the sleep binary"

    def start(process_name: str) -> subprocess.Popen[bytes]:
        binary = tmp_path / "apps" / process_name
        binary.parent.mkdir(exist_ok=True)
        if not binary.exists():
            shutil.copy(sleep, binary)
        process = subprocess.Popen([str(binary), "300"])
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()
