"""Hand-built events in a real DuckDB file with the collector's schema, for report tests.

Rows are inserted as the collector stores them (its migrations make the table), with only the
columns a report reads filled in; `raw` is empty because no report decodes it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from collector.schema import apply_migrations


class EventLog:
    """Appends one device's events after another, numbering each device's seq from 1."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con = duckdb.connect(str(path))
        apply_migrations(self.con)
        self._seq: dict[str, int] = {}

    def insert(self, device: str, kind: str, at: datetime, **columns: object) -> None:
        """One event row; `columns` are any further columns of `events` by name."""
        seq = self._seq[device] = self._seq.get(device, 0) + 1
        names = ["device_id", "seq", "event_id", "kind", "occurred_at", "received_at", "raw"]
        values: list[object] = [device, seq, uuid.uuid4(), kind, at, at, b""]
        names += list(columns)
        values += list(columns.values())
        marks = ", ".join("?" for _ in values)
        self.con.execute(f"INSERT INTO events ({', '.join(names)}) VALUES ({marks})", values)

    def session(
        self,
        device: str,
        app_id: str,
        start: datetime,
        *,
        minutes: float | None = None,
        user: str = "ann",
        category: str = "email",
        reason: str = "exited",
        stopped_at: datetime | None = None,
        surfaces: list[str] | None = None,
        browsers: list[str] | None = None,
        foreground_ms: int | None = None,
    ) -> str:
        """app_started, then app_stopped measuring `minutes` unless None; the session id.

        `stopped_at` is the stop event's wall-clock time (default: start + minutes), which a
        clock jump can make disagree with the measured duration. `surfaces` and `browsers` go
        into both events, `foreground_ms` into the stop; None, as from an older agent."""
        session_id = str(uuid.uuid4())
        common = {"session_id": session_id, "app_id": app_id, "category": category, "os_user": user,
                  "surfaces": surfaces, "browsers": browsers}  # fmt: skip
        self.insert(device, "app_started", start, process_count=1, **common)
        if minutes is not None:
            duration = timedelta(minutes=minutes)
            self.insert(
                device,
                "app_stopped",
                stopped_at or start + duration,
                duration_ms=round(duration.total_seconds() * 1000),
                stop_reason=reason,
                foreground_ms=foreground_ms,
                **common,
            )
        return session_id

    def heartbeat(self, device: str, at: datetime, running: list[str]) -> None:
        """A heartbeat listing the sessions running on `device` at `at`."""
        self.insert(device, "heartbeat", at, running_sessions=running, agent_version="test")

    def close(self) -> Path:
        """Release the file (DuckDB locks it) so a report can open it read-only; its path."""
        self.con.close()
        return self.path
