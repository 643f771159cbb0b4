"""`commaudit`: the analysts' and admins' CLI. Thin commands over functions tests call directly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from analytics.output import FORMATS, render
from analytics.report_files import list_reports
from analytics.run import ReportResult, run_report

app = typer.Typer(
    help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)
report_app = typer.Typer(help="Run the policy reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


class UsageError(Exception):
    """Bad input from the command line or its environment: a precise message, exit status 2."""


def parse_day(text: str | None, option: str, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


def day_range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """[--from 00:00 UTC, the day after --to 00:00 UTC): both days included, as people mean it."""
    today = datetime.now(UTC).date()
    first = parse_day(start, "--from", today - timedelta(days=6))
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
        return duckdb.connect(str(db), read_only=True)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise UsageError(
                f"--db: {db} is in use by a running collector; stop it or read the published lake"
            ) from None
        raise UsageError(f"--db: {db}: {error}") from None


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


DbOption = Annotated[Path, typer.Option("--db", help="the collector's DuckDB file")]
FromOption = Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD (UTC)")]
ToOption = Annotated[str | None, typer.Option("--to", help="last day, included (UTC)")]
DeviceOption = Annotated[str | None, typer.Option(help="one device id only")]
FormatOption = Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))]


def print_report(name: str, db: Path, start: str | None, end: str | None, device: str | None,
                 fmt: str) -> None:  # fmt: skip
    if fmt not in FORMATS:
        raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    typer.echo(render(device_report(name, db, start, end, device), fmt).rstrip("\n"))


@report_app.command("usage")
def usage_command(
    db: DbOption, start: FromOption = None, end: ToOption = None, device: DeviceOption = None,
    fmt: FormatOption = "table",
) -> None:  # fmt: skip
    """Hours of use by communication category and app (default: the last 7 days)."""
    print_report("usage", db, start, end, device, fmt)


@report_app.command("session-log")
def session_log_command(
    db: DbOption, start: FromOption = None, end: ToOption = None, device: DeviceOption = None,
    fmt: FormatOption = "table",
) -> None:  # fmt: skip
    """Every app session in the range, one row each (default: the last 7 days)."""
    print_report("session_log", db, start, end, device, fmt)


@report_app.command("list")
def list_command() -> None:
    """Every report, what it answers, and the policy clause it serves."""
    for report in list_reports():
        typer.echo(f"{report.name:<12} {report.description}\n{'':<12} {report.clause}")


def main() -> None:
    try:
        app(prog_name="commaudit")
    except UsageError as error:
        typer.echo(f"commaudit: {error}", err=True)
        raise SystemExit(2) from None
