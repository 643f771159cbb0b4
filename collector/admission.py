"""Whether a valid Report may be taken now: per-device rate, and room on the database's disk.

Both refuse with Overloaded and a retry delay, which the service sends as RESOURCE_EXHAUSTED with
`grpc-retry-pushback-ms`: the agent keeps the events spooled and comes back then, so push-back
never loses anything (DESIGN.md §4 "Limits"). Checked after validation, so an invalid Report
costs a device none of its allowance.

- Rate: a token bucket per device. A device makes about one event a second; after an outage it
  catches up in 500-event batches, so the default allows a fast catch-up while one runaway or
  hostile device cannot starve the writer that every device shares.
- Disk: below `min_free_bytes` on the database's file system, nothing more is taken: DuckDB
  failing mid-commit would be answered UNAVAILABLE anyway, but the agents would retry at once.
"""

from __future__ import annotations

import math
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from collector.ingest import Overloaded


@dataclass(frozen=True)
class AdmissionLimits:
    device_events_per_s: float = 2000.0
    """Sustained events per second one device may send."""
    device_burst_events: int = 5000
    """Events one device may send at once after being quiet (ten full batches)."""
    min_free_bytes: int = 64 * 1024 * 1024
    """Free space below which the collector takes nothing more."""
    disk_check_interval_s: float = 1.0
    """How long a free-space reading is trusted (one statvfs call, not one per Report)."""
    disk_retry_after_ms: int = 30_000
    """How long agents are told to wait when the disk is full: an operator must act."""


class DeviceRateLimiter:
    """Token buckets by device id; thread-safe, memory bounded by pruning full buckets."""

    def __init__(self, limits: AdmissionLimits, clock: Callable[[], float] = time.monotonic):
        self._rate = limits.device_events_per_s
        self._burst = float(limits.device_burst_events)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # device -> (tokens, at)
        self._next_prune = clock() + 60

    def take(self, device_id: str, events: int) -> None:
        """Spend `events` tokens or raise Overloaded saying when there will be enough."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(device_id, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            need = min(float(events), self._burst)  # a batch over the burst waits for a full bucket
            if tokens < need:
                self._buckets[device_id] = (tokens, now)
                # Rounded up: an agent told to come back too early would only be refused again.
                wait_ms = max(1, math.ceil((need - tokens) / self._rate * 1000))
                raise Overloaded(wait_ms, f"device {device_id} is over {self._rate:g} events/s")
            self._buckets[device_id] = (tokens - need, now)
            if now >= self._next_prune:
                self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget devices whose bucket has refilled: they cost nothing to recreate."""
        full_after = self._burst / self._rate
        self._buckets = {d: v for d, v in self._buckets.items() if now - v[1] < full_after}
        self._next_prune = now + 60


class DiskGuard:
    """Refuses while the database's file system has less than `min_free_bytes` free."""

    def __init__(
        self,
        directory: Path,
        limits: AdmissionLimits,
        clock: Callable[[], float] = time.monotonic,
        free_bytes: Callable[[Path], int] = lambda path: shutil.disk_usage(path).free,
    ) -> None:
        self._directory = directory
        self._limits = limits
        self._clock = clock
        self._free_bytes = free_bytes
        self._free = 0
        self._read_at = float("-inf")

    def check(self) -> None:
        now = self._clock()
        if now - self._read_at >= self._limits.disk_check_interval_s:
            self._free, self._read_at = self._free_bytes(self._directory), now
        if self._free < self._limits.min_free_bytes:
            raise Overloaded(
                self._limits.disk_retry_after_ms,
                f"disk nearly full: {self._free // 2**20} MiB free under"
                f" {self._limits.min_free_bytes // 2**20} MiB",
            )


class Admission:
    """Both checks, in the order that spends no device allowance on a full disk."""

    def __init__(self, database: Path, limits: AdmissionLimits | None = None) -> None:
        limits = limits or AdmissionLimits()
        self.disk = DiskGuard(database.resolve().parent, limits)
        self.rate = DeviceRateLimiter(limits)

    def admit(self, device_id: str, events: int) -> None:
        self.disk.check()
        self.rate.take(device_id, events)
