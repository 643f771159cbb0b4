"""The collector's Prometheus metrics, and the HTTP endpoint that serves them at /metrics.

Why a registry per server (not prometheus_client's global one): tests start several collectors
in one process, and each must count only its own Reports. The hot path (every Report, every
group commit) only increments counters and observes histograms, a few microseconds per Report;
what needs a look at the outside world (queue depth, database size, devices seen, lake age) is
read at scrape time instead (`ScrapeTimeGauges`).

No personal data: devices are counted, never named, and nothing says what anyone ran.

    commaudit_events_received_total            events in every decoded Report, refused or not
    commaudit_events_stored_total              events committed (a duplicate is not stored again)
    commaudit_events_rejected_total{reason}    events in refused Reports, by REJECTION_REASONS
    commaudit_reports_total{outcome}           Reports by outcome: acked, renumber, or a reason
    commaudit_report_events                    histogram: events per decoded Report
    commaudit_commit_seconds                   histogram: one group's writer call, as the RPC
                                               process waits for it (the writer process included)
    commaudit_commit_group_events              histogram: events per group handed to the writer
    commaudit_devices_seen_last_hour           devices that authenticated a Report in the last hour
    commaudit_ingest_pending_events            events queued or being committed
    commaudit_database_bytes                   the DuckDB file and its WAL
    commaudit_lake_catalog_age_seconds         since the lake's catalog last changed (a publish
                                               that had something new); absent before the first
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collector.lake import CATALOG_FILE

REJECTION_REASONS = (
    "undecodable",  # not a ReportRequest at all
    "unauthenticated",  # missing, unknown or revoked device credential
    "invalid",  # the validator's refusal (INVALID_ARGUMENT)
    "foreign_device",  # an event names another device (PERMISSION_DENIED)
    "disk_full",  # admission: the database's disk is under --min-free-mb
    "device_rate",  # admission: the device is over its events/s
    "queue_full",  # the ingest queue is full
    "commit_failed",  # the group's transaction failed (the writer process gone included)
    "shutting_down",  # the collector is stopping
)
"""Why a Report was refused; a fixed set, so every label exists (at 0) from the start."""
ANSWERED = ("acked", "renumber")
"""Reports answered with an ack; `renumber`: from a reset spool, told to renumber (ledger.py)."""

SEEN_WINDOW_S = 3600.0
_EVENT_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)  # a Report holds at most 1,000
_GROUP_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000)  # 5,000 per group
_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Queue(Protocol):
    """The ingest queue, as the metrics see it (ingest.Ingestor)."""

    @property
    def pending_events(self) -> int: ...


class DeviceSightings:
    """When each device last authenticated a Report (monotonic), to count the recent ones.

    Memory is one entry per device seen within the window: counting forgets older ones."""

    def __init__(
        self, window_s: float = SEEN_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()  # the RPC loop writes, the scrape thread counts
        self._last_seen: dict[str, float] = {}

    def seen(self, device_id: str) -> None:
        now = self._clock()
        with self._lock:
            self._last_seen[device_id] = now

    def count(self) -> int:
        """Devices seen within the window; forgets the others."""
        since = self._clock() - self.window_s
        with self._lock:
            self._last_seen = {d: at for d, at in self._last_seen.items() if at >= since}
            return len(self._last_seen)


class CollectorMetrics:
    """The metrics of one collector, in a registry of their own (`registry`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.devices = DeviceSightings()
        r = self.registry
        self.received = Counter(
            "commaudit_events_received", "Events in decoded Reports, refused or not.", registry=r
        )
        self.stored = Counter(
            "commaudit_events_stored", "Events committed (duplicates are not).", registry=r
        )
        rejected = Counter(
            "commaudit_events_rejected", "Events in refused Reports.", ["reason"], registry=r
        )
        reports = Counter("commaudit_reports", "Reports by outcome.", ["outcome"], registry=r)
        # Children bound once: .labels() on every Report would cost a dict lookup and a lock.
        self._rejected = {reason: rejected.labels(reason) for reason in REJECTION_REASONS}
        self._reports = {o: reports.labels(o) for o in (*ANSWERED, *REJECTION_REASONS)}
        self.report_events = Histogram(
            "commaudit_report_events", "Events per decoded Report.",
            buckets=_EVENT_BUCKETS, registry=r,
        )  # fmt: skip
        self.commit_seconds = Histogram(
            "commaudit_commit_seconds", "One group's writer call, as the RPC process waits.",
            buckets=_SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.group_events = Histogram(
            "commaudit_commit_group_events", "Events per group handed to the writer.",
            buckets=_GROUP_BUCKETS, registry=r,
        )  # fmt: skip

    def report_received(self, events: int) -> None:
        self.received.inc(events)
        self.report_events.observe(events)

    def report_answered(self, renumbered: bool) -> None:
        self._reports["renumber" if renumbered else "acked"].inc()

    def report_refused(self, reason: str, events: int) -> None:
        """`reason`: one of REJECTION_REASONS (a KeyError otherwise: the set is fixed)."""
        self._reports[reason].inc()
        self._rejected[reason].inc(events)

    def group_written(self, seconds: float, events: int, stored: int) -> None:
        self.commit_seconds.observe(seconds)
        self.group_events.observe(events)
        self.stored.inc(stored)

    def watch(self, queue: Queue, database: Path, lake_dir: Path) -> None:
        """Add the gauges read at scrape time (once the ingest queue and the paths exist)."""
        self.registry.register(ScrapeTimeGauges(self.devices, queue, database, lake_dir))


class ScrapeTimeGauges(Collector):
    """Gauges computed when scraped: nothing on the hot path, always current."""

    def __init__(
        self,
        devices: DeviceSightings,
        queue: Queue,
        database: Path,
        lake_dir: Path,
    ) -> None:
        self._devices = devices
        self._queue = queue
        self._files = (database, database.with_name(database.name + ".wal"))
        self._catalog = (lake_dir / CATALOG_FILE, lake_dir / f"{CATALOG_FILE}-wal")

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "commaudit_devices_seen_last_hour",
            "Devices that authenticated a Report in the last hour.",
            value=self._devices.count(),
        )
        yield GaugeMetricFamily(
            "commaudit_ingest_pending_events",
            "Events queued or being committed.",
            value=self._queue.pending_events,
        )
        yield GaugeMetricFamily(
            "commaudit_database_bytes",
            "Size of the DuckDB file and its WAL.",
            value=sum(_size(path) for path in self._files),
        )
        changes = [at for at in map(_mtime, self._catalog) if at is not None]
        if changes:
            yield GaugeMetricFamily(
                "commaudit_lake_catalog_age_seconds",
                "Seconds since the published lake's catalog last changed.",
                value=max(0.0, time.time() - max(changes)),
            )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


class MetricsEndpoint:
    """prometheus_client's HTTP server for one registry, in a daemon thread; close() stops it."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._httpd: WSGIServer
        self._httpd, self._thread = start_http_server(port, host, registry)
        self.port: int = self._httpd.server_port
        """The bound port (the one chosen by the OS when asked for port 0)."""

    def close(self) -> None:
        """Stop serving (within the server's 0.5 s poll) and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
