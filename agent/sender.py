"""Delivers the spool to the collector: batches, one Report in flight, retries that never give up.

Every failure is classified (STYLE.md 7): transient codes are retried with jittered exponential
backoff that honours the collector's push-back; INVALID_ARGUMENT sets the named event aside and
records it (a poison event must not block the queue forever); credential errors keep spooling and
retry slowly. Events leave the spool only when the collector acknowledges their seq.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

from agent.collector_channel import CollectorChannel, RpcError, StatusCode, agent_method
from agent.spool import Spool
from commaudit.v1 import agent_service_pb2, events_pb2

log = logging.getLogger(__name__)

REJECTED_SEQ_KEY = "commaudit-rejected-seq"
PUSHBACK_KEY = "grpc-retry-pushback-ms"
REPORT = agent_method("Report")

_RETRYABLE = frozenset(
    {
        StatusCode.UNAVAILABLE,  # collector down, restarting, or unreachable
        StatusCode.DEADLINE_EXCEEDED,  # slow commit: the batch may be stored; dedupe covers it
        StatusCode.RESOURCE_EXHAUSTED,  # push-back: the collector's queue or disk is full
        StatusCode.ABORTED,
        StatusCode.INTERNAL,
        StatusCode.UNKNOWN,
        StatusCode.CANCELLED,
    }
)


@dataclass(frozen=True)
class SenderSettings:
    batch_max_events: int = 500
    """Events per Report at most (the collector accepts up to 1000)."""
    batch_max_delay_s: float = 1.0
    """How long new events wait for others to share their Report."""
    rpc_timeout_s: float = 10.0
    """Deadline of one Report, commit included."""
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 60.0


class Backoff:
    """Full-jitter exponential backoff: spreads a fleet's reconnects after a collector restart."""

    def __init__(self, base_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self._base, self._cap = base_s, cap_s
        self._rng = rng or random.Random()
        self._attempt = 0

    def next_delay(self, pushback_s: float | None = None) -> float:
        """Seconds to wait before the next try; the collector's push-back wins when it gives one."""
        self._attempt += 1
        if pushback_s is not None:
            return min(pushback_s, self._cap)
        return self._rng.uniform(0, min(self._cap, self._base * 2 ** (self._attempt - 1)))

    def reset(self) -> None:
        self._attempt = 0


class Sender:
    """Background thread that drains the spool; `close` flushes what it can in a bounded time."""

    def __init__(
        self,
        spool: Spool,
        channel: CollectorChannel,
        metadata: tuple[tuple[str, str], ...],
        settings: SenderSettings | None = None,
    ) -> None:
        self._spool = spool
        self._channel = channel
        self._metadata = metadata  # the device credential (agent/enrollment.py)
        self.settings = settings or SenderSettings()
        self._backoff = Backoff(self.settings.backoff_base_s, self.settings.backoff_cap_s)
        self._limit = self.settings.batch_max_events
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commaudit-sender", daemon=True)
        self.acked_seq = 0
        self.last_error = ""

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """New events are in the spool."""
        self._wake.set()

    def close(self, flush_timeout_s: float) -> bool:
        """Stop the thread, then try to deliver the rest; True when the spool is empty. The
        channel is closed after: the sender is its last user (the daemon stops central config
        first)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            deadline = time.monotonic() + flush_timeout_s
            while time.monotonic() < deadline:
                delay = self.drain(deadline)
                if delay == 0.0:
                    return True
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            return self._spool.depth() == 0
        finally:
            self._channel.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            # Poll now and then even without a wake: retries after a failure need no new event.
            self._wake.wait(timeout=self.settings.backoff_cap_s)
            self._wake.clear()
            if self._stop.wait(self.settings.batch_max_delay_s):
                return
            delay = self.drain()
            if delay:
                self._stop.wait(delay)
                self._wake.set()

    def drain(self, deadline: float | None = None) -> float:
        """Send until the spool is empty (returns 0.0) or a failure asks to wait (the delay)."""
        while not self._interrupted(deadline):
            batch = self._spool.pending(self._limit)
            if not batch:
                self._backoff.reset()
                return 0.0
            delay = self._send(batch, deadline)
            if delay is not None:
                return delay
        return self.settings.batch_max_delay_s  # interrupted: not known to be empty

    def _interrupted(self, deadline: float | None) -> bool:
        """The thread stops at close; the final flush stops at its deadline."""
        if deadline is None:
            return self._stop.is_set()
        return time.monotonic() >= deadline

    def _send(self, batch: list[events_pb2.Event], deadline: float | None) -> float | None:
        """One Report; None when the caller may go straight on to the next batch."""
        timeout = self.settings.rpc_timeout_s
        if deadline is not None:
            timeout = max(0.1, min(timeout, deadline - time.monotonic()))
        try:
            response = self._channel.call(
                REPORT,
                agent_service_pb2.ReportRequest(events=batch, spool_id=self._spool.spool_id),
                agent_service_pb2.ReportResponse,
                timeout=timeout,
                metadata=self._metadata,
            )
        except RpcError as error:
            return self._failed(batch, error)
        if response.renumber_after:
            self._renumber(response.renumber_after)
            return None  # straight on: the renumbered events are the next batch
        return self._acknowledged(batch, response.acked_seq)

    def _renumber(self, after_seq: int) -> None:
        """This spool was reset: the collector holds seqs it hands out again; nothing of the
        batch was stored. Renumber every unsent event past the collector's mark and go on."""
        log.warning("spool reset: collector holds seq %d; renumbering unsent events", after_seq)
        self._spool.renumber_after(after_seq, f"spool reset; collector held seq {after_seq}")

    def _acknowledged(self, batch: list[events_pb2.Event], acked_seq: int) -> float | None:
        self._spool.ack(acked_seq)
        self.acked_seq = max(self.acked_seq, acked_seq)
        self.last_error = ""
        self._limit = self.settings.batch_max_events
        if acked_seq < batch[-1].seq:  # the collector stored less than we sent: do not spin
            self.last_error = f"collector acknowledged {acked_seq}, below {batch[-1].seq}"
            return self._backoff.next_delay()
        self._backoff.reset()
        return None

    def _failed(self, batch: list[events_pb2.Event], error: RpcError) -> float | None:
        code, details, trailers = error.code, error.details, error.trailers
        self.last_error = f"{code.name}: {details}"
        if code == StatusCode.INVALID_ARGUMENT:
            return self._rejected(batch, details, trailers.get(REJECTED_SEQ_KEY))
        if code in _RETRYABLE:
            log.info("collector unavailable, will retry: %s", self.last_error)
            pushback = trailers.get(PUSHBACK_KEY)
            return self._backoff.next_delay(int(pushback) / 1000 if pushback else None)
        # UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED...: an operator must act; keep
        # spooling and retry at the slowest pace.
        log.error("collector refused this device: %s", self.last_error)
        return self.settings.backoff_cap_s

    def _rejected(
        self, batch: list[events_pb2.Event], details: str, rejected_seq: str | None
    ) -> float | None:
        seqs = {event.seq for event in batch}
        if rejected_seq is not None and int(rejected_seq) in seqs:
            bad = int(rejected_seq)
        elif len(batch) > 1:
            self._limit = 1  # no seq named: find the culprit one event at a time
            return None
        else:
            bad = batch[0].seq
        log.error("collector rejected event seq %d, set aside: %s", bad, details)
        self._spool.set_aside([bad], f"rejected by collector: {details}", time.time())
        return None
