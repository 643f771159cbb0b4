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
from collector.atomic_file import PUBLIC, write_atomically
from collector.ingest import IngestLimits
from collector.publish_loop import DEFAULT_INTERVAL_S
from collector.server import ConfigError, check_transport, parse_listen, start_server
from collector.state_dir import AlreadyInitialised, StateDir, initialise
from collector.tls import TlsError, default_hostnames

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def collector() -> None:
    """The commaudit collector: receives agents' events and stores them in DuckDB."""


StateDirOption = Annotated[
    Path,
    typer.Option(
        "--state-dir",
        envvar="COMMAUDIT_COLLECTOR_STATE_DIR",
        help="Directory holding the database, TLS material and admin connection file.",
    ),
]


@app.command()
def init(
    state_dir: StateDirOption,
    hostname: Annotated[
        list[str] | None,
        typer.Option(
            "--hostname",
            help="Name or address agents use to reach the collector (repeatable); default:"
            " localhost, 127.0.0.1, ::1 and this machine's names.",
        ),
    ] = None,
    advertise: Annotated[
        str,
        typer.Option("--advertise", help="HOST:PORT written into the admin connection file."),
    ] = "localhost:50051",
    ca_cert: Annotated[
        Path | None,
        typer.Option("--ca-cert", help="The organisation's CA (PEM), instead of a new one."),
    ] = None,
    server_cert: Annotated[
        Path | None, typer.Option("--server-cert", help="Server certificate issued by --ca-cert.")
    ] = None,
    server_key: Annotated[
        Path | None, typer.Option("--server-key", help="Its unencrypted PEM private key.")
    ] = None,
) -> None:
    """Create the state directory: database, CA and server certificate, first admin credential."""
    org_tls = None
    if ca_cert is not None and server_cert is not None and server_key is not None:
        org_tls = (ca_cert, server_cert, server_key)
    elif ca_cert is not None or server_cert is not None or server_key is not None:
        raise typer.BadParameter(
            "give all three of --ca-cert, --server-cert and --server-key, or none",
            param_hint="--ca-cert",
        )
    try:
        parse_listen(advertise)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--advertise") from None
    state = StateDir(state_dir)
    try:
        initialise(
            state,
            advertise=advertise,
            hostnames=hostname or default_hostnames(),
            org_tls=org_tls,
        )
    except (AlreadyInitialised, TlsError) as exc:
        typer.echo(f"commaudit-collector: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"initialised {state.root}\n"
        f"  CA for agents to pin:  {state.tls / 'ca.pem'}\n"
        f"  admin connection file: {state.admin_connection} (secret; for `commaudit`)\n"
        f"next: commaudit-collector serve --state-dir {state.root}"
    )


@app.command()
def serve(
    state_dir: StateDirOption,
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to listen on; port 0 picks a free port.")
    ] = "127.0.0.1:50051",
    plaintext: Annotated[
        bool,
        typer.Option("--plaintext", help="Serve without TLS (loopback addresses only)."),
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
    commit_window_ms: Annotated[
        float,
        typer.Option(
            "--commit-window-ms",
            min=1,
            max=1000,
            help="How long a Report may wait for others to share its commit (latency vs CPU).",
        ),
    ] = IngestLimits.max_group_delay_s * 1000,
    publish_interval_s: Annotated[
        float,
        typer.Option(
            "--publish-interval-s",
            min=0,
            help="Publish what is stored into the state directory's lake (what analysts and"
            " reports read) this often; 0: never.",
        ),
    ] = DEFAULT_INTERVAL_S,
    import_dir: Annotated[
        Path | None,
        typer.Option(
            "--import-dir",
            file_okay=False,
            help="Watch this folder for organisation CSV exports (samples/org/README.md);"
            " imported files move to done/, refused ones to failed/ with their errors.",
        ),
    ] = None,
) -> None:
    """Serve AgentService and AdminService until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        check_transport(parse_listen(listen)[0], plaintext)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--listen/--plaintext") from None
    state = StateDir(state_dir)
    check_state_dir(state)
    try:
        admission = AdmissionLimits(
            device_events_per_s=device_rate, min_free_bytes=min_free_mb * 2**20
        )
        ingest = IngestLimits(max_group_delay_s=commit_window_ms / 1000)
        asyncio.run(
            _serve(
                state,
                listen,
                plaintext,
                port_file,
                admission,
                ingest,
                publish_interval_s,
                import_dir,
            )
        )
    except TlsError as exc:  # found before the database is opened (server.py)
        raise typer.BadParameter(str(exc), param_hint="--state-dir") from None
    except (OSError, duckdb.Error) as exc:
        typer.echo(f"commaudit-collector: cannot start: {exc}", err=True)
        raise typer.Exit(1) from None


def check_state_dir(state: StateDir) -> None:
    """The directory must exist and be writable (DuckDB writes a WAL beside its file)."""
    hint = "--state-dir"
    if not state.root.is_dir():
        raise typer.BadParameter(
            f"{state.root} does not exist (create it with 'commaudit-collector init')",
            param_hint=hint,
        )
    if not os.access(state.root, os.W_OK | os.X_OK):
        raise typer.BadParameter(f"{state.root} is not writable", param_hint=hint)
    if state.db.is_dir():
        raise typer.BadParameter(f"{state.db} is a directory, not a database", param_hint=hint)
    if state.db.exists() and not os.access(state.db, os.R_OK | os.W_OK):
        raise typer.BadParameter(f"{state.db} is not readable and writable", param_hint=hint)


async def _serve(
    state: StateDir,
    listen: str,
    plaintext: bool,
    port_file: Path | None,
    admission: AdmissionLimits,
    ingest: IngestLimits,
    publish_interval_s: float,
    import_dir: Path | None,
) -> None:
    server = await start_server(
        state.root,
        listen,
        plaintext=plaintext,
        admission_limits=admission,
        ingest_limits=ingest,
        writer_process=True,
        publish_interval_s=publish_interval_s,
        import_dir=import_dir,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        if port_file is not None:
            write_port_file(port_file, server.port)
        transport = "TLS" if server.tls else "plaintext"
        typer.echo(f"listening on {server.address} ({transport}), database {state.db}")
        await stop.wait()
        log.info("stopping: finishing in-flight reports and committing the queue")
    finally:
        await server.stop()


def write_port_file(path: Path, port: int) -> None:
    """Whole or not at all, so that a script polling for the file never reads half of it."""
    write_atomically(path, f"{port}\n".encode(), mode=PUBLIC)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
