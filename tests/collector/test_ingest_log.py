"""The ingest log on a real file: what was appended comes back, a record cut short by a crash
or a failed write is dropped (it was never acknowledged), and the next append follows the last
whole record."""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.ingest_log import IngestLog, StagedBatch, StagedGroup, encode


def group(group_id: int, size: int = 3) -> StagedGroup:
    return StagedGroup(
        group_id,
        1_760_000_000_000 + group_id,
        tuple(
            StagedBatch(f"laptop-{n}", f"spool-{n}", bytes([group_id % 256, n]) * size)
            for n in range(2)
        ),
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "commaudit.duckdb.ingest-log"


def reopened(path: Path) -> IngestLog:
    ingest_log = IngestLog(path)
    ingest_log.close()
    return ingest_log


def test_appended_groups_come_back_in_order_after_a_reopen(path: Path) -> None:
    ingest_log = IngestLog(path)
    ingest_log.append(group(1))
    ingest_log.append(group(2))
    ingest_log.close()

    again = reopened(path)
    assert again.recovered == [group(1), group(2)]
    assert again.last_group == 2


def test_a_record_cut_short_is_dropped_and_the_next_append_follows_the_last_whole_one(
    path: Path,
) -> None:
    ingest_log = IngestLog(path)
    ingest_log.append(group(1))
    ingest_log.close()
    whole = path.stat().st_size
    with path.open("ab") as out:  # a crash in the middle of the second append
        out.write(encode(group(2))[:-5])

    ingest_log = IngestLog(path)
    assert ingest_log.recovered == [group(1)]
    assert path.stat().st_size == whole  # the torn bytes are gone from the file
    ingest_log.append(group(3))
    ingest_log.close()
    assert reopened(path).recovered == [group(1), group(3)]


def test_a_record_whose_bytes_changed_is_not_taken_for_a_group(path: Path) -> None:
    ingest_log = IngestLog(path)
    ingest_log.append(group(1))
    ingest_log.append(group(2))
    ingest_log.close()
    data = bytearray(path.read_bytes())
    data[-2] ^= 0xFF  # the last record's body no longer matches its CRC
    path.write_bytes(bytes(data))

    assert reopened(path).recovered == [group(1)]


@pytest.fixture
def file_size_limit() -> Iterator[None]:
    """Writes past 64 KiB fail with EFBIG (a full disk, as far as the log can tell)."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_a_failed_append_leaves_the_log_as_it_was(path: Path, file_size_limit: None) -> None:
    ingest_log = IngestLog(path)
    ingest_log.append(group(1))
    before = path.stat().st_size
    with pytest.raises(OSError):
        ingest_log.append(group(2, size=40_000))  # 160 KB: written in part, then refused
    assert path.stat().st_size == before
    assert ingest_log.last_group == 1
    ingest_log.append(group(3))  # appends go on after the last whole record
    ingest_log.close()
    assert reopened(path).recovered == [group(1), group(3)]


def test_the_log_is_emptied_only_once_its_newest_group_is_applied(path: Path) -> None:
    ingest_log = IngestLog(path)
    ingest_log.append(group(1))
    ingest_log.append(group(2))
    assert not ingest_log.empty_if_applied(1)
    assert path.stat().st_size > 0
    assert ingest_log.empty_if_applied(2)
    assert path.stat().st_size == 0
    ingest_log.close()
    assert reopened(path).recovered == []


def segments_of(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


def test_a_log_that_keeps_growing_under_a_steady_load_is_bounded_by_segments(path: Path) -> None:
    """Groups keep arriving while earlier ones load, so the newest is never applied when the
    loader looks: full segments whose groups are all in the database go anyway."""
    one = len(encode(group(1, size=100)))
    ingest_log = IngestLog(path, segment_bytes=4 * one)  # four groups a segment
    applied = 0
    for group_id in range(1, 101):
        ingest_log.append(group(group_id, size=100))
        if group_id % 3 == 0:  # the loader is always a few groups behind
            applied = group_id - 2
            ingest_log.empty_if_applied(applied)
        assert ingest_log.size <= 12 * one  # never more than ~3 segments' worth
    assert ingest_log.last_group == 100
    kept = [g.group_id for g in reopened_groups(path, ingest_log)]
    assert kept[0] <= applied + 1 and kept[-1] == 100  # nothing unapplied was deleted
    assert kept == list(range(kept[0], 101))


def reopened_groups(path: Path, ingest_log: IngestLog) -> list[StagedGroup]:
    ingest_log.close()
    return reopened(path).recovered


def test_segments_come_back_in_order_and_only_the_newest_is_cut_after_a_crash(
    path: Path,
) -> None:
    one = len(encode(group(1)))
    ingest_log = IngestLog(path, segment_bytes=2 * one)
    for group_id in range(1, 6):
        ingest_log.append(group(group_id))
    ingest_log.close()
    assert segments_of(path) == [path.name, f"{path.name}.1", f"{path.name}.2"]
    newest = path.with_name(f"{path.name}.2")
    with newest.open("ab") as out:  # a crash in the middle of the sixth append
        out.write(encode(group(6))[:-3])
    again = IngestLog(path, segment_bytes=2 * one)
    assert [g.group_id for g in again.recovered] == [1, 2, 3, 4, 5]
    again.append(group(7))
    assert [g.group_id for g in reopened_groups(path, again)] == [1, 2, 3, 4, 5, 7]


def test_applied_segments_are_deleted_and_a_restart_reads_only_what_is_left(path: Path) -> None:
    one = len(encode(group(1)))
    ingest_log = IngestLog(path, segment_bytes=2 * one)
    for group_id in range(1, 6):  # segments: [1, 2] [3, 4] [5]
        ingest_log.append(group(group_id))
    assert ingest_log.empty_if_applied(3)  # the first segment goes; [3, 4] holds 4, unapplied
    assert segments_of(path) == [f"{path.name}.1", f"{path.name}.2"]
    assert [g.group_id for g in reopened_groups(path, ingest_log)] == [3, 4, 5]
    again = IngestLog(path, segment_bytes=2 * one)
    assert again.empty_if_applied(5)
    assert [g.group_id for g in reopened_groups(path, again)] == []
