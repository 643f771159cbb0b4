"""Hand-built events in a real DuckDB file with the collector's schema, for report tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import duckdb

from collector.schema import apply_migrations


class EventLog:
    """Appends events the way the collector would store them; only what reports read is set."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con = duckdb.connect(str(path))
        apply_migrations(self.con)
        self._seq: dict[str, int] = {}

    def _insert(self, device: str, kind: str, at: datetime, **columns: object) -> None:
        seq = self._seq[device] = self._seq.get(device, 0) + 1
        names = ["device_id", "seq", "event_id", "kind", "occurred_at", "received_at", "raw"]
        values: list[object] = [device, seq, str(uuid.uuid4()), kind, at, at, b""]
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
    ) -> str:
        """app_started, and app_stopped after `minutes` unless None; returns the session id."""
        session_id = str(uuid.uuid4())
        common = {"session_id": session_id, "app_id": app_id, "category": category, "os_user": user}
        self._insert(device, "app_started", start, process_count=1, **common)
        if minutes is not None:
            stop_ms = round(minutes * 60_000)
            self._insert(
                device, "app_stopped", start, duration_ms=stop_ms, stop_reason=reason, **common
            )
        return session_id

    def heartbeat(self, device: str, at: datetime, running: list[str]) -> None:
        self._insert(device, "heartbeat", at, running_sessions=running)

    def close(self) -> Path:
        self.con.close()
        return self.path
