"""Renders a report result for people (a table citing the clause) or for tools (CSV, JSON).

Why the clause is in the table's title: a printed or pasted report must still say which policy
clause it answers (City 4.01.06 / Library CS3), away from the command that made it.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from analytics.run import ReportResult

FORMATS = ("table", "csv", "json")


def render(result: ReportResult, fmt: str, width: int = 120) -> str:
    """The result as text in `fmt` (one of FORMATS)."""
    if fmt == "csv":
        return _csv(result)
    if fmt == "json":
        return _json(result)
    if fmt == "table":
        return _table(result, width)
    raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")


def _iso(value: date) -> str:
    """ISO-8601; stored timestamps are naive UTC, so say so with Z rather than leave it open."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.isoformat() + "Z"
    return value.isoformat()


def _csv_value(value: object) -> object:
    """Decimals keep their scale (hours as 1.50); timestamps ISO-8601."""
    if isinstance(value, date):
        return _iso(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    return _csv_value(value)


def _csv(result: ReportResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([_csv_value(value) for value in row] for row in result.rows)
    return out.getvalue()


def _json(result: ReportResult) -> str:
    objects = [
        {column: _json_value(value) for column, value in zip(result.columns, row, strict=True)}
        for row in result.rows
    ]
    return json.dumps(objects, indent=2, ensure_ascii=False) + "\n"


def _cell(value: object) -> str:
    """For people: hours keep their two decimals, times read as date and time (UTC)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _table(result: ReportResult, width: int) -> str:
    report = result.report
    # The title may be wider than the table's columns; it is never wrapped mid-clause.
    title = Text(f"{report.description}\n{report.clause}", no_wrap=True, overflow="ignore")
    table = Table(title=title, title_justify="left")
    numeric = _numeric_columns(result)
    for column in result.columns:
        table.add_column(column, justify="right" if column in numeric else "left")
    for row in result.rows:
        table.add_row(*(_cell(value) for value in row))
    if not result.rows:
        table.caption = "no rows: nothing matched this range and filter"
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue()


def _numeric_columns(result: ReportResult) -> set[str]:
    """Columns whose every value is a number: right-aligned, so hours line up by their point."""
    numeric = set()
    for index, column in enumerate(result.columns):
        values = [row[index] for row in result.rows if row[index] is not None]
        if values and all(_is_number(value) for value in values):
            numeric.add(column)
    return numeric


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
