"""Runs a report for an operator over the published lake, never over the live database.

Why the lake: the writer process owns the DuckDB file and must keep committing; a report reads
the DuckLake the collector publishes (DESIGN.md §5) from a fresh in-memory DuckDB, inside one
transaction, so the snapshot it names is the one every row came from. Reports run one at a time
with few threads: on a small collector host, ingestion comes first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from analytics.report_files import ReportFile
from analytics.run import run_report_arrow
from collector.lake import attach_lake, lake_exists

REPORT_THREADS = 2
_one_at_a_time = threading.Lock()
_attached: dict[Path, duckdb.DuckDBPyConnection] = {}
"""One read-only attachment per lake, kept: attaching costs ~0.17 s, a small report ~0.01 s,
and each transaction on it reads the newest snapshot anyway."""


class LakeNotPublished(RuntimeError):
    """No snapshot to read yet: the collector publishes a first one shortly after it starts."""


@dataclass(frozen=True)
class LakeReport:
    report: ReportFile
    table: pa.Table
    snapshot_id: int
    snapshot_at_ms: int


def run_lake_report(
    lake_dir: Path, name: str, params: Mapping[str, object], threads: int = REPORT_THREADS
) -> LakeReport:
    """Report `name` over the newest published snapshot."""
    with lake_snapshot(lake_dir, threads) as snapshot:
        report, table = run_report_arrow(snapshot.con, name, params)
    return LakeReport(report, table, snapshot.snapshot_id, snapshot.snapshot_at_ms)


@dataclass(frozen=True)
class Snapshot:
    con: duckdb.DuckDBPyConnection
    snapshot_id: int
    snapshot_at_ms: int


@contextmanager
def lake_snapshot(lake_dir: Path, threads: int = REPORT_THREADS) -> Iterator[Snapshot]:
    """A transaction on the newest snapshot: every query inside reads the same one, so several
    reports (a director's summary) agree with each other. One at a time (the module's lock)."""
    if not lake_exists(lake_dir):
        raise LakeNotPublished("nothing published yet; the collector publishes at its interval")
    with _one_at_a_time:
        con = _attached.get(lake_dir)
        if con is None:
            con = _attached[lake_dir] = _attach(lake_dir, threads)
        try:
            con.execute("BEGIN TRANSACTION")
            row = con.execute(
                "SELECT snapshot_id, epoch_ms(snapshot_time::TIMESTAMP) FROM lake.snapshots()"
                " ORDER BY snapshot_id DESC LIMIT 1"
            ).fetchone()
            snapshot_id, snapshot_at_ms = row if row else (0, 0)
            yield Snapshot(con, int(snapshot_id), int(snapshot_at_ms))
            con.execute("COMMIT")
        except BaseException:
            del _attached[lake_dir]  # whatever went wrong, the next run starts afresh
            con.close()
            raise


def _attach(lake_dir: Path, threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": threads})
    attach_lake(con, lake_dir, read_only=True)
    con.execute("USE lake")
    return con


def to_ipc(table: pa.Table) -> bytes:
    """One Arrow IPC stream: types (decimals, timestamps) survive the trip to the CLI."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    with pa.ipc.open_stream(data) as reader:
        return reader.read_all()
