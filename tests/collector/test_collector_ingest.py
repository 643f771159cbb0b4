"""The one writer under load and failure, through a real server: group commits, push-back,
and no acknowledgement without a commit."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from collector.ingest import IngestLimits, Ingestor, IngestorClosed
from collector.ledger import Plan
from collector.store import Store
from collector.writer import Writer
from commaudit.v1 import agent_service_pb2
from tests.collector.collector_harness import (
    DEVICE,
    RunningCollector,
    StartCollector,
    make_batch,
    trailers,
)


class FailsOnce(Store):
    """The first commit fails (a full disk, say); later ones work."""

    failures = 0

    def commit(self, events: Any, plan: Plan) -> None:
        if not self.failures:
            self.failures += 1
            raise OSError("No space left on device (simulated)")
        super().commit(events, plan)


class Gated(Store):
    """Commits wait until the test opens the gate, so the queue can fill up."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def commit(self, events: Any, plan: Plan) -> None:
        self.entered.set()
        self.gate.wait(20)
        super().commit(events, plan)


def test_a_failed_commit_acks_nothing_and_the_retry_is_stored_once(
    start_collector: StartCollector,
) -> None:
    collector = start_collector(store_factory=FailsOnce)
    events = make_batch([1, 2, 3])
    error = collector.refusal(DEVICE, events)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert collector.rows("SELECT count(*) FROM events") == [(0,)]
    assert collector.rows("SELECT count(*) FROM device_seq") == [(0,)]
    assert collector.report(DEVICE, events).acked_seq == 3  # the ledger did not move either
    assert collector.rows("SELECT seq FROM events ORDER BY seq") == [(1,), (2,), (3,)]


def test_a_full_queue_pushes_back_with_resource_exhausted_and_a_retry_time(
    start_collector: StartCollector,
) -> None:
    collector = start_collector(
        store_factory=Gated, ingest_limits=IngestLimits(max_pending_events=3)
    )
    writer = collector.server.writer
    assert isinstance(writer, Writer) and isinstance(writer.store, Gated)
    store = writer.store
    try:
        first = collector.stub.Report.future(
            agent_service_pb2.ReportRequest(events=make_batch([1, 2, 3])),
            metadata=collector.metadata(DEVICE),
            timeout=20,
        )
        assert store.entered.wait(10)  # the writer holds 3 events: the queue is full
        error = collector.refusal("desk-7", make_batch([1]))
    finally:
        store.gate.set()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert int(trailers(error)["grpc-retry-pushback-ms"]) >= 100
    assert first.result().acked_seq == 3
    # Once the gate opens the queue drains; until then the push-back may still answer, and an
    # agent retries after the time it names, as this does.
    deadline = time.monotonic() + 10
    while True:
        try:
            assert collector.report("desk-7", make_batch([1])).acked_seq == 1
            break
        except grpc.RpcError as busy:
            assert busy.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() < deadline, "the queue never drained"
            time.sleep(int(trailers(busy)["grpc-retry-pushback-ms"]) / 1000)


def send_all(collector: RunningCollector, device: str, reports: int, size: int) -> int:
    """One agent: one Report in flight at a time, each batch also sent twice (a retry)."""
    acked = 0
    for first in range(1, reports * size + 1, size):
        events = make_batch(range(first, first + size))
        acked = collector.report(device, events).acked_seq
        if first % (3 * size) == 1:
            acked = collector.report(device, events).acked_seq
    return acked


def test_concurrent_reports_from_many_devices_share_commits_and_are_stored_exactly_once(
    collector: RunningCollector,
) -> None:
    devices, reports, size = 12, 10, 25
    with ThreadPoolExecutor(devices) as pool:
        acks = list(
            pool.map(lambda n: send_all(collector, f"device-{n}", reports, size), range(devices))
        )
    assert acks == [reports * size] * devices
    assert collector.rows(
        "SELECT count(*), count(DISTINCT (device_id, seq)), count(DISTINCT device_id) FROM events"
    ) == [(devices * reports * size, devices * reports * size, devices)]
    assert collector.rows("SELECT count(*) FROM seq_gaps") == [(0,)]
    assert collector.server.ingestor.commits < devices * reports / 2


def test_close_commits_everything_queued_then_refuses_new_reports(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "events.duckdb", store_factory=Gated)
    store = writer.store
    assert isinstance(store, Gated)
    ingestor = Ingestor(writer)
    try:
        first = ingestor.submit(DEVICE, make_batch([1, 2]))
        assert store.entered.wait(10)
        queued = [
            ingestor.submit(DEVICE, make_batch([3])),
            ingestor.submit("desk-7", make_batch([1])),
        ]
        closing = threading.Thread(target=ingestor.close)
        closing.start()
        store.gate.set()
        closing.join(10)
        assert [f.result(10).acked_seq for f in [first, *queued]] == [2, 3, 1]
        with pytest.raises(IngestorClosed):
            ingestor.submit(DEVICE, make_batch([4]))
        with store.cursor() as cursor:
            assert cursor.execute("SELECT count(*) FROM events").fetchall() == [(4,)]
    finally:
        store.gate.set()
        ingestor.close()
        store.close()
