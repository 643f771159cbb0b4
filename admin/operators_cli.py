"""`commaudit operator add` and `commaudit audit list`: who may call the collector, and what
they did (§4.1: personal use is reviewed by appropriate staff only; the log shows who looked).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from admin.commands import parse_duration
from admin.connection import load_connection, save_connection
from admin.rpc import CollectorOption, ConnectionOption, PlaintextOption, ask, collector_errors
from commaudit.v1 import admin_service_pb2

operator_app = typer.Typer(help="Operators: admins, analysts and directors.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log of every call to the collector.", no_args_is_help=True)
ROLES = ("admin", "analyst", "director")


@operator_app.command("add")
def add_operator(
    operator_id: Annotated[str, typer.Argument(help="A name for the operator, e.g. jdoe.")],
    role: Annotated[str, typer.Option("--role", help="admin | analyst | director.")],
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the new operator's connection file.")
    ],
    connection_file: ConnectionOption,
    employee: Annotated[
        str, typer.Option("--employee", help="Directors: their employee id (scopes their view).")
    ] = "",
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """A credential for a new operator, written to an owner-only connection file to hand over."""
    if role not in ROLES:
        raise typer.BadParameter(f"{role!r} is not one of {', '.join(ROLES)}", param_hint="--role")
    if out.exists():
        raise typer.BadParameter(f"{out} exists already", param_hint="--out")
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        request = admin_service_pb2.CreateOperatorRequest(
            operator_id=operator_id, role=role, employee_id=employee
        )
        answer = ask(connection, "CreateOperator", request)
        save_connection(out, replace(connection, credential=answer.credential))
    scope = f", directing what employee {employee} directs" if employee else ""
    typer.echo(f"operator {operator_id} ({role}{scope}): connection file {out} (owner-only)")


@audit_app.command("list")
def list_audit(
    connection_file: ConnectionOption,
    since: Annotated[str, typer.Option("--since", help="How far back: 90s, 30m, 12h, 7d.")] = "7d",
    operator: Annotated[str, typer.Option("--operator", help="Only this operator.")] = "",
    action: Annotated[
        str, typer.Option("--action", help="Only this action, e.g. run_report.")
    ] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of text.")] = False,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Who did or looked at what, when, with what outcome; newest first."""
    since_ms = int(time.time() * 1000) - parse_duration(since) * 1000
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        request = admin_service_pb2.ListAuditRequest(
            since_ms=since_ms, limit=limit, operator_id=operator, action=action
        )
        answer = ask(connection, "ListAudit", request)
    for entry in answer.entries:
        at = datetime.fromtimestamp(entry.logged_at_ms / 1000, UTC)
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "logged_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "operator_id": entry.operator_id,
                        "role": entry.role,
                        "action": entry.action,
                        "target": entry.target,
                        "outcome": entry.outcome,
                        "detail": entry.detail,
                    }
                )
            )
        else:
            typer.echo(
                f"{at:%Y-%m-%d %H:%M:%S} {entry.operator_id:<12} {entry.role:<8}"
                f" {entry.action:<20} {entry.target or '-':<24} {entry.outcome}"
                + (f"  {entry.detail}" if entry.detail else "")
            )
    if not answer.entries and not as_json:
        typer.echo("nothing logged in that time")
