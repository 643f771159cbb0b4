"""The figures of each director's weekly summary, read from the lake by the collector.

Why here and not in the sending command: a director's summary is a report run for them, so it
is scoped where the data leaves, by the same code that scopes a director operator's reports,
and audited. Each director's figures come from the shipped report SQL (usage, usage_by_day,
violations, training_overdue, coverage) with `$scope` set to the workgroups they direct at the
week's end, all inside one snapshot, so the numbers in the email are the numbers an analyst gets
from `commaudit report ... --week W --workgroup X`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from analytics.report_files import summary_query
from analytics.run import run_query_arrow, run_report_arrow
from analytics.summaries.model import TREND_WEEKS
from collector.report_runner import lake_snapshot, to_ipc
from commaudit.v1 import admin_service_pb2

SILENT_HOURS = 24
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Recipient:
    director_id: str
    full_name: str
    email: str | None
    org: str
    title: str
    workgroups: tuple[tuple[str, str], ...]
    """(workgroup_id, name), the director's whole scope."""

    @property
    def scope(self) -> list[str]:
        return [workgroup_id for workgroup_id, _ in self.workgroups]


@dataclass(frozen=True)
class DirectorTables:
    recipient: Recipient
    tables: dict[str, tuple[str, pa.Table]]
    """By name: (the clause its report cites, its rows)."""
    snapshot_id: int
    snapshot_at_ms: int

    @property
    def rows(self) -> int:
        return sum(table.num_rows for _, table in self.tables.values())


def recipients(lake_dir: Path, week_start: datetime, director_id: str | None) -> list[Recipient]:
    """The directors of the week (workgroups and roster at its end), one entry each."""
    with lake_snapshot(lake_dir) as snapshot:
        table = run_query_arrow(
            snapshot.con,
            summary_query("directors"),
            {"to": week_start + WEEK, "director": director_id},
        )
    found: dict[str, Recipient] = {}
    for row in table.to_pylist():
        known = found.get(row["director_id"])
        workgroup = (row["workgroup_id"], row["workgroup_name"])
        found[row["director_id"]] = Recipient(
            director_id=row["director_id"],
            full_name=row["full_name"],
            email=row["email"],
            org=row["org"],
            title=row["title"],
            workgroups=(*known.workgroups, workgroup) if known else (workgroup,),
        )
    return list(found.values())


def director_tables(lake_dir: Path, week_start: datetime, recipient: Recipient) -> DirectorTables:
    """One director's figures, from one snapshot."""
    week_end = week_start + WEEK
    scoped: dict[str, object] = {
        "from": week_start,
        "to": week_end,
        "org": None,
        "workgroup": None,
        "device": None,
        "scope": recipient.scope,
        "silent_hours": SILENT_HOURS,
    }
    runs = {
        "usage": ("usage", scoped),
        "usage_by_day": (
            "usage_by_day",
            {**scoped, "from": week_start - (TREND_WEEKS - 1) * WEEK},
        ),
        "violations": ("violations", scoped),
        "previous_violations": (
            "violations",
            {**scoped, "from": week_start - WEEK, "to": week_start},
        ),
        "training_overdue": ("training_overdue", scoped),
        "coverage": ("coverage", scoped),
    }
    tables: dict[str, tuple[str, pa.Table]] = {}
    with lake_snapshot(lake_dir) as snapshot:
        for name, (report_name, params) in runs.items():
            report, table = run_report_arrow(snapshot.con, report_name, params)
            tables[name] = (report.clause, table)
        tables["people"] = ("", _people(snapshot.con, tables["violations"][1]))
    return DirectorTables(recipient, tables, snapshot.snapshot_id, snapshot.snapshot_at_ms)


def weekly_tables(
    lake_dir: Path, week_start: datetime, director_id: str | None
) -> Iterator[DirectorTables]:
    """Each director's figures in turn: one snapshot per director keeps the lock short."""
    for recipient in recipients(lake_dir, week_start, director_id):
        yield director_tables(lake_dir, week_start, recipient)


def _people(con: duckdb.DuckDBPyConnection, violations: pa.Table) -> pa.Table:
    """Names of the employees in the director's violations, and no one else's."""
    ids = sorted({i for i in violations.column("employee_id").to_pylist() if i is not None})
    return run_query_arrow(con, summary_query("people"), {"ids": ids})


def summary_message(found: DirectorTables) -> admin_service_pb2.DirectorSummary:
    """One director's figures as WeeklySummaries streams them: each table as Arrow IPC."""
    recipient = found.recipient
    return admin_service_pb2.DirectorSummary(
        director_id=recipient.director_id,
        full_name=recipient.full_name,
        email=recipient.email or "",
        org=recipient.org,
        title=recipient.title,
        workgroups=[
            admin_service_pb2.SummaryWorkgroup(workgroup_id=workgroup_id, name=name)
            for workgroup_id, name in recipient.workgroups
        ],
        tables=[
            admin_service_pb2.SummaryTable(name=name, clause=clause, arrow_ipc=to_ipc(table))
            for name, (clause, table) in found.tables.items()
        ],
        snapshot_id=found.snapshot_id,
        snapshot_at_ms=found.snapshot_at_ms,
    )
