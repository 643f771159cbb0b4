"""The ingest queue: concurrent Reports in, group commits out, acks after commit.

Why one thread: DuckDB has one read-write opener and a connection is not for concurrent use
(DESIGN.md §5), and a commit costs about the same for 10 events as for 5,000. RPC handlers
`submit` a validated batch and get a Future; the writer thread takes everything queued (up to
`max_group_events`, waiting at most `max_group_delay_s` after the oldest) and hands it to the
Writer (writer.py), which plans it against the seq ledger, commits it in one transaction and
only then applies the ledger; each Future then gets its device's acknowledged seq. A failed
commit rejects every Future of its group, so nothing is acknowledged that is not stored; the
agents retry.

The queue is bounded in events (queued or being committed): beyond it `submit` raises
Overloaded with an estimate of when to come back, which the service passes on as gRPC
push-back. The shape follows Datasette's `_send_to_write_thread` / `_execute_writes`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from collector.metrics import CollectorMetrics
from collector.writer import WriterLike
from commaudit.v1 import events_pb2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestLimits:
    """How the writer groups commits and how much it lets wait."""

    max_group_events: int = 5000
    """Events per commit; a single larger Report still commits alone."""
    max_group_delay_s: float = 0.020
    """How long the oldest queued Report may wait for company before its commit starts. A group
    has a fixed cost, so under load fewer, larger groups answer sooner. The collector's staged
    writer (writer.py) makes a group durable with one fsync of the ingest log (~3 ms under a
    fleet's load, against ~25 ms for a DuckDB commit), so 20 ms is enough company."""
    max_lull_s: float = 0.005
    """How long the writer waits for the next Report once they stop arriving."""
    max_pending_events: int = 50_000
    """Events queued or being committed; beyond it Reports are pushed back (RESOURCE_EXHAUSTED)."""


class Overloaded(Exception):
    """Not now (queue full, device over its rate, disk nearly full): come back after
    `retry_after_ms`."""

    def __init__(
        self, retry_after_ms: int, reason: str = "collector busy", kind: str = "queue_full"
    ) -> None:
        super().__init__(f"{reason}: retry in {retry_after_ms} ms")
        self.retry_after_ms = retry_after_ms
        self.kind = kind
        """Which limit refused, for metrics: `queue_full`, `device_rate` or `disk_full`."""


class CommitFailed(Exception):
    """The group's transaction failed: none of its events is stored or acknowledged."""


class IngestorClosed(Exception):
    """The collector is shutting down and takes no more Reports."""


@dataclass(frozen=True)
class Ack:
    """What a Report's answer says once its group is committed (ReportResponse)."""

    acked_seq: int
    renumber_after: int = 0
    """Non-zero: the batch came from a reset spool, nothing of it stored (ledger.py)."""


@dataclass
class _Submission:
    device_id: str
    events: Sequence[events_pb2.Event]
    queued_at: float  # time.monotonic()
    spool_id: str = ""
    raw: bytes = b""
    """The serialized ReportRequest the events came from, when the caller has it."""
    loop_future: asyncio.Future[Ack] | None = None
    """Set by submit_async: the RPC's own future, settled on its event loop."""
    future: Future[Ack] = field(init=False)
    """submit's future, made only when there is no loop_future (it costs a Condition)."""

    def __post_init__(self) -> None:
        if self.loop_future is None:
            self.future = Future()

    def is_live(self) -> bool:
        """False when the RPC was cancelled: nobody waits, the agent sends it again."""
        if self.loop_future is not None:
            return not self.loop_future.cancelled()
        return self.future.set_running_or_notify_cancel()


Outcome = Ack | Exception


def _settle_on_loop(pairs: list[tuple[asyncio.Future[Ack], Outcome]]) -> None:
    """Runs on the event loop: one wake-up settles a whole group's RPCs."""
    for future, outcome in pairs:
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class Ingestor:
    """Owns the writer thread; starts it at construction, stops it with close()."""

    def __init__(
        self,
        writer: WriterLike,
        limits: IngestLimits | None = None,
        metrics: CollectorMetrics | None = None,
    ) -> None:
        self.limits = limits or IngestLimits()
        self.metrics = metrics or CollectorMetrics()
        self.commits = 0
        """Transactions committed so far (grouping shows as fewer commits than Reports)."""
        self._writer = writer
        self._cond = threading.Condition()
        self._queue: deque[_Submission] = deque()
        self._queued_events = 0
        self._pending_events = 0  # queued or in the commit under way
        self._closing = False
        self._ms_per_event = 0.05  # running estimate of commit cost, for push-back
        self._thread = threading.Thread(target=self._run, name="commaudit-ingest", daemon=True)
        self._thread.start()

    def submit(
        self, device_id: str, events: Sequence[events_pb2.Event], spool_id: str = ""
    ) -> Future[Ack]:
        """Queue a validated batch; the Future gives the device's Ack after commit."""
        submission = _Submission(device_id, list(events), time.monotonic(), spool_id)
        self._enqueue(submission)
        return submission.future

    async def submit_async(
        self,
        device_id: str,
        events: Sequence[events_pb2.Event],
        spool_id: str = "",
        raw: bytes = b"",
    ) -> Ack:
        """submit for an asyncio caller: the writer settles a whole group's futures with one
        call_soon_threadsafe, instead of one cross-thread wake-up per Report. `raw` is the
        serialized ReportRequest, when the caller has it (the writer process takes it as is)."""
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._enqueue(
            _Submission(
                device_id, list(events), time.monotonic(), spool_id, raw, loop_future=future
            )
        )
        return await future

    def _enqueue(self, submission: _Submission) -> None:
        events = submission.events
        with self._cond:
            if self._closing:
                raise IngestorClosed("collector is shutting down")
            pending = self._pending_events
            # An empty queue takes any batch, so that no batch is refused forever.
            if pending and pending + len(events) > self.limits.max_pending_events:
                raise Overloaded(self._retry_after_ms())
            self._queue.append(submission)
            self._queued_events += len(events)
            self._pending_events += len(events)
            # Wake the writer only when it has something new to decide: the first Report of a
            # group (it then waits out the window by itself) or a full group. Waking it for
            # every Report cost the RPC loop ~4% of its time under a fleet's load.
            if len(self._queue) == 1 or self._queued_events >= self.limits.max_group_events:
                self._cond.notify()

    def close(self, timeout: float | None = None) -> None:
        """Refuse new batches, commit everything queued, stop the writer."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("ingest writer did not finish within %s s", timeout)

    @property
    def pending_events(self) -> int:
        with self._cond:
            return self._pending_events

    def _run(self) -> None:
        while (group := self._take_group()) is not None:
            try:
                self._commit(group)
            finally:
                with self._cond:
                    self._pending_events -= sum(len(s.events) for s in group)

    def _take_group(self) -> list[_Submission] | None:
        """Wait for work, then for company until the delay or size bound; None when closed."""
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            latest = self._queue[0].queued_at + self.limits.max_group_delay_s
            while not self._closing and self._queued_events < self.limits.max_group_events:
                # A lull in arrivals means the group is as big as it will get: a few agents
                # with one Report in flight each cannot send more until this commit answers.
                lull_ends = self._queue[-1].queued_at + self.limits.max_lull_s
                remaining = min(latest, lull_ends) - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._pop_group()

    def _pop_group(self) -> list[_Submission]:
        group: list[_Submission] = []
        size = 0
        while self._queue and (
            not group or size + len(self._queue[0].events) <= self.limits.max_group_events
        ):
            submission = self._queue.popleft()
            size += len(submission.events)
            group.append(submission)
        self._queued_events -= size
        return group

    def _commit(self, group: list[_Submission]) -> None:
        # A cancelled RPC has nobody waiting: skip it, the agent sends it again.
        live = [s for s in group if s.is_live()]
        if not live:
            return
        outcomes: list[Outcome]
        try:
            outcomes = list(self._write(live))
        except Exception:
            log.exception("commit of %d reports failed; none acknowledged", len(live))
            # The cause stays in this log: the agent needs only to know to retry.
            outcomes = [CommitFailed("commit failed; nothing stored")] * len(live)
        self._settle(live, outcomes)

    @staticmethod
    def _settle(group: list[_Submission], outcomes: list[Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Ack], Outcome]]] = {}
        for submission, outcome in zip(group, outcomes, strict=True):
            if submission.loop_future is not None:
                loop = submission.loop_future.get_loop()
                by_loop.setdefault(loop, []).append((submission.loop_future, outcome))
            elif isinstance(outcome, Exception):
                submission.future.set_exception(outcome)
            else:
                submission.future.set_result(outcome)
        for loop, pairs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_on_loop, pairs)
            except RuntimeError:  # the loop closed: its RPCs are gone, the agents retry
                log.warning("event loop closed before %d reports were answered", len(pairs))

    def _write(self, group: list[_Submission]) -> list[Ack]:
        """One commit of the whole group by the writer; each Report's Ack."""
        started = time.monotonic()
        now_ms = time.time_ns() // 1_000_000
        result = self._writer.commit_group(
            [(s.device_id, s.spool_id, s.events, s.raw) for s in group], now_ms
        )
        seconds = time.monotonic() - started
        received = sum(len(s.events) for s in group)
        self.metrics.group_written(seconds, received, result.stored)
        if result.committed:
            self.commits += 1
            self._measure(seconds, received, result.stored)
        return [Ack(acked, renumber) for acked, renumber in result.acks]

    def _measure(self, seconds: float, received: int, stored: int) -> None:
        elapsed_ms = seconds * 1000
        self._ms_per_event = 0.8 * self._ms_per_event + 0.2 * elapsed_ms / max(received, 1)
        log.debug("committed %d of %d events in %.1f ms", stored, received, elapsed_ms)

    def _retry_after_ms(self) -> int:
        """Roughly how long the writer needs for what is pending (caller holds the lock)."""
        estimate = self._pending_events * self._ms_per_event + self.limits.max_group_delay_s * 1000
        return int(min(max(estimate, 100), 30_000))
