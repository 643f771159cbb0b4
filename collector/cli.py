"""`commaudit-collector`: the collector's command line (console script entry point `main`).

Thin over server.py (STYLE.md 9). Settings it cannot start with exit 2 before anything is opened,
naming the option; a database or port that cannot be opened exits 1. SIGTERM and SIGINT stop it
gracefully: in-flight Reports finish, the queue is committed, the database checkpointed, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from collector.admission import AdmissionLimits
from collector.server import ConfigError, check_transport, parse_listen, start_server

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def collector() -> None:
    """The commaudit collector: receives agents' events and stores them in DuckDB."""


@app.command()
def serve(
    db: Annotated[Path, typer.Option("--db", help="DuckDB file; created if missing.")],
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to listen on; port 0 picks a free port.")
    ] = "127.0.0.1:50051",
    plaintext: Annotated[
        bool,
        typer.Option(
            "--plaintext", help="Serve without TLS (loopback only, until enrollment brings TLS)."
        ),
    ] = False,
    port_file: Annotated[
        Path | None,
        typer.Option("--port-file", help="Write the bound port to this file once listening."),
    ] = None,
    min_free_mb: Annotated[
        int, typer.Option("--min-free-mb", min=0, help="Take no events below this free disk.")
    ] = AdmissionLimits.min_free_bytes // 2**20,
    device_rate: Annotated[
        float,
        typer.Option(
            "--device-events-per-s", min=1, help="Sustained events/s one device may send."
        ),
    ] = AdmissionLimits.device_events_per_s,
) -> None:
    """Serve AgentService until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        check_transport(parse_listen(listen)[0], plaintext)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--listen/--plaintext") from None
    check_db_path(db)
    try:
        admission = AdmissionLimits(
            device_events_per_s=device_rate, min_free_bytes=min_free_mb * 2**20
        )
        asyncio.run(_serve(db, listen, plaintext, port_file, admission))
    except (OSError, duckdb.Error) as exc:
        typer.echo(f"commaudit-collector: cannot start: {exc}", err=True)
        raise typer.Exit(1) from None


def check_db_path(db: Path) -> None:
    """The database's directory must exist and be writable (DuckDB writes a WAL beside it)."""
    directory = db.parent.resolve()
    if db.is_dir():
        raise typer.BadParameter(f"{db} is a directory, not a database file", param_hint="--db")
    if not directory.is_dir():
        raise typer.BadParameter(f"directory {directory} does not exist", param_hint="--db")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise typer.BadParameter(f"directory {directory} is not writable", param_hint="--db")
    if db.exists() and not os.access(db, os.R_OK | os.W_OK):
        raise typer.BadParameter(f"{db} is not readable and writable", param_hint="--db")


async def _serve(
    db: Path, listen: str, plaintext: bool, port_file: Path | None, admission: AdmissionLimits
) -> None:
    server = await start_server(db, listen, plaintext=plaintext, admission_limits=admission)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        if port_file is not None:
            write_port_file(port_file, server.port)
        typer.echo(f"listening on {server.address}, database {db}")
        await stop.wait()
        log.info("stopping: finishing in-flight reports and committing the queue")
    finally:
        await server.stop()


def write_port_file(path: Path, port: int) -> None:
    """Write then rename, so that a script polling for the file never reads half of it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(f"{port}\n", encoding="utf-8")
    partial.replace(path)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
