"""Loading acknowledged groups from the ingest log into DuckDB, in the background.

The writer has already fsynced each group to the ingest log (ingest_log.py), applied its plan
to the in-memory ledger and acknowledged it; the loader encodes the kept events and commits
several groups in one transaction, with the log's mark (`Store.load_staged`). A DuckDB commit,
and the checkpoint it sometimes runs, now delays no ack; fewer, larger commits also cost less.

A failed load is retried (the groups are safe in the log and were planned once, so the retry
stores the same rows); reads of the database (`flush`) wait until what was acknowledged is
loaded. Its backlog is bounded: past it the writer refuses the next group (`LoaderBehind`), the
ingest queue fills and agents are pushed back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from collector.encode import encode_events
from collector.ingest_log import IngestLog
from collector.ledger import DeviceUpdate, Plan
from collector.store import Store
from commaudit.v1 import events_pb2

log = logging.getLogger(__name__)

GATHER_S = 0.25
"""How long the loader lets groups gather before a load: ~4 DuckDB commits a second instead of
~20 under a fleet's load."""
RETRY_S = 0.5
MAX_BACKLOG_EVENTS = 50_000
ROOM_TIMEOUT_S = 5.0


class LoaderBehind(RuntimeError):
    """The database has not taken the acknowledged backlog for a while: store nothing more."""


@dataclass(frozen=True)
class Staged:
    """One logged and acknowledged group, as the loader commits it."""

    group_id: int
    now_ms: int
    kept: Sequence[tuple[str, Sequence[events_pb2.Event]]]
    """Per Report: its device and the events to store (duplicates left out)."""
    plan: Plan

    @property
    def events(self) -> int:
        return sum(len(events) for _, events in self.kept)


class Loader:
    """Owns the loading thread; starts it at construction, stops it with close()."""

    def __init__(
        self, store: Store, ingest_log: IngestLog, max_backlog_events: int = MAX_BACKLOG_EVENTS
    ) -> None:
        self._store = store
        self._log = ingest_log
        self._max_backlog = max_backlog_events
        self._cond = threading.Condition()
        self._pending: deque[Staged] = deque()
        self._backlog_events = 0
        self._urgent = 0  # callers waiting for everything to be loaded
        self._closing = False
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="commaudit-loader", daemon=True)
        self._thread.start()

    def wait_for_room(self, timeout: float = ROOM_TIMEOUT_S) -> None:
        """Return once the backlog is under its bound; LoaderBehind after `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._backlog_events < self._max_backlog, timeout):
                raise LoaderBehind(f"database behind by {self._backlog_events} events")

    def put(self, staged: Staged) -> None:
        with self._cond:
            self._pending.append(staged)
            self._backlog_events += staged.events
            if len(self._pending) == 1 or self._backlog_events >= self._max_backlog // 2:
                self._cond.notify_all()

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every group put so far is in the database; raise the load's error when
        it keeps failing for `timeout`."""
        with self._cond:
            if not self._pending:
                return
            self._urgent += 1
            self._cond.notify_all()
            try:
                if not self._cond.wait_for(lambda: not self._pending, timeout):
                    raise self._error or TimeoutError("the database did not take the backlog")
            finally:
                self._urgent -= 1

    def close(self) -> None:
        """Load what is pending (one attempt each), then stop; what fails stays in the log."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._load(batch)
            except Exception as exc:
                self._failed(batch, exc)
                continue
            with self._cond:
                for _ in batch:
                    self._backlog_events -= self._pending.popleft().events
                self._error = None
                self._cond.notify_all()
            try:
                self._log.empty_if_applied(batch[-1].group_id)
            except OSError:
                log.exception("could not empty the ingest log; it is replayed at the next start")

    def _take(self) -> list[Staged] | None:
        """What is pending, once it has gathered for a while (at once when someone waits)."""
        with self._cond:
            while not self._pending:
                if self._closing:
                    return None
                self._cond.wait()
            self._cond.wait_for(self._hurry, GATHER_S)
            return list(self._pending)

    def _hurry(self) -> bool:
        return bool(self._urgent or self._closing or self._backlog_events >= self._max_backlog // 2)

    def _failed(self, batch: list[Staged], exc: Exception) -> None:
        log.exception(
            "loading %d acknowledged groups into the database failed; they are safe in the"
            " ingest log, retrying in %g s",
            len(batch),
            RETRY_S,
        )
        with self._cond:
            self._error = exc
            if self._closing:
                log.error("stopping with %d groups unloaded; the next start loads them", len(batch))
                self._pending.clear()
                self._cond.notify_all()
                return
        time.sleep(RETRY_S)

    def _load(self, batch: list[Staged]) -> None:
        tables = [encode_events(staged.kept, received_at_ms=staged.now_ms) for staged in batch]
        self._store.load_staged(pa.concat_tables(tables), merged(batch), batch[-1].group_id)


def merged(batch: Sequence[Staged]) -> Plan:
    """The groups' plans as one: each device from its state before the first to after the last."""
    devices: dict[str, DeviceUpdate] = {}
    for staged in batch:
        for device_id, update in staged.plan.devices.items():
            first = devices.get(device_id)
            before = update.before if first is None else first.before
            devices[device_id] = DeviceUpdate(device_id, before, update.after)
    return Plan(keep=(), devices=devices)
