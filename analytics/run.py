"""Runs a report on a DuckDB connection, after deriving the sessions every report builds on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from analytics.report_files import ReportFile, load_report, sessions_query


@dataclass(frozen=True)
class ReportResult:
    """A report's rows as DuckDB returned them, with the report that made them (for its clause)."""

    report: ReportFile
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def create_sessions_view(con: duckdb.DuckDBPyConnection) -> None:
    """`sessions` as a temp view: the collector's file is opened read-only, and the temp catalog
    stays writable; a view (not a table) costs nothing until a report reads it."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW sessions AS {sessions_query().sql}")


def run_report(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, object]
) -> ReportResult:
    """Run report `name` with exactly its declared parameters (None binds SQL NULL)."""
    report = load_report(name)
    _check_params(report, params)
    create_sessions_view(con)
    cursor = con.execute(report.sql, {key: _bindable(value) for key, value in params.items()})
    columns = tuple(column[0] for column in cursor.description or ())
    return ReportResult(report, columns, cursor.fetchall())


def _check_params(report: ReportFile, params: Mapping[str, object]) -> None:
    """Name the offending parameter: DuckDB's own message does not say which report wanted it."""
    takes = ", ".join(f"${p}" for p in report.params) or "no parameters"
    missing = [p for p in report.params if p not in params]
    if missing:
        raise ValueError(
            f"report {report.name}: missing parameter ${missing[0]} (it takes {takes})"
        )
    unknown = [p for p in params if p not in report.params]
    if unknown:
        raise ValueError(
            f"report {report.name}: unknown parameter ${unknown[0]} (it takes {takes})"
        )


def _bindable(value: object) -> object:
    """Timestamps in the database are naive UTC. DuckDB binds an aware datetime as TIMESTAMPTZ,
    and the reports' `::TIMESTAMP` cast would then shift it by the session's time zone."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
