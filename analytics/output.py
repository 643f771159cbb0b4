"""Renders a report result for people (a table citing the clause) or for tools (CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from analytics.run import ReportResult

FORMATS = ("table", "csv", "json")


def render(result: ReportResult, fmt: str, width: int = 120) -> str:
    """The result as text in `fmt`."""
    if fmt == "csv":
        return _csv(result)
    if fmt == "json":
        return _json(result)
    if fmt == "table":
        return _table(result, width)
    raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _cell(value: Any) -> str:
    """For people: hours keep their two decimals (Decimal), times read as ISO-8601."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return (
            value.isoformat(sep=" ", timespec="seconds")
            if isinstance(value, datetime)
            else value.isoformat()
        )
    return str(value)


def _csv(result: ReportResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([[_plain(v) for v in row] for row in result.rows])
    return out.getvalue()


def _json(result: ReportResult) -> str:
    objects = [
        {c: _plain(v) for c, v in zip(result.columns, row, strict=True)} for row in result.rows
    ]
    return json.dumps(objects, indent=2)


def _table(result: ReportResult, width: int) -> str:
    report = result.report
    table = Table(title=f"{report.description}\n{report.clause}", title_justify="left")
    numeric = _numeric_columns(result)
    for column in result.columns:
        table.add_column(column, justify="right" if column in numeric else "left")
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    if not result.rows:
        table.caption = "no rows: nothing matched this range and filter"
    out = io.StringIO()
    Console(file=out, width=width).print(table)
    return out.getvalue()


def _numeric_columns(result: ReportResult) -> set[str]:
    numeric = set()
    for index, column in enumerate(result.columns):
        values = [row[index] for row in result.rows if row[index] is not None]
        if values and all(isinstance(v, int | float | Decimal) for v in values):
            numeric.add(column)
    return numeric
