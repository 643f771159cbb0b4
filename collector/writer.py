"""The one writer of the collector's database: its Store and its seq ledger, side by side.

Everything that changes the database goes through a Writer, from one thread at a time:
`commit_group` (plan a group of Reports against the ledger, encode the new events, commit them
with the ledger's changes in one transaction, then adopt the plan) and `transaction` (enrollment,
revocation, audit rows). When publishing, a thread beside it copies what it committed into the
lake at a set interval (publish_loop.py). The collector runs it in a process of its own
(writer_process.py), so that encoding and DuckDB never take the RPC process's interpreter lock;
tests also run it in process. Calls name a module-level function and its arguments, never a
closure, so that they cross a process boundary unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb

from collector.encode import encode_events
from collector.publish_loop import Publishing, PublishLoop
from collector.store import Store
from commaudit.v1 import events_pb2

T = TypeVar("T")

# (device_id, spool_id, events, raw) of one validated Report; raw is the serialized
# ReportRequest the events were parsed from (b"" when unknown): WriterProcess sends it as it is
# instead of serializing every event again.
Batch = tuple[str, str, Sequence[events_pb2.Event], bytes]


@dataclass(frozen=True)
class GroupResult:
    acks: list[tuple[int, int]]
    """Per Report: (acked_seq, renumber_after)."""
    stored: int
    """Events written (duplicates are not)."""
    committed: bool
    """False when every event was a duplicate and nothing had to be written."""


class WriterLike(Protocol):
    """What the ingest queue, the services and tests use: a Writer, here or in its process."""

    path: Path

    def commit_group(self, batches: list[Batch], now_ms: int) -> GroupResult: ...

    def transaction(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...


class Writer:
    def __init__(
        self,
        path: str | os.PathLike[str],
        store_factory: Callable[[Path], Store] = Store,
        publishing: Publishing | None = None,
    ) -> None:
        self.store = store_factory(Path(path))
        self.path = self.store.path
        self._ledger = self.store.load_ledger()
        self._publish_loop: PublishLoop | None = None
        if publishing is not None and publishing.interval_s > 0:
            try:
                self._publish_loop = PublishLoop(
                    self.store, publishing.lake_dir, publishing.interval_s
                )
            except BaseException:
                self.store.close()
                raise

    def commit_group(self, batches: list[Batch], now_ms: int) -> GroupResult:
        """Plan, encode, commit, then apply: the ledger changes only after the commit."""
        plan = self._ledger.plan_group(
            [(device_id, [event.seq for event in events], spool_id)
             for device_id, spool_id, events, _ in batches],
            now_ms,
        )  # fmt: skip
        stored = 0
        if plan.changes_anything:
            kept = [
                (device_id, [e for e, new in zip(events, keep, strict=True) if new])
                for (device_id, _, events, _), keep in zip(batches, plan.keep, strict=True)
            ]
            table = encode_events(kept, received_at_ms=now_ms)
            self.store.commit(table, plan)
            self._ledger.apply(plan)
            stored = table.num_rows
        acks = [
            (plan.acked(device_id), renumber)
            for (device_id, _, _, _), renumber in zip(batches, plan.renumber, strict=True)
        ]
        return GroupResult(acks, stored, plan.changes_anything)

    def transaction(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(connection, *args, **kwargs) in one transaction (Store.transaction)."""

        def work(con: duckdb.DuckDBPyConnection) -> T:
            return fn(con, *args, **kwargs)

        return self.store.transaction(work)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read on the writer's database (tests, checks); analysts read the lake instead."""
        with self.store.cursor() as cursor:
            return cursor.execute(sql, list(params)).fetchall()

    def close(self) -> None:
        """Publish a last time (when publishing), then checkpoint and close the database."""
        try:
            if self._publish_loop is not None:
                self._publish_loop.close()
        finally:
            self.store.close()
