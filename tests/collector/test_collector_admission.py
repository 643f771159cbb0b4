"""Admission: per-device rate and free disk, refused with push-back and never with loss."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import grpc
import pytest

from collector.admission import AdmissionLimits, DeviceRateLimiter, DiskGuard
from collector.ingest import Overloaded
from tests.collector.collector_harness import DEVICE, StartCollector, make_batch, trailers


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_device_may_burst_then_waits_for_its_rate() -> None:
    clock = Clock()
    limiter = DeviceRateLimiter(
        AdmissionLimits(device_events_per_s=10, device_burst_events=50), clock
    )
    limiter.take("d", 50)
    with pytest.raises(Overloaded, match="device d is over 10 events/s") as refused:
        limiter.take("d", 20)
    assert refused.value.retry_after_ms == 2000  # 20 tokens at 10 a second
    limiter.take("other", 50)  # one device's use is not another's
    clock.now += 2.0
    limiter.take("d", 20)


def test_a_batch_larger_than_the_burst_waits_for_a_full_bucket_instead_of_forever() -> None:
    clock = Clock()
    limiter = DeviceRateLimiter(
        AdmissionLimits(device_events_per_s=10, device_burst_events=50), clock
    )
    limiter.take("d", 500)
    clock.now += 5.0
    limiter.take("d", 500)


def test_the_disk_guard_refuses_below_the_minimum_and_reads_free_space_once_per_interval(
    tmp_path: Path,
) -> None:
    clock, reads = Clock(), []
    free = shutil.disk_usage(tmp_path).free

    def free_bytes(path: Path) -> int:
        reads.append(path)
        return shutil.disk_usage(path).free

    guard = DiskGuard(tmp_path, AdmissionLimits(min_free_bytes=free + 2**40), clock, free_bytes)
    with pytest.raises(Overloaded, match="disk nearly full") as refused:
        guard.check()
    assert refused.value.retry_after_ms == 30_000
    with pytest.raises(Overloaded):
        guard.check()
    assert len(reads) == 1
    clock.now += 1.0
    with pytest.raises(Overloaded):
        guard.check()
    assert len(reads) == 2


def test_a_device_over_its_rate_gets_push_back_over_grpc_and_its_events_are_taken_later(
    start_collector: StartCollector,
) -> None:
    limits = AdmissionLimits(device_events_per_s=5, device_burst_events=3)
    collector = start_collector(admission_limits=limits)
    assert collector.report(DEVICE, make_batch([1, 2, 3])).acked_seq == 3
    error = collector.refusal(DEVICE, make_batch([4, 5, 6]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"device {DEVICE} is over 5 events/s" in (error.details() or "")
    pushback_ms = int(trailers(error)["grpc-retry-pushback-ms"])
    assert 0 < pushback_ms <= 600  # 3 events at 5 a second, less what refilled since the first
    assert collector.rows("SELECT count(*) FROM events") == [(3,)]
    time.sleep(pushback_ms / 1000)
    assert collector.report(DEVICE, make_batch([4, 5, 6])).acked_seq == 6


def test_a_nearly_full_disk_gets_push_back_and_nothing_is_stored(
    start_collector: StartCollector, tmp_path: Path
) -> None:
    too_much = shutil.disk_usage(tmp_path).free + 2**40
    collector = start_collector(admission_limits=AdmissionLimits(min_free_bytes=too_much))
    error = collector.refusal(DEVICE, make_batch([1]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "disk nearly full" in (error.details() or "")
    assert trailers(error)["grpc-retry-pushback-ms"] == "30000"
    assert collector.rows("SELECT count(*) FROM events") == [(0,)]
