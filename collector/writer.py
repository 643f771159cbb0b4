"""The one writer of the collector's database: its Store and its seq ledger, side by side.

Everything that changes the database goes through a Writer, from one thread at a time:
`commit_group` (plan a group of Reports against the ledger, encode the new events, commit them
with the ledger's changes in one transaction, then adopt the plan) and `transaction` (enrollment,
revocation, audit rows). Staged (as the collector runs it), a group is acknowledged once it is
in the ingest log (ingest_log.py) and the ledger has adopted its plan, and a loader thread
commits it into DuckDB behind the ack (loader.py); at start the writer replays the groups the
database does not have yet. Reads and transactions first wait for the loader, so that they see
everything acknowledged. When publishing, a thread beside it copies what it committed into the
lake at a set interval (publish_loop.py). The collector runs it in a process of its own
(writer_process.py), so that encoding and DuckDB never take the RPC process's interpreter lock;
tests also run it in process. Calls name a module-level function and its arguments, never a
closure, so that they cross a process boundary unchanged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb
import pyarrow as pa

from collector.encode import encode_events
from collector.ingest_log import IngestLog, StagedBatch, StagedGroup, log_path
from collector.ledger import Plan
from collector.loader import Loader, Staged, merged
from collector.publish_loop import Publishing, PublishLoop
from collector.store import Store
from commaudit.v1 import agent_service_pb2, events_pb2

log = logging.getLogger(__name__)

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
        staged: bool = False,
    ) -> None:
        self.store = store_factory(Path(path))
        self.path = self.store.path
        self._ledger = self.store.load_ledger()
        self._publish_loop: PublishLoop | None = None
        self._log: IngestLog | None = None
        self._loader: Loader | None = None
        try:
            if staged:
                self._log = IngestLog(log_path(self.path))
                self._next_group = self._replay(self._log) + 1
                self._loader = Loader(self.store, self._log)
                # DuckDB now works behind the acks, where one thread is enough; its default
                # of one per core took the core the RPC process needed during each load and
                # checkpoint (20,000 agents on 2 cores, one quiet run each: p99 ack 575 -> 278
                # ms).
                with self.store.cursor() as cursor:
                    cursor.execute("SET threads = 1")
            if publishing is not None and publishing.interval_s > 0:
                self._publish_loop = PublishLoop(
                    self.store, publishing.lake_dir, publishing.interval_s
                )
        except BaseException:
            if self._loader is not None:
                self._loader.close()
            self._close_staging()
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
            if self._loader is not None:
                stored = self._stage(batches, kept, plan, now_ms)
            else:
                table = encode_events(kept, received_at_ms=now_ms)
                self.store.commit(table, plan)
                stored = table.num_rows
            self._ledger.apply(plan)
        acks = [
            (plan.acked(device_id), renumber)
            for (device_id, _, _, _), renumber in zip(batches, plan.renumber, strict=True)
        ]
        return GroupResult(acks, stored, plan.changes_anything)

    def transaction(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(connection, *args, **kwargs) in one transaction (Store.transaction)."""

        def work(con: duckdb.DuckDBPyConnection) -> T:
            return fn(con, *args, **kwargs)

        if self._loader is not None:
            self._loader.flush()
        return self.store.transaction(work)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read on the writer's database (tests, checks); analysts read the lake instead."""
        if self._loader is not None:
            self._loader.flush()
        with self.store.cursor() as cursor:
            return cursor.execute(sql, list(params)).fetchall()

    def close(self) -> None:
        """Load what was acknowledged, publish a last time (when publishing), then checkpoint
        and close the database."""
        try:
            if self._loader is not None:
                self._loader.close()
            if self._publish_loop is not None:
                self._publish_loop.close()
        finally:
            self._close_staging()
            self.store.close()

    def _stage(
        self,
        batches: list[Batch],
        kept: list[tuple[str, list[events_pb2.Event]]],
        plan: Plan,
        now_ms: int,
    ) -> int:
        """Log the group (durable once this returns) and hand it to the loader; raises, with
        nothing logged, when the log cannot take it."""
        assert self._log is not None and self._loader is not None
        self._loader.wait_for_room()
        group = StagedGroup(
            self._next_group,
            now_ms,
            [
                StagedBatch(device_id, spool_id, raw or _request(events))
                for device_id, spool_id, events, raw in batches
            ],
        )
        self._log.append(group)
        self._next_group += 1
        staged = Staged(group.group_id, now_ms, kept, plan)
        self._loader.put(staged)
        return staged.events

    def _replay(self, ingest_log: IngestLog) -> int:
        """Load the logged groups the database does not have, planned again in order against
        the ledger as committed (the same decisions as when they were acknowledged); returns
        the newest group id known."""
        applied = self.store.applied_group()
        todo = [group for group in ingest_log.recovered if group.group_id > applied]
        if todo:
            replayed = [self._replan(group) for group in todo]
            table = pa.concat_tables(
                [encode_events(s.kept, received_at_ms=s.now_ms) for s in replayed]
            )
            self.store.load_staged(table, merged(replayed), todo[-1].group_id)
            log.info("replayed %d acknowledged groups from the ingest log", len(todo))
        newest = max(applied, ingest_log.last_group)
        ingest_log.empty_if_applied(newest)
        return newest

    def _replan(self, group: StagedGroup) -> Staged:
        requests = [
            agent_service_pb2.ReportRequest.FromString(batch.request) for batch in group.batches
        ]
        plan = self._ledger.plan_group(
            [(b.device_id, [e.seq for e in r.events], b.spool_id)
             for b, r in zip(group.batches, requests, strict=True)],
            group.now_ms,
        )  # fmt: skip
        kept = [
            (batch.device_id, [e for e, new in zip(r.events, keep, strict=True) if new])
            for batch, r, keep in zip(group.batches, requests, plan.keep, strict=True)
        ]
        self._ledger.apply(plan)
        return Staged(group.group_id, group.now_ms, kept, plan)

    def _close_staging(self) -> None:
        if self._log is not None:
            self._log.close()


def _request(events: Sequence[events_pb2.Event]) -> bytes:
    """A batch's events as the ReportRequest they came in (when its bytes were not kept)."""
    return agent_service_pb2.ReportRequest(events=events).SerializeToString()
