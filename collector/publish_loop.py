"""Publishing the lake at a set interval, from a thread beside the writer (DESIGN.md §5).

Why a thread in the writer's process: only that process may open the database, and a
publish reads it through a connection of its own, so the writer's commits go on while a
publish runs (DuckDB MVCC). The first publish runs at start, so that a lake exists soon after
the collector does; the last one runs at a clean stop, after the final ingest commit. A publish
that fails is logged and tried again at the next interval: ingestion never depends on it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from collector.background_priority import lower_current_thread
from collector.lake import Publisher, extension_path
from collector.store import Store

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0


@dataclass(frozen=True)
class Publishing:
    """Where and how often the writer publishes (it crosses to the writer's process as is)."""

    lake_dir: Path
    interval_s: float = DEFAULT_INTERVAL_S
    """Seconds between publishes; 0: never publish."""


class PublishLoop:
    """Publishes the store's committed state into `lake_dir` every `interval_s` seconds."""

    def __init__(self, store: Store, lake_dir: Path, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the publish interval must be positive (0 means: no PublishLoop)")
        for name in ("sqlite_scanner", "ducklake"):
            extension_path(name)  # a missing wheel stops the start, not the first publish
        self.interval_s = interval_s
        self.lake_dir = lake_dir
        self.publisher: Publisher | None = None
        self._cursor = store.cursor()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commaudit-publisher", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the loop, publish once more (what the last commits stored), detach."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self._publish()
        if self.publisher is not None:
            self.publisher.close()
        self._cursor.close()

    def _run(self) -> None:
        lower_current_thread()  # the acks first (background_priority.py); not the last publish
        self._publish()
        while not self._stop.wait(self.interval_s):
            self._publish()

    def _publish(self) -> None:
        try:
            if self.publisher is None:  # attaching takes ~0.5 s: here, not in the start
                self.publisher = Publisher(self._cursor, self.lake_dir)
            result = self.publisher.publish_once()
        except Exception:
            log.exception("publishing the lake failed; trying again in %g s", self.interval_s)
            return
        if result.events or result.sessions_changed:
            log.info(
                "published snapshot %d: %d events, %d sessions changed, in %.2f s",
                result.snapshot_id,
                result.events,
                result.sessions_changed,
                result.seconds,
            )
