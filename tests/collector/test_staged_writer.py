"""The staged writer (as the collector runs it): a group is acknowledged once it is in the
ingest log, loaded into DuckDB behind the ack, and after kill -9 at any point in between the
next start stores every acknowledged event exactly once.

The writer runs in its own process here, as in the collector, so that SIGKILL hits it and
nothing else; its store is a real Store that can be held at a chosen step (a file tells it to).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from collector.ingest_log import IngestLog, log_path
from collector.ledger import Plan
from collector.loader import LoaderBehind
from collector.store import Store
from collector.writer import Batch, Writer
from collector.writer_process import WriterProcess
from commaudit.v1 import agent_service_pb2
from tests.collector.collector_harness import DEVICE, make_batch


class HeldBeforeLoad(Store):
    """Loads wait forever while `<db>.hold` exists: acknowledged groups stay only in the log."""

    def load_staged(self, events: pa.Table, plan: Plan, through_group: int) -> None:
        while self.path.with_suffix(".hold").exists():
            time.sleep(0.01)
        super().load_staged(events, plan, through_group)


class HeldAfterLoad(Store):
    """Loads commit, then wait forever while `<db>.hold` exists: the log is never emptied."""

    def load_staged(self, events: pa.Table, plan: Plan, through_group: int) -> None:
        super().load_staged(events, plan, through_group)
        self.path.with_suffix(".loaded").touch()
        while self.path.with_suffix(".hold").exists():
            time.sleep(0.01)


class FailsFirstLoad(Store):
    """The first load fails (say the database's disk was full for a moment)."""

    failed = False

    def load_staged(self, events: pa.Table, plan: Plan, through_group: int) -> None:
        if not self.failed:
            self.failed = True
            raise OSError("No space left on device (simulated)")
        super().load_staged(events, plan, through_group)


def batch(device: str, seqs: list[int], raw: bool = False) -> Batch:
    events = make_batch(seqs)
    request = agent_service_pb2.ReportRequest(events=events).SerializeToString() if raw else b""
    return (device, "spool-1", events, request)


def now_ms() -> int:
    return time.time_ns() // 10**6


def killed(writer: WriterProcess) -> None:
    os.kill(writer.pid, signal.SIGKILL)
    writer.close()  # reaps the process; the database was not closed


def stored(db: Path) -> list[tuple[Any, ...]]:
    """device, seq and copies of every stored event, after a staged start replayed the log."""
    writer = Writer(db, staged=True)
    try:
        return writer.rows(
            "SELECT device_id, seq, count(*) FROM events GROUP BY ALL ORDER BY ALL"
        ) + writer.rows("SELECT device_id, acked_seq FROM device_seq ORDER BY ALL")
    finally:
        writer.close()


def test_groups_acknowledged_but_not_loaded_when_killed_are_replayed_once(tmp_path: Path) -> None:
    db = tmp_path / "commaudit.duckdb"
    db.with_suffix(".hold").touch()
    writer = WriterProcess(db, store_factory=HeldBeforeLoad)
    first = writer.commit_group([batch(DEVICE, [1, 2, 3]), batch("desk-7", [1])], now_ms())
    second = writer.commit_group([batch(DEVICE, [3, 4], raw=True)], now_ms())  # 3: a retry
    assert first.acks == [(3, 0), (1, 0)] and second.acks == [(4, 0)]
    assert (first.stored, second.stored) == (4, 1)
    killed(writer)
    db.with_suffix(".hold").unlink()

    assert stored(db) == [
        ("desk-7", 1, 1),
        (DEVICE, 1, 1),
        (DEVICE, 2, 1),
        (DEVICE, 3, 1),
        (DEVICE, 4, 1),
        ("desk-7", 1),
        (DEVICE, 4),
    ]
    assert log_path(db).stat().st_size == 0  # replayed, then emptied
    assert stored(db)[:5] == [("desk-7", 1, 1)] + [(DEVICE, seq, 1) for seq in range(1, 5)]


def test_groups_loaded_but_still_in_the_log_when_killed_are_not_loaded_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "commaudit.duckdb"
    db.with_suffix(".hold").touch()
    writer = WriterProcess(db, store_factory=HeldAfterLoad)
    writer.commit_group([batch(DEVICE, [1, 2])], now_ms())
    deadline = time.monotonic() + 10
    while not db.with_suffix(".loaded").exists():
        assert time.monotonic() < deadline, "the loader never loaded"
        time.sleep(0.01)
    killed(writer)
    db.with_suffix(".hold").unlink()
    left = IngestLog(log_path(db))
    left.close()
    assert [group.group_id for group in left.recovered] == [1]

    assert stored(db) == [(DEVICE, 1, 1), (DEVICE, 2, 1), (DEVICE, 2)]


def test_the_agents_retry_after_a_restart_is_a_duplicate_of_the_replayed_group(
    tmp_path: Path,
) -> None:
    db = tmp_path / "commaudit.duckdb"
    db.with_suffix(".hold").touch()
    writer = WriterProcess(db, store_factory=HeldBeforeLoad)
    writer.commit_group([batch(DEVICE, [1, 2])], now_ms())
    killed(writer)  # the ack may never have reached the agent: it sends the batch again
    db.with_suffix(".hold").unlink()

    restarted = Writer(db, staged=True)
    try:
        retry = restarted.commit_group([batch(DEVICE, [1, 2, 3])], now_ms())
        assert (retry.acks, retry.stored) == ([(3, 0)], 1)
        assert restarted.rows("SELECT seq, count(*) FROM events GROUP BY seq ORDER BY seq") == [
            (1, 1),
            (2, 1),
            (3, 1),
        ]
    finally:
        restarted.close()
    # Group ids go on after the replayed ones: a second restart replays nothing twice.
    assert stored(db)[:3] == [(DEVICE, 1, 1), (DEVICE, 2, 1), (DEVICE, 3, 1)]


def test_reads_see_every_acknowledged_event_and_a_failed_load_is_retried(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "commaudit.duckdb", store_factory=FailsFirstLoad, staged=True)
    try:
        result = writer.commit_group([batch(DEVICE, [1, 2])], now_ms())
        assert result.acks == [(2, 0)]  # durable in the log: acknowledged before any load
        # The first load fails; the read waits for the retry instead of missing the events.
        assert writer.rows("SELECT seq FROM events ORDER BY seq") == [(1,), (2,)]
        assert writer.rows("SELECT acked_seq FROM device_seq") == [(2,)]
        assert writer.rows("SELECT applied_group FROM ingest_log_applied") == [(1,)]
    finally:
        writer.close()


def test_a_group_the_log_cannot_take_is_not_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "commaudit.duckdb"
    writer = Writer(db, staged=True)
    try:
        assert writer.commit_group([batch(DEVICE, [1])], now_ms()).acks == [(1, 0)]
        assert writer._log is not None
        writer._log.close()  # every write to the log now fails (EBADF)
        with pytest.raises(OSError):
            writer.commit_group([batch(DEVICE, [2, 3])], now_ms())
        assert writer.rows("SELECT seq FROM events") == [(1,)]
        assert writer.rows("SELECT acked_seq FROM device_seq") == [(1,)]
    finally:
        writer.close()


def test_a_loader_far_behind_refuses_the_next_group(tmp_path: Path) -> None:
    db = tmp_path / "commaudit.duckdb"
    db.with_suffix(".hold").touch()
    writer = Writer(db, store_factory=HeldBeforeLoad, staged=True)
    assert writer._loader is not None
    writer._loader._max_backlog = 2  # a tiny bound instead of 50,000 events
    try:
        writer.commit_group([batch(DEVICE, [1, 2])], now_ms())
        with pytest.raises(LoaderBehind):
            writer._loader.wait_for_room(timeout=0.1)
    finally:
        db.with_suffix(".hold").unlink()
        writer.close()
    assert stored(db)[:2] == [(DEVICE, 1, 1), (DEVICE, 2, 1)]
