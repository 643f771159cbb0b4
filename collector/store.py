"""The collector's DuckDB file and its one read-write connection (DESIGN.md §5, STYLE.md 6).

DuckDB lets one process open a file read-write, and a connection is not for concurrent use, so
the Store owns the connection and every write goes through `commit`, called by the ingest writer
thread alone. A commit is one transaction: the events, the devices' acknowledged seqs and their
gaps land together or not at all, which is what lets the collector ack only what is stored.
Reading while it runs is fine: `cursor()` gives a connection to the same database that sees each
committed state.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa

from collector.ledger import DeviceState, DeviceUpdate, Gap, Plan, SeqLedger
from collector.schema import apply_migrations

log = logging.getLogger(__name__)

T = TypeVar("T")

# The Arrow table is cast on the way in: UUIDs travel as text (encode.py).
_INSERT_EVENTS = """
INSERT INTO events BY NAME
SELECT * REPLACE (
    event_id::UUID AS event_id,
    session_id::UUID AS session_id,
    running_sessions::UUID[] AS running_sessions
) FROM batch
"""
_UPSERT_ACKED = """
INSERT INTO device_seq BY NAME SELECT device_id, acked_seq, spool_id FROM acked
ON CONFLICT (device_id) DO UPDATE SET acked_seq = excluded.acked_seq, spool_id = excluded.spool_id
"""
_DELETE_GAPS = """
DELETE FROM seq_gaps AS g USING removed AS r
WHERE g.device_id = r.device_id AND g.first_seq = r.first_seq AND g.last_seq = r.last_seq
"""
_INSERT_GAPS = "INSERT INTO seq_gaps BY NAME SELECT * FROM added"

_GAP_SCHEMA = pa.schema(
    [
        ("device_id", pa.string()),
        ("first_seq", pa.uint64()),
        ("last_seq", pa.uint64()),
        ("detected_at", pa.timestamp("ms")),
    ]
)


class Store:
    """Opens (and creates) the database file at the newest schema; the only writer."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # the connection is shared with cursor() callers
        self._con: duckdb.DuckDBPyConnection | None = duckdb.connect(str(self.path))
        try:
            self.schema_version = apply_migrations(self._con)
        except BaseException:
            self._con.close()
            raise
        log.info("opened %s at schema version %d", self.path, self.schema_version)

    def load_ledger(self) -> SeqLedger:
        """Every device's acknowledged seq and open gaps, as last committed."""
        with self._lock:
            con = self._connection()
            acked = con.execute(
                "SELECT device_id, acked_seq, coalesce(spool_id, '') FROM device_seq"
            ).fetchall()
            gap_rows = con.execute(
                "SELECT device_id, first_seq, last_seq, epoch_ms(detected_at) FROM seq_gaps"
                " ORDER BY device_id, first_seq"
            ).fetchall()
        gaps: dict[str, list[Gap]] = {}
        for device_id, first, last, detected_at_ms in gap_rows:
            gaps.setdefault(device_id, []).append(Gap(first, last, detected_at_ms))
        return SeqLedger(
            {
                device_id: DeviceState(seq, tuple(gaps.get(device_id, ())), spool_id)
                for device_id, seq, spool_id in acked
            }
        )

    def commit(self, events: pa.Table, plan: Plan, through_group: int | None = None) -> None:
        """Store the events and the plan's device states in one transaction, or nothing; with
        `through_group`, the ingest log's mark too (load_staged)."""
        with self._lock:
            con = self._connection()
            con.execute("BEGIN TRANSACTION")
            try:
                self._insert_events(con, events)
                self._write_ledger(con, [u for u in plan.devices.values() if u.changed])
                if through_group is not None:
                    con.execute("UPDATE ingest_log_applied SET applied_group = ?", [through_group])
                con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise

    def applied_group(self) -> int:
        """The last ingest log group whose events are here (ingest_log.py)."""
        with self._lock:
            con = self._connection()
            row = con.execute("SELECT max(applied_group) FROM ingest_log_applied").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def load_staged(self, events: pa.Table, plan: Plan, through_group: int) -> None:
        """commit, plus the ingest log's mark in the same transaction: a restart replays
        exactly the groups after `through_group`."""
        self.commit(events, plan, through_group)

    def transaction(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `work` in one transaction on the writer connection (enrollment, revocation,
        audit rows): it waits for a group commit under way, and commits or rolls back whole."""
        with self._lock:
            con = self._connection()
            con.execute("BEGIN TRANSACTION")
            try:
                result = work(con)
                con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise
            return result

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection for reading the same database; it closes when the Store does."""
        with self._lock:
            return self._connection().cursor()

    def close(self) -> None:
        """Checkpoint (the file is complete without its WAL) and close; idempotent."""
        with self._lock:
            if self._con is None:
                return
            con, self._con = self._con, None
            try:
                con.execute("CHECKPOINT")
            finally:
                con.close()
        log.info("closed %s", self.path)

    def _insert_events(self, con: duckdb.DuckDBPyConnection, events: pa.Table) -> None:
        if events.num_rows:
            with_table(con, "batch", events, _INSERT_EVENTS)

    def _write_ledger(self, con: duckdb.DuckDBPyConnection, updates: list[DeviceUpdate]) -> None:
        if not updates:
            return
        acked = pa.table(
            {
                "device_id": [u.device_id for u in updates],
                "acked_seq": pa.array([u.after.acked for u in updates], pa.uint64()),
                "spool_id": [u.after.spool_id or None for u in updates],
            }
        )
        with_table(con, "acked", acked, _UPSERT_ACKED)
        removed = _gap_table((u.device_id, gap) for u in updates for gap in u.removed_gaps)
        if removed.num_rows:
            with_table(con, "removed", removed, _DELETE_GAPS)
        added = _gap_table((u.device_id, gap) for u in updates for gap in u.added_gaps)
        if added.num_rows:
            with_table(con, "added", added, _INSERT_GAPS)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise duckdb.ConnectionException(f"store {self.path} is closed")
        return self._con


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """The Arrow table visible to SQL under `name` (DuckDB reads it in place) for the block."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


def with_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, sql: str) -> None:
    """Run `sql` with the Arrow table visible under `name`."""
    with registered(con, name, table):
        con.execute(sql)


def _gap_table(gaps: Iterable[tuple[str, Gap]]) -> pa.Table:
    rows = [
        {
            "device_id": device_id,
            "first_seq": gap.first,
            "last_seq": gap.last,
            "detected_at": gap.detected_at_ms,
        }
        for device_id, gap in gaps
    ]
    return pa.Table.from_pylist(rows, schema=_GAP_SCHEMA)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back after a failure; a connection that broke may have no transaction left."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error as exc:
        log.warning("rollback failed after a failed commit: %s", exc)
