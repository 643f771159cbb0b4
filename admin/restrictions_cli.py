"""`commaudit restriction add|list|end`: a director's restrictions on a workgroup (City 4.01.06
§4.4, Library CS3.4.4). Never edited in place: `end` records a new version.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from admin.connection import load_connection
from admin.rpc import CollectorOption, ConnectionOption, PlaintextOption, ask, collector_errors
from commaudit.v1 import admin_service_pb2

restriction_app = typer.Typer(
    help="Restrictions directors set on their workgroups (§4.4).", no_args_is_help=True
)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC") if ms else "-"


def _describe(r: admin_service_pb2.Restriction) -> str:
    what = f"category {r.category}" if r.category else f"app {r.app_id}"
    until = f" until {_when(r.effective_to_ms)}" if r.effective_to_ms else ""
    hours = f", {r.schedule}" if r.schedule else ", at all hours"
    return (
        f"{r.restriction_id} v{r.version} [{r.clause}] {r.org}/{r.workgroup_id}: {what},"
        f" from {_when(r.effective_from_ms)}{until}{hours}; set by {r.set_by}"
        f" (recorded by {r.recorded_by}): {r.reason}"
    )


@restriction_app.command("add")
def add(
    workgroup: Annotated[str, typer.Option("--workgroup", help="The workgroup's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with every version).")],
    connection_file: ConnectionOption,
    category: Annotated[
        str, typer.Option("--category", help="A whole technology, e.g. video_sharing.")
    ] = "",
    app: Annotated[str, typer.Option("--app", help="One catalog app id, e.g. tiktok.")] = "",
    start: Annotated[
        str, typer.Option("--from", help="First local day, YYYY-MM-DD (default: now).")
    ] = "",
    end: Annotated[
        str, typer.Option("--to", help="Local day it stops applying, YYYY-MM-DD (default: open).")
    ] = "",
    schedule: Annotated[
        str,
        typer.Option("--schedule", help="Weekly local hours, e.g. 'Mon-Fri 08:00-17:00'."),
    ] = "",
    set_by: Annotated[
        str,
        typer.Option("--set-by", help="Admins: the director's employee id whose decision it is."),
    ] = "",
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Restrict a technology or an app in a workgroup, optionally on a weekly schedule."""
    if bool(category) == bool(app):
        raise typer.BadParameter("give either --category or --app", param_hint="--category/--app")
    request = admin_service_pb2.AddRestrictionRequest(
        workgroup_id=workgroup, category=category, app_id=app, effective_from=start,
        effective_to=end, schedule=schedule, set_by=set_by, reason=reason,
    )  # fmt: skip
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        answer = ask(connection, "AddRestriction", request)
    typer.echo(_describe(answer.restriction))


@restriction_app.command("end")
def end_restriction(
    restriction_id: Annotated[str, typer.Argument(help="The restriction's id (r-...).")],
    reason: Annotated[str, typer.Option("--reason", help="Why it ends.")],
    connection_file: ConnectionOption,
    end: Annotated[
        str, typer.Option("--to", help="Local day it stops applying, YYYY-MM-DD (default: now).")
    ] = "",
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """End a restriction: a new version with an end; the earlier versions stay."""
    request = admin_service_pb2.EndRestrictionRequest(
        restriction_id=restriction_id, effective_to=end, reason=reason
    )
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        answer = ask(connection, "EndRestriction", request)
    typer.echo(_describe(answer.restriction))


@restriction_app.command("list")
def list_restrictions(
    connection_file: ConnectionOption,
    org: Annotated[str, typer.Option("--org", help="city or library.")] = "",
    workgroup: Annotated[str, typer.Option("--workgroup", help="One workgroup.")] = "",
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Every version, not only the one in force.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of text.")] = False,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Restrictions (directors see their own workgroups only)."""
    request = admin_service_pb2.ListRestrictionsRequest(
        org=org, workgroup_id=workgroup, all_versions=all_versions
    )
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        answer = ask(connection, "ListRestrictions", request)
    for r in answer.restrictions:
        if as_json:
            typer.echo(json.dumps({
                "restriction_id": r.restriction_id, "version": r.version, "org": r.org,
                "workgroup_id": r.workgroup_id, "category": r.category or None,
                "app_id": r.app_id or None, "effective_from": _when(r.effective_from_ms),
                "effective_to": _when(r.effective_to_ms) if r.effective_to_ms else None,
                "schedule": r.schedule or None, "set_by": r.set_by, "reason": r.reason,
                "recorded_by": r.recorded_by, "clause": r.clause,
            }))  # fmt: skip
        else:
            typer.echo(_describe(r))
    if not answer.restrictions and not as_json:
        typer.echo("no restrictions")
