"""The ingest log: each group of Reports made durable in an append-only file before its ack.

Why: a DuckDB commit under a fleet's load takes ~20 ms of CPU and, every few seconds, a
checkpoint of 100-300 ms; every Report waiting on that commit waited with it. Appending a group
to a file and fsyncing it takes well under a millisecond, so the writer acknowledges once the
group is here and loads it into DuckDB in the background (loader.py), many groups per
transaction. What the log holds is what the writer planned from: each Report's serialized
ReportRequest and the group's clock, so that replaying it against the ledger as last committed
makes the same decisions again (ledger.py is deterministic).

Record: length (4 bytes), CRC-32 of the body (4), body = group id (8), now_ms (8), batch count
(4), then per batch three lengths (4 each) and the device id, spool id and request bytes. A
record cut short by a crash (or by a failed write, which is also cut off at once) fails its
length or CRC; it was never acknowledged, so it is dropped on open. A segment is deleted (the
newest emptied) once every group in it is in the database (`ingest_log_applied`, written in the
same transaction as the rows).
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">II")
_GROUP = struct.Struct(">QQI")
_BATCH = struct.Struct(">III")


@dataclass(frozen=True)
class StagedBatch:
    device_id: str
    spool_id: str
    request: bytes
    """The serialized ReportRequest, as the agent sent it."""


@dataclass(frozen=True)
class StagedGroup:
    group_id: int
    now_ms: int
    batches: Sequence[StagedBatch]


def log_path(database: Path) -> Path:
    """The log beside its database: both move together with the state directory."""
    return database.with_name(database.name + ".ingest-log")


SEGMENT_BYTES = 64 << 20
"""A segment is closed once it holds this much; closed segments are deleted as soon as every
group in them is in the database, so the log stays bounded while groups keep arriving (with
one file, "empty once all is applied" would never come under a steady load)."""


class IngestLog:
    """Opens (or creates) the log and reads back what a previous run left in it.

    The log is a run of segment files: `path` itself, then `path.1`, `path.2`, ... Only the
    newest is written; a crash can tear only its last record."""

    def __init__(self, path: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.path = path
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._closed: list[tuple[Path, int]] = []  # (segment, its newest group), oldest first
        segments = _segments(path)
        self.recovered: list[StagedGroup] = []
        for older in segments[:-1]:
            groups, _ = _read_segment(older, truncate=False)
            self.recovered += groups
            self._closed.append((older, groups[-1].group_id if groups else 0))
        self._number = _number(path, segments[-1]) if segments else 0
        self._current = segments[-1] if segments else path
        created = not self._current.exists()
        self._fd = os.open(self._current, os.O_RDWR | os.O_CREAT, 0o600)
        if created:
            _sync_directory(path.parent)
        groups, self._end = _read_open_segment(self._fd, self._current)
        self.recovered += groups
        self.last_group = self.recovered[-1].group_id if self.recovered else 0
        """The newest group appended (0: none since the log was last emptied)."""

    @property
    def size(self) -> int:
        """Bytes on disk over every segment: what a restart would read."""
        with self._lock:
            return self._end + sum(path.stat().st_size for path, _ in self._closed)

    def append(self, group: StagedGroup) -> None:
        """Write and fsync one group; on any failure the log ends where it did before."""
        record = encode(group)
        with self._lock:
            try:
                _write_all(self._fd, record, self._end)
                os.fdatasync(self._fd)
            except BaseException:
                self._cut_back()
                raise
            self._end += len(record)
            self.last_group = group.group_id
            if self._end >= self._segment_bytes:
                self._roll()

    def empty_if_applied(self, applied_group: int) -> bool:
        """Delete the closed segments whose groups are all in the database, and empty the
        current one when its groups are too; True when anything went."""
        with self._lock:
            gone = [entry for entry in self._closed if entry[1] <= applied_group]
            for segment, _ in gone:
                segment.unlink()
            if gone:
                self._closed = self._closed[len(gone) :]
                _sync_directory(self.path.parent)
            if self._end == 0 or applied_group < self.last_group:
                return bool(gone)
            os.ftruncate(self._fd, 0)
            os.fdatasync(self._fd)
            self._end = 0
            return True

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _roll(self) -> None:
        """Close the full segment and start the next; its name is durable before any append."""
        self._closed.append((self._current, self.last_group))
        os.close(self._fd)
        self._fd = -1
        self._number += 1
        self._current = self.path.with_name(f"{self.path.name}.{self._number}")
        self._fd = os.open(self._current, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        _sync_directory(self.path.parent)
        self._end = 0

    def _cut_back(self) -> None:
        """Drop a partly written record, so that the next append does not follow garbage."""
        try:
            os.ftruncate(self._fd, self._end)
        except OSError:
            log.exception("could not cut the ingest log back to %d bytes", self._end)


def _number(path: Path, segment: Path) -> int:
    return 0 if segment == path else int(segment.name.rsplit(".", 1)[1])


def _segments(path: Path) -> list[Path]:
    """The log's segment files, oldest first."""
    found = [path] if path.exists() else []
    found += [
        candidate
        for candidate in path.parent.glob(f"{path.name}.*")
        if candidate.name.rsplit(".", 1)[1].isdigit()
    ]
    return sorted(found, key=lambda segment: _number(path, segment))


def _read_segment(segment: Path, truncate: bool) -> tuple[list[StagedGroup], int]:
    fd = os.open(segment, os.O_RDWR if truncate else os.O_RDONLY)
    try:
        return _read_open_segment(fd, segment, truncate)
    finally:
        os.close(fd)


def _read_open_segment(
    fd: int, segment: Path, truncate: bool = True
) -> tuple[list[StagedGroup], int]:
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else b""
    groups: list[StagedGroup] = []
    end = 0
    for group, record_end in decode(data):
        groups.append(group)
        end = record_end
    if end < size:
        log.warning(
            "ingest log %s: dropping %d bytes after the last whole group (a write cut short,"
            " never acknowledged)",
            segment,
            size - end,
        )
        if truncate:
            os.ftruncate(fd, end)
            os.fdatasync(fd)
    return groups, end


def encode(group: StagedGroup) -> bytes:
    parts = [_GROUP.pack(group.group_id, group.now_ms, len(group.batches))]
    for batch in group.batches:
        device, spool = batch.device_id.encode(), batch.spool_id.encode()
        parts += [_BATCH.pack(len(device), len(spool), len(batch.request)), device, spool]
        parts.append(batch.request)
    body = b"".join(parts)
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def decode(data: bytes) -> Iterator[tuple[StagedGroup, int]]:
    """Each whole, intact record and the offset just past it; stops at the first that is not."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        body = data[start : start + length]
        if len(body) < length or zlib.crc32(body) != crc:
            return
        group = _parse(body)
        if group is None:
            return
        offset = start + length
        yield group, offset


def _parse(body: bytes) -> StagedGroup | None:
    if len(body) < _GROUP.size:
        return None
    group_id, now_ms, count = _GROUP.unpack_from(body, 0)
    at = _GROUP.size
    batches = []
    for _ in range(count):
        if at + _BATCH.size > len(body):
            return None
        sizes = _BATCH.unpack_from(body, at)
        at += _BATCH.size
        fields = []
        for size in sizes:
            fields.append(body[at : at + size])
            at += size
        device, spool, request = fields
        batches.append(StagedBatch(device.decode(), spool.decode(), request))
    return StagedGroup(group_id, now_ms, tuple(batches)) if at == len(body) else None


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _sync_directory(directory: Path) -> None:
    """A new file's name is durable only once its directory is synced."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
