"""The sender against a real gRPC server on 127.0.0.1 that answers with scripted status codes.

The servicer is a real class (STYLE.md 12, after OTel's exporter tests): each Report pops the next
scripted answer, so every failure class of the sender is exercised over the wire.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from agent.collector_channel import CollectorChannel
from agent.daemon import loss_notice_for
from agent.events import new_event
from agent.sender import Backoff, Sender, SenderSettings
from agent.spool import Spool
from commaudit.v1 import agent_service_pb2, agent_service_pb2_grpc, events_pb2

OK = "ok"
CREDENTIAL = (("authorization", "Bearer cad1.dev-1.secret"),)


@dataclass
class Refusal:
    code: grpc.StatusCode
    details: str = "scripted"
    trailers: tuple[tuple[str, str], ...] = ()


@dataclass
class ScriptedCollector(agent_service_pb2_grpc.AgentServiceServicer):
    """Acknowledges or refuses each Report as scripted; OK once the script runs out."""

    script: list[Refusal | str | int] = field(default_factory=list)  # int: renumber after it
    received: list[list[int]] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)
    events: list[events_pb2.Event] = field(default_factory=list)
    spool_ids: list[str] = field(default_factory=list)

    def Report(
        self, request: agent_service_pb2.ReportRequest, context: grpc.ServicerContext
    ) -> agent_service_pb2.ReportResponse:
        self.received.append([event.seq for event in request.events])
        self.events.extend(request.events)
        self.metadata.append({k: str(v) for k, v in context.invocation_metadata()})
        answer = self.script.pop(0) if self.script else OK
        if isinstance(answer, Refusal):
            context.set_trailing_metadata(answer.trailers)
            context.abort(answer.code, answer.details)
        self.spool_ids.append(request.spool_id)
        if isinstance(answer, int):
            return agent_service_pb2.ReportResponse(acked_seq=answer, renumber_after=answer)
        return agent_service_pb2.ReportResponse(acked_seq=request.events[-1].seq)


@pytest.fixture
def collector() -> Iterator[tuple[ScriptedCollector, str]]:
    servicer = ScriptedCollector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    agent_service_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None)


_CHANNELS: list[CollectorChannel] = []


@pytest.fixture(autouse=True)
def _close_channels() -> Iterator[None]:
    """A sender drained without close keeps its connection open: close it after each test."""
    yield
    while _CHANNELS:
        _CHANNELS.pop().close()


def _sender(tmp_path: Path, target: str, batch: int = 500) -> tuple[Sender, Spool]:
    spool = Spool(tmp_path / "spool.sqlite3", 1_000_000, loss_notice_for("dev-1"))
    settings = SenderSettings(batch_max_events=batch, batch_max_delay_s=0.01, backoff_base_s=0.01)
    _CHANNELS.append(CollectorChannel(target, None))
    return Sender(spool, _CHANNELS[-1], CREDENTIAL, settings), spool


def _spool_events(spool: Spool, n: int) -> None:
    events = []
    for _ in range(n):
        event = new_event("dev-1")
        event.heartbeat.uptime_ms = 1
        events.append(event)
    spool.append(events)


def test_batches_are_sent_oldest_first_and_acked_events_leave_the_spool(
    tmp_path: Path, collector: tuple[ScriptedCollector, str]
) -> None:
    servicer, target = collector
    sender, spool = _sender(tmp_path, target, batch=4)
    _spool_events(spool, 10)
    assert sender.drain() == 0.0
    assert servicer.received == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert spool.depth() == 0
    assert servicer.metadata[0]["authorization"] == "Bearer cad1.dev-1.secret"


def test_a_transient_failure_is_retried_and_nothing_is_lost(
    tmp_path: Path, collector: tuple[ScriptedCollector, str]
) -> None:
    servicer, target = collector
    servicer.script = [Refusal(grpc.StatusCode.UNAVAILABLE), Refusal(grpc.StatusCode.INTERNAL)]
    sender, spool = _sender(tmp_path, target)
    _spool_events(spool, 3)
    assert sender.drain() > 0.0
    assert spool.depth() == 3
    assert sender.drain() > 0.0
    assert sender.drain() == 0.0
    assert servicer.received == [[1, 2, 3]] * 3
    assert spool.depth() == 0


def test_push_back_sets_the_delay(tmp_path: Path, collector: tuple[ScriptedCollector, str]) -> None:
    servicer, target = collector
    servicer.script = [
        Refusal(
            grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full", (("grpc-retry-pushback-ms", "1500"),)
        )
    ]
    sender, spool = _sender(tmp_path, target)
    _spool_events(spool, 1)
    assert sender.drain() == 1.5
    assert spool.depth() == 1


def test_an_event_the_collector_names_as_invalid_is_set_aside_and_recorded(
    tmp_path: Path, collector: tuple[ScriptedCollector, str]
) -> None:
    servicer, target = collector
    servicer.script = [
        Refusal(
            grpc.StatusCode.INVALID_ARGUMENT,
            "events[1].occurred_at_ms: before 2000-01-01",
            (("commaudit-rejected-seq", "2"),),
        )
    ]
    sender, spool = _sender(tmp_path, target)
    _spool_events(spool, 3)
    assert sender.drain() == 0.0
    assert servicer.received == [[1, 2, 3], [1, 3, 4]]
    assert spool.rejected_count() == 1
    assert spool.depth() == 0


def test_an_invalid_batch_without_a_named_event_is_bisected_one_event_at_a_time(
    tmp_path: Path, collector: tuple[ScriptedCollector, str]
) -> None:
    servicer, target = collector
    servicer.script = [
        Refusal(grpc.StatusCode.INVALID_ARGUMENT, "bad batch"),
        Refusal(grpc.StatusCode.INVALID_ARGUMENT, "bad event"),
    ]
    sender, spool = _sender(tmp_path, target)
    _spool_events(spool, 3)
    assert sender.drain() == 0.0
    assert servicer.received[:2] == [[1, 2, 3], [1]]
    assert spool.rejected_count() == 1
    delivered = {seq for batch in servicer.received[2:] for seq in batch}
    assert delivered == {2, 3, 4}  # 4: the rejection notice


def test_a_refused_credential_keeps_events_spooled_and_waits_the_longest(
    tmp_path: Path, collector: tuple[ScriptedCollector, str]
) -> None:
    servicer, target = collector
    servicer.script = [Refusal(grpc.StatusCode.UNAUTHENTICATED, "unknown device")]
    sender, spool = _sender(tmp_path, target)
    _spool_events(spool, 2)
    assert sender.drain() == sender.settings.backoff_cap_s
    assert spool.depth() == 2
    assert "UNAUTHENTICATED" in sender.last_error


def test_close_with_no_collector_keeps_everything_spooled(tmp_path: Path) -> None:
    sender, spool = _sender(tmp_path, _address_where_nothing_listens())
    _spool_events(spool, 2)
    assert sender.close(flush_timeout_s=0.3) is False
    assert spool.depth() == 2


def test_the_background_thread_delivers_after_a_wake(
    tmp_path: Path, collector: tuple[ScriptedCollector, str]
) -> None:
    _servicer, target = collector
    sender, spool = _sender(tmp_path, target)
    sender.start()
    _spool_events(spool, 5)
    sender.wake()
    deadline = time.monotonic() + 10
    while spool.depth() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert spool.depth() == 0
    assert sender.close(flush_timeout_s=1.0)


def test_a_reset_spool_is_renumbered_past_the_collector_instead_of_lost(
    tmp_path: Path, collector: tuple[ScriptedCollector, str]
) -> None:
    servicer, target = collector
    servicer.script = [5000]  # the collector holds seqs up to 5000 from another spool
    sender, spool = _sender(tmp_path, target)
    _spool_events(spool, 3)
    assert sender.drain() == 0.0
    assert servicer.received == [[1, 2, 3], [5001, 5002, 5003, 5004]]
    notice = servicer.events[-1].agent_lifecycle
    assert notice.kind == events_pb2.AgentLifecycle.KIND_SEQ_RESET
    assert (notice.first_seq, notice.last_seq, notice.count) == (5001, 5003, 3)
    assert [e.event_id for e in servicer.events[3:6]] == [e.event_id for e in servicer.events[:3]]
    assert spool.depth() == 0
    assert spool.last_seq() == 5004
    assert set(servicer.spool_ids) == {spool.spool_id}


def test_backoff_grows_with_full_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base_s=1.0, cap_s=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    bounds = [min(8.0, 2.0**i) for i in range(10)]
    assert all(0 <= d <= b for d, b in zip(delays, bounds, strict=True))
    assert max(delays[4:]) > 1.0
    backoff.reset()
    assert backoff.next_delay() <= 1.0
    assert backoff.next_delay(pushback_s=3.0) == 3.0


def _address_where_nothing_listens() -> str:
    """Bind a loopback port, then close it: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"
