"""A real BrowserSocket for each test, at a path short enough for a Unix socket (108 bytes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent.browser.browser_harness import Host, RunningAgent, start_agent


@pytest.fixture
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    running = start_agent(tmp_path_factory.mktemp("b"))
    yield running
    running.stop()


@pytest.fixture
def hosts() -> Iterator[list[Host]]:
    """Hosts a test starts; each is stopped at teardown."""
    started: list[Host] = []
    yield started
    for host in started:
        host.stop()
