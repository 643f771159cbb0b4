"""Fixtures for the analytics tests: an event log in a real DuckDB file in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.analytics.event_rows import EventLog


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EventLog]:
    events = EventLog(tmp_path / "events.duckdb")
    yield events
    events.con.close()
