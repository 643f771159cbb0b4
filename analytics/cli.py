"""`commaudit`: the analysts' and admins' CLI. Thin commands over functions tests call directly.

Groups: `report` (analytics, reading DuckDB) and `enroll-token`, `device` (admin.commands, calls
to the collector's AdminService); restrictions and imports join them later.
Every input error ends with one precise line on stderr and exit status 2, the status a shell
script can tell from a report that ran and found nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from admin.commands import device_app, enroll_token_app
from analytics.output import FORMATS, render
from analytics.report_files import list_reports
from analytics.run import ReportResult, run_report

app = typer.Typer(
    help="commaudit: audit how communication apps are used, clause by clause.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
report_app = typer.Typer(help="Run the policy reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(enroll_token_app, name="enroll-token")
app.add_typer(device_app, name="device")

# DuckDB's words when another process (the collector) holds the file (DESIGN.md §5, measured).
_LOCK_MESSAGES = ("Could not set lock on file", "Conflicting lock")
DEFAULT_DAYS = 7


class UsageError(Exception):
    """Bad input from the command line or its environment: a precise message, exit status 2."""


@contextmanager
def usage_errors() -> Iterator[None]:
    """Turn a UsageError into one line on stderr and exit 2, inside the command, so the
    installed script and typer's CliRunner behave the same."""
    try:
        yield
    except UsageError as error:
        typer.echo(f"commaudit: {error}", err=True)
        raise typer.Exit(2) from None


def parse_day(text: str | None, option: str, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


def day_range(
    start: str | None, end: str | None, today: date | None = None
) -> tuple[datetime, datetime]:
    """[--from 00:00 UTC, the day after --to 00:00 UTC): both days included, as people mean
    them; by default the last 7 days up to and including today (UTC)."""
    today = today or datetime.now(UTC).date()
    first = parse_day(start, "--from", today - timedelta(days=DEFAULT_DAYS - 1))
    last = parse_day(end, "--to", today)
    if first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    midnight = datetime.min.time()
    return datetime.combine(first, midnight), datetime.combine(last + timedelta(days=1), midnight)


def open_database(db: Path) -> duckdb.DuckDBPyConnection:
    """Read-only: reports never write to the collector's evidence."""
    if not db.is_file():
        raise UsageError(f"--db: {db} does not exist")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.IOException as error:
        if any(words in str(error) for words in _LOCK_MESSAGES):
            raise UsageError(
                f"--db: {db}: the database is in use by a running collector;"
                " stop it or read the published lake"
            ) from None
        raise UsageError(f"--db: {db}: {error}") from None
    has_events = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'events'"
    ).fetchone()
    if not has_events or not has_events[0]:
        con.close()
        raise UsageError(f"--db: {db} has no events table; is it a commaudit collector database?")
    return con


def device_report(
    name: str, db: Path, start: str | None, end: str | None, device: str | None
) -> ReportResult:
    """A report over a day range, optionally for one device."""
    begin, finish = day_range(start, end)
    con = open_database(db)
    try:
        return run_report(con, name, {"from": begin, "to": finish, "device": device})
    finally:
        con.close()


def report_text(
    name: str, db: Path, start: str | None, end: str | None, device: str | None, fmt: str
) -> str:
    """What `commaudit report <name>` prints."""
    if fmt not in FORMATS:
        raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    return render(device_report(name, db, start, end, device), fmt)


def reports_text() -> str:
    """What `commaudit report list` prints: each report, what it answers, the clause it serves."""
    reports = list_reports()
    width = max((len(report.name) for report in reports), default=0) + 2
    return "".join(
        f"{report.name:<{width}}{report.description}\n{'':<{width}}{report.clause}\n"
        for report in reports
    )


DbOption = Annotated[Path, typer.Option("--db", help="the collector's DuckDB file (read-only)")]
FromOption = Annotated[
    str | None, typer.Option("--from", help="first day, YYYY-MM-DD, from 00:00 UTC")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="last day, YYYY-MM-DD, included whole (UTC)")
]
DeviceOption = Annotated[str | None, typer.Option("--device", help="one device id only")]
FormatOption = Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))]


@report_app.command("usage")
def usage_command(
    db: DbOption,
    start: FromOption = None,
    end: ToOption = None,
    device: DeviceOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Hours of use by communication category and app (default: the last 7 days)."""
    with usage_errors():
        typer.echo(report_text("usage", db, start, end, device, fmt), nl=False)


@report_app.command("session-log")
def session_log_command(
    db: DbOption,
    start: FromOption = None,
    end: ToOption = None,
    device: DeviceOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Every app session in the range, one row each (default: the last 7 days)."""
    with usage_errors():
        typer.echo(report_text("session_log", db, start, end, device, fmt), nl=False)


@report_app.command("list")
def list_command() -> None:
    """Every report, what it answers, and the policy clause it serves."""
    typer.echo(reports_text(), nl=False)


def main() -> None:
    """Entry point of the `commaudit` console script."""
    app(prog_name="commaudit")
