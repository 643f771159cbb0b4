"""`commaudit catalog push|show` and `commaudit agent-config push|show`: what the collector
serves every agent (agent/central_config.py asks for it at start and every
config_poll_interval_s).

A push is validated by the collector with the agent's own validator, and must carry a version
newer than the one served; a refusal prints the validator's message (file, app or key, field)
and exits 1. Nothing is served until it passed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from admin.connection import load_connection
from admin.rpc import CollectorOption, ConnectionOption, PlaintextOption, ask, collector_errors
from collector.central_config import MAX_FILE_BYTES
from commaudit.v1 import admin_service_pb2

catalog_app = typer.Typer(
    help="The catalog of communication apps the collector serves to agents.", no_args_is_help=True
)
agent_config_app = typer.Typer(
    help="The agent settings the collector serves to every agent (scan, heartbeat, batch,"
    " spool and flush settings only).",
    no_args_is_help=True,
)

FileArgument = Annotated[
    Path,
    typer.Argument(help="The TOML file, with its `version`.", dir_okay=False, exists=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON lines instead of text.")]
_LABEL = {"catalog": "catalog", "agent_config": "agent config"}


def push(
    kind: str, file: Path, connection_file: Path, collector: str | None, plaintext: bool
) -> None:
    if file.stat().st_size > MAX_FILE_BYTES:
        raise typer.BadParameter(
            f"{file.name}: larger than {MAX_FILE_BYTES:,} bytes", param_hint="FILE"
        )
    request = admin_service_pb2.PushCentralFileRequest(
        kind=kind, file_name=file.name, content=file.read_bytes()
    )
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        pushed = ask(connection, "PushCentralFile", request)
    typer.echo(
        f"{_LABEL[kind]} {pushed.version} ({pushed.summary}) is served now; agents take it at"
        " their next poll (config_poll_interval_s, default 5 minutes)"
    )


def show(
    kind: str, connection_file: Path, collector: str | None, plaintext: bool, as_json: bool
) -> None:
    request = admin_service_pb2.ListCentralFilesRequest(kind=kind)
    with collector_errors():
        connection = load_connection(connection_file, collector=collector, plaintext=plaintext)
        answer = ask(connection, "ListCentralFiles", request)
    for index, pushed in enumerate(answer.files):
        at = datetime.fromtimestamp(pushed.pushed_at_ms / 1000, UTC)
        row = {
            "version": pushed.version,
            "served": index == 0,
            "pushed_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "pushed_by": pushed.pushed_by,
            "file_name": pushed.file_name,
            "sha256": pushed.sha256,
            "size_bytes": pushed.size_bytes,
            "summary": pushed.summary,
        }
        if as_json:
            typer.echo(json.dumps(row))
        else:
            typer.echo(
                f"{pushed.version:<12} {'served' if index == 0 else '':<6}"
                f" {at:%Y-%m-%d %H:%M} UTC  {pushed.pushed_by:<12} {pushed.file_name}"
                f"  {pushed.summary}"
            )
    if not answer.files and not as_json:
        typer.echo(f"no {_LABEL[kind]} pushed: agents use their own")


@catalog_app.command("push")
def push_catalog(
    file: FileArgument,
    connection_file: ConnectionOption,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Serve a new catalog to every agent (admin only); it must be newer than the one served."""
    push("catalog", file, connection_file, collector, plaintext)


@catalog_app.command("show")
def show_catalogs(
    connection_file: ConnectionOption,
    as_json: JsonOption = False,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """The catalogs pushed, newest (the one served) first: version, when, by whom, file."""
    show("catalog", connection_file, collector, plaintext, as_json)


@agent_config_app.command("push")
def push_agent_config(
    file: FileArgument,
    connection_file: ConnectionOption,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """Serve new agent settings to every agent (admin only); they win over each device's file,
    not over its environment or command line."""
    push("agent_config", file, connection_file, collector, plaintext)


@agent_config_app.command("show")
def show_agent_configs(
    connection_file: ConnectionOption,
    as_json: JsonOption = False,
    collector: CollectorOption = None,
    plaintext: PlaintextOption = False,
) -> None:
    """The agent configs pushed, newest (the one served) first: version, when, by whom, file."""
    show("agent_config", connection_file, collector, plaintext, as_json)
