"""A full disk, for real: the collector's state directory on a small tmpfs filled to the brim.

A commit that cannot write DuckDB's WAL fails whole, nothing of it is acknowledged, and the
agent keeps the events; once space is back they are stored exactly once, and a restart finds
the database intact. Mounting a tmpfs needs root (CAP_SYS_ADMIN); where the test may not, it is
skipped and tests/collector/test_collector_ingest.py's storage-layer commit failure stands in.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.collector_channel import CollectorChannel
from agent.daemon import loss_notice_for
from agent.events import lifecycle_event
from agent.sender import Sender, SenderSettings
from agent.spool import Spool
from collector.admission import AdmissionLimits
from commaudit.v1 import events_pb2
from tests.collector.collector_harness import RunningCollector

DEVICE = "full-disk-1"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave_bytes: int) -> Path:
    """A file taking all but `leave_bytes` of the disk."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as out:
        out.truncate(0)
        out.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave_bytes))
    return filler


def events(count: int) -> list[events_pb2.Event]:
    """Bulky lifecycle events: a few hundred fill a megabyte of WAL."""
    return [
        lifecycle_event(DEVICE, events_pb2.AgentLifecycle.KIND_CONFIG_RELOADED, detail="x" * 900)
        for _ in range(count)
    ]


def test_a_full_disk_fails_commits_whole_and_the_agent_delivers_once_space_is_back(
    small_disk: Path, tmp_path: Path
) -> None:
    state = small_disk / "collector"
    # The free-space guard is off so that the disk really fills (the guard is tested apart).
    limits = AdmissionLimits(min_free_bytes=0)
    collector = RunningCollector(state, admission_limits=limits)
    try:
        credential = collector.metadata(DEVICE)
        spool = Spool(tmp_path / "spool.sqlite3", 64 * 2**20, loss_notice_for(DEVICE))
        sender = Sender(
            spool,
            CollectorChannel(collector.address, None),  # plaintext on loopback: the agent's own
            credential,
            SenderSettings(batch_max_events=200, backoff_base_s=0.01, backoff_cap_s=0.05),
        )
        spool.append(events(200))
        assert sender.drain() == 0.0  # room enough: stored and acknowledged
        filler = fill(small_disk, leave_bytes=256 * 1024)
        spool.append(events(1000))
        failures = 0
        while sender.drain() != 0.0 and failures < 5:
            failures += 1
        assert failures == 5, "the disk should be full"
        assert sender.last_error == "UNAVAILABLE: commit failed; nothing stored"
        stored_while_full = collector.rows("SELECT count(*), max(seq) FROM events")[0]
        assert stored_while_full[0] == stored_while_full[1]  # seqs 1..n, no holes, no repeats
        assert sender.acked_seq == stored_while_full[1]  # nothing acknowledged that is not stored
        assert spool.depth() == 1200 - sender.acked_seq

        filler.unlink()
        assert sender.drain() == 0.0
        assert spool.depth() == 0
        sender.close(flush_timeout_s=1)
    finally:
        collector.stop()

    reopened = RunningCollector(state, admission_limits=limits)
    try:
        assert reopened.rows("SELECT count(*), count(DISTINCT seq), max(seq) FROM events") == [
            (1200, 1200, 1200)
        ]
        assert reopened.rows("SELECT count(*) FROM seq_gaps") == [(0,)]
    finally:
        reopened.stop()
