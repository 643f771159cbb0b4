"""The on-disk queue every event enters before it is sent and leaves only once acknowledged.

SQLite in WAL mode, one row per event (seq, serialized Event). The seq counter lives in the same
database and is advanced in the same transaction as the insert, so a seq is never handed out
twice, even across crashes. Format version 1; a newer file is refused rather than misread.

Drop rules (DESIGN.md §3, "never lose an event silently"):
- overflow: past `max_bytes` of stored events the oldest are deleted, because the newest say most
  about now,
  and an `events_dropped` lifecycle event records the seq range and the count; when an earlier
  drop notice is among the deleted, the new range also covers the range it recorded, so no
  record of a loss is ever lost (the range is then an envelope: any seq in it the collector
  does not have was dropped here; `count` stays exact);
- rejection: an event the collector refuses as invalid is moved to `rejected` (kept on the device
  for inspection) and recorded the same way, so one bad event cannot block the queue forever.

Acknowledged events leave the outbox, but a summary of the last SENT_KEPT of them (kind, app,
category, time, seq: agent.event_summary) stays in `sent`, written in the ack's own transaction,
for `commaudit-agent status` to show the device's user what was sent. The table arrived after
format 1 was fixed; it is created when missing, and an agent that does not know it ignores it,
so the format stays 1.

The file holds what the device's users did, and its directory is open to them by name (they read
status.json beside it): it is created owner-only, and a spool found readable by others is made
owner-only again.

A reset spool (deleted, or restored from an old copy) hands out seqs the collector already has.
Each spool file has its own random `spool_id`, sent with every Report, so the collector tells a
reset spool from a retry and answers with the seq to renumber after (`renumber_after`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Literal

from agent.event_summary import EventSummary, summarize
from commaudit.v1 import events_pb2

FORMAT_VERSION = 1
SENT_KEPT = 20
"""Summaries of acknowledged events kept for `commaudit-agent status`."""
OWNER_ONLY = 0o600
NOTICE_RESERVE_BYTES = 1024
"""Kept free under the bound for the drop notice that records an overflow."""
MIN_MAX_BYTES = 4 * NOTICE_RESERVE_BYTES


@dataclass(frozen=True)
class Loss:
    """Events that left the spool unsent: the seq range the collector will never receive."""

    kind: Literal["dropped", "rejected", "reset"]
    first_seq: int
    last_seq: int
    count: int
    reason: str


# Builds the lifecycle event that records a loss (agent.events knows the wire format).
LossNotice = Callable[[Loss], events_pb2.Event]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS identity (spool_id TEXT NOT NULL);
-- loss_first: set on loss notices only, the first seq of the range the notice records.
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY, body BLOB NOT NULL, loss_first INTEGER, loss_count INTEGER
);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY, body BLOB NOT NULL, reason TEXT NOT NULL, rejected_at REAL NOT NULL
);
-- The last SENT_KEPT events acknowledged, oldest first by id (seqs restart after a reset).
CREATE TABLE IF NOT EXISTS sent (
    id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, app_id TEXT NOT NULL,
    category TEXT NOT NULL, occurred_at_ms INTEGER NOT NULL, detail TEXT NOT NULL
);
"""


class SpoolError(RuntimeError):
    """The spool file cannot be used as it is (newer format, not a spool)."""


class Spool:
    """Thread-safe: the scan loop appends while the sender reads and acknowledges."""

    def __init__(self, path: Path, max_bytes: int, loss_notice: LossNotice) -> None:
        if max_bytes < MIN_MAX_BYTES:
            raise ValueError(
                f"max_bytes must be at least {MIN_MAX_BYTES} (room for events and a drop notice)"
            )
        self.path = path
        self.max_bytes = max_bytes
        self._loss_notice = loss_notice
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        _make_owner_only(path)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL, not NORMAL: in WAL mode NORMAL survives a killed process but may lose the last
        # commits on power loss, and those may already have been sent and acknowledged; the seq
        # counter would then hand out those seqs again and the collector would discard the new
        # events as duplicates. A few fsyncs a minute is a cost a device does not notice.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._check_format()
        self.spool_id = self._identity()
        self._bytes = self._stored_bytes()

    def _stored_bytes(self) -> int:
        """Bytes of events in the outbox; kept in memory after this, so appends stay O(1)."""
        return int(
            self._db.execute("SELECT coalesce(sum(length(body)), 0) FROM outbox").fetchone()[0]
        )

    def _check_format(self) -> None:
        version = self._meta("format", default=FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise SpoolError(
                f"{self.path}: spool format {version}, this agent reads {FORMAT_VERSION}"
            )
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT_VERSION,))

    def _identity(self) -> str:
        """This spool file's id, made once when the file is created."""
        row = self._db.execute("SELECT spool_id FROM identity").fetchone()
        if row:
            return str(row[0])
        spool_id = str(uuid.uuid4())
        self._db.execute("INSERT INTO identity VALUES (?)", (spool_id,))
        return spool_id

    def _meta(self, key: str, default: int = 0) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else default

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def append(self, events: Iterable[events_pb2.Event]) -> list[int]:
        """Give each event the next seq and store them in one transaction; returns the seqs."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seqs = [self._insert(event) for event in events]
                self._enforce_bound()
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            return seqs

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK")
        self._bytes = self._stored_bytes()

    def _insert(self, event: events_pb2.Event, loss: Loss | None = None) -> int:
        seq = self._meta("last_seq") + 1
        event.seq = seq
        body = event.SerializeToString()
        self._db.execute(
            "INSERT INTO outbox VALUES (?, ?, ?, ?)",
            (seq, body, loss and loss.first_seq, loss and loss.count),
        )
        self._set_meta("last_seq", seq)
        self._bytes += len(body)
        return seq

    def _record_loss(self, loss: Loss) -> None:
        self._insert(self._loss_notice(loss), loss)

    def _enforce_bound(self) -> None:
        """Past the bound, delete the oldest events until the rest and a drop notice fit."""
        to_free = self._bytes - (self.max_bytes - NOTICE_RESERVE_BYTES)
        if to_free <= 0:
            return
        freed, last, deleted, notices, carried = 0, 0, 0, 0, 0
        first: int | None = None  # the lowest seq dropped, or recorded by a dropped notice
        rows = self._db.execute(
            "SELECT seq, length(body), loss_first, loss_count FROM outbox ORDER BY seq"
        )
        for seq, size, loss_first, loss_count in rows:
            start = loss_first or seq
            first = start if first is None else min(first, start)
            last, freed, deleted = seq, freed + size, deleted + 1
            if loss_first is not None:
                notices, carried = notices + 1, carried + (loss_count or 0)
            if freed >= to_free:
                break
        rows.close()
        if first is None:
            return
        self._db.execute("DELETE FROM outbox WHERE seq <= ?", (last,))
        self._bytes -= freed
        self._set_meta("dropped", self._meta("dropped") + deleted - notices)
        reason = f"spool full ({self.max_bytes} bytes)"
        self._record_loss(Loss("dropped", first, last, deleted - notices + carried, reason))

    def renumber_after(self, floor_seq: int, reason: str) -> None:
        """Give every unsent event a new seq above `floor_seq`, oldest first, and record it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute("SELECT seq, body FROM outbox ORDER BY seq").fetchall()
                self._db.execute("DELETE FROM outbox")
                self._bytes = 0
                self._set_meta("last_seq", floor_seq)
                for _, body in rows:
                    self._insert(events_pb2.Event.FromString(body))
                first, last = floor_seq + 1, floor_seq + len(rows)
                self._record_loss(Loss("reset", first, last, len(rows), reason))
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def pending(self, limit: int) -> list[events_pb2.Event]:
        """The oldest unacknowledged events, ascending by seq."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [events_pb2.Event.FromString(body) for (body,) in rows]

    def ack(self, acked_seq: int) -> int:
        """Forget every event with seq <= acked_seq (the collector stored it); returns how many.
        The newest of them are summarised in `sent` in the same transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (size,) = self._db.execute(
                    "SELECT coalesce(sum(length(body)), 0) FROM outbox WHERE seq <= ?",
                    (acked_seq,),
                ).fetchone()
                self._remember_sent(acked_seq)
                deleted = self._db.execute(
                    "DELETE FROM outbox WHERE seq <= ?", (acked_seq,)
                ).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            self._bytes -= int(size)
            return deleted

    def _remember_sent(self, acked_seq: int) -> None:
        """Summarise the newest acknowledged events into `sent` and keep only SENT_KEPT rows.
        At most SENT_KEPT bodies are parsed, however large the ack."""
        bodies = self._db.execute(
            "SELECT body FROM outbox WHERE seq <= ? ORDER BY seq DESC LIMIT ?",
            (acked_seq, SENT_KEPT),
        ).fetchall()
        for (body,) in reversed(bodies):
            summary = summarize(events_pb2.Event.FromString(body))
            self._db.execute(
                "INSERT INTO sent (seq, kind, app_id, category, occurred_at_ms, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                astuple(summary),
            )
        self._db.execute(
            "DELETE FROM sent WHERE id NOT IN (SELECT id FROM sent ORDER BY id DESC LIMIT ?)",
            (SENT_KEPT,),
        )

    def recently_sent(self, limit: int = SENT_KEPT) -> list[EventSummary]:
        """Summaries of the last events the collector acknowledged, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, app_id, category, occurred_at_ms, detail FROM sent"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [EventSummary(*row) for row in rows]

    def set_aside(self, seqs: Sequence[int], reason: str, now: float) -> None:
        """Move events the collector refused to `rejected` and record the loss (drop rule 2)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for seq in seqs:
                    self._db.execute(
                        "INSERT OR REPLACE INTO rejected SELECT seq, body, ?, ? FROM outbox"
                        " WHERE seq = ?",
                        (reason, now, seq),
                    )
                    row = self._db.execute(
                        "DELETE FROM outbox WHERE seq = ? RETURNING length(body)", (seq,)
                    ).fetchone()
                    self._bytes -= row[0] if row else 0
                self._record_loss(Loss("rejected", min(seqs), max(seqs), len(seqs), reason))
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def stored_bytes(self) -> int:
        """Bytes of unsent events, the quantity `max_bytes` bounds."""
        with self._lock:
            return self._bytes

    def dropped(self) -> int:
        """Events lost to overflow since this spool was created."""
        with self._lock:
            return self._meta("dropped")

    def last_seq(self) -> int:
        with self._lock:
            return self._meta("last_seq")

    def rejected_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM rejected").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _make_owner_only(path: Path) -> None:
    """Create the spool owner-only (SQLite gives its -wal and -shm files the same mode), or
    take away what others may do with one made by an earlier version or another umask."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY))
        return
    except FileExistsError:
        pass
    if os.name != "posix":  # other systems' permissions are not mode bits
        return
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(OWNER_ONLY)
        except FileNotFoundError:
            continue
