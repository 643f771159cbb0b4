"""`commaudit`: the analysts', directors' and admins' CLI. Thin commands over the collector's
AdminService; the collector checks each caller's role, scopes directors to their workgroups and
writes every call to its audit log (§4.1: reviewed by appropriate staff only).

Groups: `report` (policy reports over the published lake), `lake` (how to attach it yourself),
`import` and `org` (organisation data), `restriction` (§4.4), `enroll-token`, `device`,
`operator`, `audit`, `catalog` and `agent-config` (what the collector serves agents). Every
input error ends with one precise line on stderr and exit status 2, the status a shell script
can tell from a report that ran and found nothing; a refusal by the collector exits 1.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.parquet as pq
import typer

from admin.catalog_cli import agent_config_app, catalog_app
from admin.commands import device_app, enroll_token_app
from admin.connection import load_connection
from admin.operators_cli import audit_app, operator_app
from admin.org_cli import import_files, org_app
from admin.restrictions_cli import restriction_app
from admin.rpc import CollectorOption, ConnectionOption, PlaintextOption, ask, collector_errors
from analytics.output import FORMATS, render
from analytics.report_files import ReportFile, list_reports
from analytics.run import ReportResult
from analytics.summaries.cli import summaries_app
from analytics.summaries.model import Week
from collector.lake import attach_sql
from collector.report_runner import from_ipc
from collector.state_dir import StateDir
from commaudit.v1 import admin_service_pb2

app = typer.Typer(
    help="commaudit: audit how communication apps are used, clause by clause.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
report_app = typer.Typer(help="Run the policy reports.", no_args_is_help=True)
lake_app = typer.Typer(help="The published lake analysts attach.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(lake_app, name="lake")
app.command("import")(import_files)
app.add_typer(org_app, name="org")
app.add_typer(restriction_app, name="restriction")
app.add_typer(enroll_token_app, name="enroll-token")
app.add_typer(device_app, name="device")
app.add_typer(operator_app, name="operator")
app.add_typer(audit_app, name="audit")
app.add_typer(summaries_app, name="summaries")
app.add_typer(catalog_app, name="catalog")
app.add_typer(agent_config_app, name="agent-config")

DEFAULT_DAYS = 7
REPORT_TIMEOUT_S = 300.0
ALL_FORMATS = (*FORMATS, "parquet")


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
    return (
        datetime.combine(first, midnight, UTC),
        datetime.combine(last + timedelta(days=1), midnight, UTC),
    )


def week_range(week: str) -> tuple[datetime, datetime]:
    """'2026-W47' (or 'last') -> [Monday 00:00 UTC, the next Monday 00:00 UTC) of that ISO week."""
    try:
        monday = Week.parse(week, datetime.now(UTC).date()).monday
    except ValueError as exc:
        raise UsageError(f"--week: {exc}") from None
    start = datetime.combine(monday, datetime.min.time(), UTC)
    return start, start + timedelta(days=7)


def report_range(start: str | None, end: str | None, week: str | None) -> tuple[datetime, datetime]:
    if week is not None:
        if start is not None or end is not None:
            raise UsageError("--week cannot be combined with --from/--to")
        return week_range(week)
    return day_range(start, end)


def write_result(table: pa.Table, result: ReportResult, fmt: str, output: Path | None) -> None:
    """Text formats to stdout or --output; Parquet (binary) only to --output."""
    if fmt == "parquet":
        if output is None:
            raise UsageError("--format parquet writes a file: give --output FILE.parquet")
        pq.write_table(table, output)
        typer.echo(f"{result.report.name}: {table.num_rows} rows written to {output}", err=True)
        return
    # As wide as the terminal allows (at least 240 columns: session_log has 15), so ids are not
    # cut short.
    text = render(result, fmt, width=max(240, shutil.get_terminal_size().columns))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"{result.report.name}: {table.num_rows} rows written to {output}", err=True)


def reports_text() -> str:
    """What `commaudit report list` prints: each report, what it answers, the clause it serves."""
    reports = list_reports()
    width = max((len(report.name) for report in reports), default=0) + 2
    return "".join(
        f"{report.name:<{width}}{report.description}\n{'':<{width}}{report.clause}\n"
        for report in reports
    )


FromOption = Annotated[
    str | None, typer.Option("--from", help="First day, YYYY-MM-DD, from 00:00 UTC.")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Last day, YYYY-MM-DD, included whole (UTC).")
]
WeekOption = Annotated[
    str | None, typer.Option("--week", help="An ISO week, e.g. 2026-W47 (Monday-Sunday, UTC).")
]
OrgOption = Annotated[str, typer.Option("--org", help="city or library (default: both).")]
WorkgroupOption = Annotated[str, typer.Option("--workgroup", help="One workgroup id.")]
DeviceOption = Annotated[str, typer.Option("--device", help="One device id.")]
SilentOption = Annotated[
    int, typer.Option("--silent-hours", min=1, max=24 * 90, help="coverage: silent after N hours.")
]
FormatOption = Annotated[str, typer.Option("--format", help=" | ".join(ALL_FORMATS))]
OutputOption = Annotated[
    Path | None, typer.Option("--output", help="Write to this file (required for parquet).")
]


def run_report_command(name: str) -> Callable[..., None]:
    """The command for one report: every report takes the same options; each uses those its
    SQL declares, and the collector checks the rest."""

    def command(
        connection_file: ConnectionOption,
        start: FromOption = None,
        end: ToOption = None,
        week: WeekOption = None,
        org: OrgOption = "",
        workgroup: WorkgroupOption = "",
        device: DeviceOption = "",
        silent_hours: SilentOption = 24,
        fmt: FormatOption = "table",
        output: OutputOption = None,
        collector: CollectorOption = None,
        plaintext: PlaintextOption = False,
    ) -> None:
        with usage_errors():
            if fmt not in ALL_FORMATS:
                raise UsageError(f"--format: {fmt!r} is not one of {', '.join(ALL_FORMATS)}")
            if org and org not in ("city", "library"):
                raise UsageError(f"--org: {org!r} is not city or library")
            begin, finish = report_range(start, end, week)
            request = admin_service_pb2.RunReportRequest(
                name=name, from_ms=int(begin.timestamp() * 1000),
                to_ms=int(finish.timestamp() * 1000), org=org, workgroup_id=workgroup,
                device_id=device, silent_hours=silent_hours, format=fmt,
            )  # fmt: skip
            with collector_errors():
                connection = load_connection(
                    connection_file, collector=collector, plaintext=plaintext
                )
                answer = ask(connection, "RunReport", request, REPORT_TIMEOUT_S)
            table = from_ipc(answer.arrow_ipc)
            report = ReportFile(answer.name, answer.description, answer.clause, (), "")
            result = ReportResult(report, tuple(table.column_names), _rows(table))
            write_result(table, result, fmt, output)

    command.__doc__ = next(r.description for r in list_reports() if r.name == name).capitalize()
    return command


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    columns = [column.to_pylist() for column in table.columns]
    return list(zip(*columns, strict=True)) if columns else []


for _report in list_reports():
    report_app.command(_report.name.replace("_", "-"))(run_report_command(_report.name))


@report_app.command("list")
def list_command() -> None:
    """Every report, what it answers, and the policy clause it serves."""
    typer.echo(reports_text(), nl=False)


@lake_app.command("info")
def lake_info(
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="The collector's state directory.")
    ],
) -> None:
    """How to attach the published lake read-only from your own DuckDB session."""
    lake = StateDir(state_dir).lake
    with usage_errors():
        if not lake.is_dir():
            raise UsageError(
                f"--state-dir: {state_dir} has no lake yet (the collector publishes one"
                " at its --publish-interval-s once it runs)"
            )
    typer.echo(attach_sql(lake))


def main() -> None:
    """Entry point of the `commaudit` console script."""
    app(prog_name="commaudit")
