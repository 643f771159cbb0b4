"""Fixtures: a real collector on 127.0.0.1 port 0 with its DuckDB file in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collector.collector_harness import RunningCollector, StartCollector


@pytest.fixture
def start_collector(tmp_path: Path) -> Iterator[StartCollector]:
    """start_collector(**start_server options) -> a RunningCollector on tmp_path/collector;
    every one started is stopped at teardown."""
    started: list[RunningCollector] = []

    def start(**options: Any) -> RunningCollector:
        running = RunningCollector(tmp_path / "collector", **options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def collector(start_collector: StartCollector) -> RunningCollector:
    return start_collector()
