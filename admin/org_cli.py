"""`commaudit import` (organisation data from CSV exports) and `commaudit org show|set` (each
organisation's training interval, work hours and personal-use report switch).

An import is all or nothing per file; every bad row is printed as `file:line: column: reason`
and the command exits 2, so a script can tell a bad export from a collector that is down (1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from admin.connection import Connection, load_connection
from admin.rpc import CollectorOption, ConnectionOption, PlaintextOption, ask, collector_errors
from collector.org_csv import MAX_FILE_BYTES, kind_for_file_name
from collector.org_import import KINDS
from commaudit.v1 import admin_service_pb2

org_app = typer.Typer(help="The two organisations' policy settings.", no_args_is_help=True)
IMPORT_TIMEOUT_S = 300.0


def import_files(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="CSV exports, imported in the order given (workgroups, employees,"
            " device_assignments, training).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    connection_file: ConnectionOption,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help=f"{' | '.join(KINDS)}; default: from each file's name."),
    ] = None,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Import organisation data (see samples/org/README.md for the columns)."""
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"{kind!r} is not one of {', '.join(KINDS)}", param_hint="--kind")
    kinds = {}
    for path in files:
        found = kind or kind_for_file_name(path.name)
        if found is None:
            raise typer.BadParameter(
                f"{path.name}: cannot tell the kind from the name; use --kind"
                f" ({' | '.join(KINDS)})",
                param_hint="FILES...",
            )
        kinds[path] = found
        if path.stat().st_size > MAX_FILE_BYTES:
            raise typer.BadParameter(
                f"{path.name}: larger than {MAX_FILE_BYTES:,} bytes; split it by organisation",
                param_hint="FILES...",
            )
    failed = False
    err = Console(stderr=True)
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        progress = Progress(
            TextColumn("importing {task.description}"), BarColumn(), MofNCompleteColumn(),
            console=err, transient=True,
        )  # fmt: skip
        with progress:
            task = progress.add_task("", total=len(files))
            for path in files:
                progress.update(task, description=path.name)
                request = admin_service_pb2.ImportOrgDataRequest(
                    kind=kinds[path], file_name=path.name, content=path.read_bytes()
                )
                answer = _send(connection, request)
                progress.advance(task)
                if not answer.applied:
                    failed = True
                    for error in answer.errors:
                        column = f" {error.column}:" if error.column else ""
                        progress.console.print(
                            f"{error.file}:{error.line}:{column} {error.reason}",
                            markup=False, highlight=False,
                        )  # fmt: skip
                    progress.console.print(
                        f"{path.name}: not imported ({len(answer.errors)} bad rows;"
                        " nothing of this file was kept)",
                        markup=False, highlight=False,
                    )  # fmt: skip
                elif answer.unchanged:
                    typer.echo(f"{path.name}: {kinds[path]}, imported before; nothing changed")
                else:
                    typer.echo(
                        f"{path.name}: {kinds[path]}, {answer.rows_read} rows read,"
                        f" {answer.rows_changed} changed"
                    )
    if failed:
        raise typer.Exit(2)


def _send(
    connection: Connection, request: admin_service_pb2.ImportOrgDataRequest
) -> admin_service_pb2.ImportOrgDataResponse:
    answer: admin_service_pb2.ImportOrgDataResponse = ask(
        connection, "ImportOrgData", request, IMPORT_TIMEOUT_S
    )
    return answer


def _show(answer: admin_service_pb2.ListOrgPoliciesResponse) -> None:
    for org in answer.orgs:
        typer.echo(
            f"{org.org}: {org.organisation}, policy {org.policy} ({org.director_title}s);"
            f" training every {org.training_interval_months} months;"
            f" work hours {org.work_hours} ({org.time_zone});"
            f" personal-use report {'on' if org.personal_use_report else 'off'}"
        )


@org_app.command("show")
def show(
    connection_file: ConnectionOption,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Each organisation's policy settings."""
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        answer = ask(connection, "ListOrgPolicies", admin_service_pb2.ListOrgPoliciesRequest())
    _show(answer)


@org_app.command("set")
def set_policy(
    org: Annotated[str, typer.Argument(help="city or library.")],
    connection_file: ConnectionOption,
    training_months: Annotated[
        int | None,
        typer.Option("--training-months", help="Required training interval (§4.3), months."),
    ] = None,
    work_hours: Annotated[
        str | None,
        typer.Option("--work-hours", help="Local work hours, e.g. 'Mon-Fri 08:00-17:00'."),
    ] = None,
    personal_use_report: Annotated[
        str | None,
        typer.Option("--personal-use-report", help="on | off (§4.1; off by default)."),
    ] = None,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Change an organisation's settings (each change is in the audit log)."""
    if org not in ("city", "library"):
        raise typer.BadParameter(f"{org!r} is not city or library", param_hint="ORG")
    if personal_use_report not in (None, "on", "off"):
        raise typer.BadParameter(
            f"{personal_use_report!r} is not on or off", param_hint="--personal-use-report"
        )
    request = admin_service_pb2.SetOrgPolicyRequest(org=org)
    if training_months is not None:
        request.training_interval_months = training_months
    if work_hours is not None:
        request.work_hours = work_hours
    if personal_use_report is not None:
        request.personal_use_report = personal_use_report == "on"
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        answer = ask(connection, "SetOrgPolicy", request)
    _show(answer)
