"""Runs a report on a DuckDB connection whose tables are the collector's (a read-only file, or
the published lake `USE`d as the default database).

Every report reads sessions through `session_people` (sql/session_people.sql), a temp view made
before each run: temp objects work on a read-only connection and cost nothing until read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from analytics.report_files import ReportFile, load_report, session_people_query, sessions_query


@dataclass(frozen=True)
class ReportResult:
    """A report's rows as DuckDB returned them, with the report that made them (for its clause)."""

    report: ReportFile
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def create_sessions_view(con: duckdb.DuckDBPyConnection) -> None:
    """`sessions` derived from raw events, as a temp view that shadows the collector's table:
    for a database holding events only (tests, or checking the table against its definition)."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW sessions AS {sessions_query().sql}")


def create_session_people_view(con: duckdb.DuckDBPyConnection) -> None:
    """`session_people`: each session with the organisation, employee and workgroup that
    answer for it. Made before every report so it always reads the current `sessions`."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW session_people AS {session_people_query().sql}")


def run_report(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, object]
) -> ReportResult:
    """Run report `name`; `params` may hold more than it declares, and it is bound only those
    (None binds SQL NULL)."""
    report = load_report(name)
    cursor = _execute(con, report, params)
    columns = tuple(column[0] for column in cursor.description or ())
    return ReportResult(report, columns, cursor.fetchall())


def run_report_arrow(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, object]
) -> tuple[ReportFile, pa.Table]:
    """As run_report, the rows as an Arrow table: its types (decimals, timestamps) survive
    serialisation to another process."""
    report = load_report(name)
    return report, run_query_arrow(con, report, params)


def run_query_arrow(
    con: duckdb.DuckDBPyConnection, query: ReportFile, params: Mapping[str, object]
) -> pa.Table:
    """A query file that is not one of the shipped reports (the summaries' own), as Arrow."""
    return _execute(con, query, params).to_arrow_table()


def _execute(
    con: duckdb.DuckDBPyConnection, report: ReportFile, params: Mapping[str, object]
) -> duckdb.DuckDBPyConnection:
    bound = _declared_params(report, params)
    create_session_people_view(con)
    return con.execute(report.sql, bound)


def _declared_params(report: ReportFile, params: Mapping[str, object]) -> dict[str, object]:
    """The parameters `report` declares, taken from `params`; a missing one is named, since
    DuckDB's own message does not say which report wanted it."""
    missing = [p for p in report.params if p not in params]
    if missing:
        takes = ", ".join(f"${p}" for p in report.params)
        raise ValueError(
            f"report {report.name}: missing parameter ${missing[0]} (it takes {takes})"
        )
    return {p: _bindable(params[p]) for p in report.params}


def _bindable(value: object) -> object:
    """Timestamps in the database are naive UTC. DuckDB binds an aware datetime as TIMESTAMPTZ,
    and the reports' `::TIMESTAMP` cast would then shift it by the session's time zone."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
