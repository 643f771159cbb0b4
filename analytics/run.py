"""Runs a report on a DuckDB connection, after deriving the sessions every report builds on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from analytics.report_files import ReportFile, load_report, sessions_sql


@dataclass(frozen=True)
class ReportResult:
    report: ReportFile
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def run_report(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, object]
) -> ReportResult:
    """Run report `name` with exactly its declared parameters (None is SQL NULL)."""
    report = load_report(name)
    missing = [p for p in report.params if p not in params]
    unknown = [p for p in params if p not in report.params]
    if missing or unknown:
        raise ValueError(
            f"report {name}: missing parameters {missing}, unknown parameters {unknown}"
            f" (it takes {', '.join(report.params) or 'none'})"
        )
    # A temp view: the connection may be read-only, and the temp catalog is always writable.
    con.execute(f"CREATE OR REPLACE TEMP VIEW sessions AS {sessions_sql()}")
    cursor = con.execute(report.sql, dict(params))
    columns = tuple(column[0] for column in cursor.description or ())
    return ReportResult(report, columns, cursor.fetchall())
