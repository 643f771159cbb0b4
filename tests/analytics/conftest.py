"""Fixtures for the analytics tests, each a real DuckDB file in tmp_path: an event log, and the
small world of two organisations (org_fixture.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.analytics.event_rows import EventLog
from tests.analytics.org_fixture import World, build_world


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EventLog]:
    events = EventLog(tmp_path / "events.duckdb")
    yield events
    events.con.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path / "commaudit.duckdb")
    yield built
    built.con.close()
