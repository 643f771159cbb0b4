"""Prometheus metrics, scraped over HTTP from a real collector after real Reports.

Every expected number is counted by hand from the Reports each test sends; Reports go one at a
time (each waits for its answer), so every accepted Report is a group of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.admission import AdmissionLimits
from collector.metrics import REJECTION_REASONS
from collector.server import ConfigError, start_server
from tests.collector.collector_harness import (
    RunningCollector,
    StartCollector,
    make_batch,
    make_event,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
REPORT = "/commaudit.v1.AgentService/Report"


def scrape(port: int | None) -> Samples:
    """Every sample of /metrics, by (name, labels)."""
    assert port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def running(start_collector: StartCollector) -> RunningCollector:
    """Metrics on a free port; a device may send 10 events, then almost nothing more."""
    return start_collector(
        metrics_listen="127.0.0.1:0",
        admission_limits=AdmissionLimits(device_events_per_s=0.001, device_burst_events=10),
    )


def send_mix(collector: RunningCollector) -> None:
    """Four answered Reports (9 events, 5 new) and five refused ones (9 events)."""
    first = make_batch([1, 2, 3])
    collector.report("laptop-a", first)  # stored: 3; laptop-a has 7 of 10 events left
    collector.report("laptop-a", first)  # acked again, stored: 0 (duplicates); 4 left
    collector.refusal("laptop-a", make_batch([4, 5, 6, 7, 8]))  # device_rate: 5 events
    collector.report("laptop-b", make_batch([1, 2]), spool_id=str(uuid.uuid4()))  # stored: 2
    reset = collector.report("laptop-b", make_batch([1]), spool_id=str(uuid.uuid4()))
    assert reset.renumber_after == 2  # a reset spool: renumber, stored: 0
    foreign = make_event(3)
    foreign.device_id = "laptop-a"
    collector.refusal("laptop-b", [foreign])  # foreign_device: 1 event
    collector.refusal("laptop-a", make_batch([0, 4]))  # invalid (seq 0): 2 events
    collector.refusal(None, make_batch([1]))  # unauthenticated: 1 event
    raw_report = collector.channel.unary_unary(REPORT)
    with pytest.raises(grpc.RpcError):  # undecodable: no events to count
        raw_report(b"\x0a\xff", metadata=collector.metadata("laptop-b"), timeout=10)


def test_scrape_counts_received_stored_and_rejected_events_by_reason(
    running: RunningCollector,
) -> None:
    send_mix(running)

    samples = scrape(running.server.metrics_port)

    assert value(samples, "commaudit_events_received_total") == 18
    assert value(samples, "commaudit_events_stored_total") == 5
    assert running.rows("SELECT count(*) FROM events") == [(5,)]
    rejected = {"device_rate": 5, "foreign_device": 1, "invalid": 2, "unauthenticated": 1}
    for reason in REJECTION_REASONS:  # every reason is there, at 0 when it never happened
        count = value(samples, "commaudit_events_rejected_total", reason=reason)
        assert count == rejected.get(reason, 0), reason


def test_scrape_counts_reports_by_outcome_and_histograms_of_sizes_and_commits(
    running: RunningCollector,
) -> None:
    send_mix(running)

    samples = scrape(running.server.metrics_port)

    outcomes = {"acked": 3, "renumber": 1, "device_rate": 1, "foreign_device": 1, "invalid": 1,
                "unauthenticated": 1, "undecodable": 1, "disk_full": 0, "queue_full": 0,
                "commit_failed": 0, "shutting_down": 0}  # fmt: skip
    for outcome, count in outcomes.items():
        assert value(samples, "commaudit_reports_total", outcome=outcome) == count, outcome
    # Eight decoded Reports of 3, 3, 5, 2, 1, 1, 2 and 1 events.
    assert value(samples, "commaudit_report_events_count") == 8
    assert value(samples, "commaudit_report_events_sum") == 18
    assert value(samples, "commaudit_report_events_bucket", le="1.0") == 3
    assert value(samples, "commaudit_report_events_bucket", le="2.0") == 5
    assert value(samples, "commaudit_report_events_bucket", le="5.0") == 8
    # Four groups reached the writer (the duplicate and the reset one too): 3, 3, 2, 1 events.
    assert value(samples, "commaudit_commit_group_events_count") == 4
    assert value(samples, "commaudit_commit_group_events_sum") == 9
    assert value(samples, "commaudit_commit_seconds_count") == 4
    assert 0 < value(samples, "commaudit_commit_seconds_sum") < 10


def test_scrape_time_gauges_count_devices_not_persons_and_measure_queue_and_database(
    running: RunningCollector,
) -> None:
    send_mix(running)

    samples = scrape(running.server.metrics_port)

    # laptop-a and laptop-b authenticated; the call without a credential is nobody.
    assert value(samples, "commaudit_devices_seen_last_hour") == 2
    assert value(samples, "commaudit_ingest_pending_events") == 0
    database = running.state_dir / "commaudit.duckdb"
    assert value(samples, "commaudit_database_bytes") >= database.stat().st_size > 0
    assert not any("laptop" in str(labels) for _, labels in samples)


def test_lake_age_appears_once_the_lake_exists(running: RunningCollector) -> None:
    catalog = running.state_dir / "lake" / "catalog.sqlite"
    deadline = time.monotonic() + 15
    while not catalog.exists():  # the first publish starts with the writer, in its own thread
        assert time.monotonic() < deadline, "no lake published"
        time.sleep(0.05)

    age = value(scrape(running.server.metrics_port), "commaudit_lake_catalog_age_seconds")

    assert 0 <= age < 60


def test_two_collectors_in_one_process_count_only_their_own_reports(
    running: RunningCollector, tmp_path: Path
) -> None:
    full = RunningCollector(
        tmp_path / "full",
        metrics_listen="127.0.0.1:0",
        admission_limits=AdmissionLimits(min_free_bytes=2**62),  # no disk is that free
    )
    try:
        running.report("laptop-a", make_batch([1]))
        error = full.refusal("laptop-c", make_batch([1, 2, 3, 4]))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        ours, theirs = scrape(running.server.metrics_port), scrape(full.server.metrics_port)
    finally:
        full.stop()

    assert value(ours, "commaudit_events_received_total") == 1
    assert value(ours, "commaudit_events_stored_total") == 1
    assert value(ours, "commaudit_events_rejected_total", reason="disk_full") == 0
    assert value(theirs, "commaudit_events_received_total") == 4
    assert value(theirs, "commaudit_events_stored_total") == 0
    assert value(theirs, "commaudit_events_rejected_total", reason="disk_full") == 4
    assert value(theirs, "commaudit_reports_total", outcome="disk_full") == 1


def test_metrics_are_not_served_unless_asked_for(collector: RunningCollector) -> None:
    assert collector.server.metrics_port is None


def test_a_metrics_address_that_is_not_host_port_is_refused_before_anything_opens(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "collector"
    with pytest.raises(ConfigError, match="not HOST:PORT"):
        asyncio.run(start_server(state_dir, "127.0.0.1:0", plaintext=True, metrics_listen="9100"))
    assert not state_dir.exists()


def test_a_taken_metrics_port_fails_the_start_and_leaves_the_database_free(
    tmp_path: Path,
) -> None:
    async def start_then_stop(metrics_listen: str) -> None:
        server = await start_server(
            tmp_path / "collector", "127.0.0.1:0", plaintext=True, metrics_listen=metrics_listen,
            publish_interval_s=0,
        )  # fmt: skip
        await server.stop(grace=0)

    with _listening_socket() as port, pytest.raises(OSError):
        asyncio.run(start_then_stop(f"127.0.0.1:{port}"))
    asyncio.run(start_then_stop("127.0.0.1:0"))  # the database was closed: it opens again


@contextlib.contextmanager
def _listening_socket() -> Iterator[int]:
    """A TCP port taken on 127.0.0.1 for the duration of a with block."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]
