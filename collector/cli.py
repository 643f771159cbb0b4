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
from typing import Annotated, Any

import duckdb
import typer

from agent.atomic_file import PUBLIC, write_atomically
from agent.layered_settings import Effective
from agent.service_notify import READY, STOPPING, feed_watchdog, notify
from collector import event_loop
from collector.config import CollectorConfig, load_effective
from collector.config import ConfigError as InvalidSettings
from collector.log_format import configure_logging
from collector.open_files import raise_soft_limit
from collector.rpc_heap import freeze_startup_heap, tune_for_serving
from collector.server import ConfigError, parse_listen, start_server
from collector.state_dir import AlreadyInitialised, StateDir, initialise
from collector.tls import TlsError, default_hostnames

log = logging.getLogger(__name__)

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


_DEFAULTS = CollectorConfig()

ConfigFileOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML file of settings (each documented in the packaged collector.toml); options"
        " and COMMAUDIT_COLLECTOR_<SETTING> variables override it.",
    ),
]
ServeStateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Directory holding the database, TLS material and admin connection file"
        f" (default {_DEFAULTS.state_dir}).",
    ),
]
ListenOption = Annotated[
    str | None,
    typer.Option(
        "--listen",
        help=f"HOST:PORT to listen on; port 0 picks a free port (default {_DEFAULTS.listen}).",
    ),
]
PlaintextOption = Annotated[
    bool | None,
    typer.Option("--plaintext/--no-plaintext", help="Serve without TLS (loopback addresses only)."),
]
PortFileOption = Annotated[
    Path | None,
    typer.Option("--port-file", help="Write the bound port to this file once listening."),
]
MinFreeOption = Annotated[
    int | None,
    typer.Option(
        "--min-free-mb",
        help=f"Take no events below this free disk, MiB (default {_DEFAULTS.min_free_mb}).",
    ),
]
DeviceRateOption = Annotated[
    float | None,
    typer.Option(
        "--device-events-per-s",
        help=f"Sustained events/s one device may send (default {_DEFAULTS.device_events_per_s:g}).",
    ),
]
CommitWindowOption = Annotated[
    float | None,
    typer.Option(
        "--commit-window-ms",
        help="How long a Report may wait for others to share its commit (latency vs CPU),"
        f" 1 to 1000 (default {_DEFAULTS.commit_window_ms:g}).",
    ),
]
PublishIntervalOption = Annotated[
    float | None,
    typer.Option(
        "--publish-interval-s",
        help="Publish what is stored into the state directory's lake (what analysts and"
        f" reports read) this often; 0: never (default {_DEFAULTS.publish_interval_s:g}).",
    ),
]
ImportDirOption = Annotated[
    Path | None,
    typer.Option(
        "--import-dir",
        file_okay=False,
        help="Watch this folder for organisation CSV exports (samples/org/README.md);"
        " imported files move to done/, refused ones to failed/ with their errors.",
    ),
]
MetricsListenOption = Annotated[
    str | None,
    typer.Option("--metrics-listen", help="HOST:PORT serving metrics over HTTP (default: none)."),
]
LogLevelOption = Annotated[
    str | None,
    typer.Option("--log-level", help="debug, info, warning or error (default info)."),
]
LogFormatOption = Annotated[
    str | None,
    typer.Option("--log-format", help="text, or json for log shippers (default text)."),
]


@app.command()
def serve(
    config_file: ConfigFileOption = None,
    state_dir: ServeStateDirOption = None,
    listen: ListenOption = None,
    plaintext: PlaintextOption = None,
    port_file: PortFileOption = None,
    min_free_mb: MinFreeOption = None,
    device_events_per_s: DeviceRateOption = None,
    commit_window_ms: CommitWindowOption = None,
    publish_interval_s: PublishIntervalOption = None,
    import_dir: ImportDirOption = None,
    metrics_listen: MetricsListenOption = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Serve AgentService and AdminService until SIGTERM or SIGINT."""
    flags = dict(locals())  # the parameters are named after the settings
    config = _settings(flags.pop("config_file"), flags).config
    configure_logging(config.log_level, config.log_format)
    state = StateDir(config.state_dir)
    check_state_dir(state)
    raise_soft_limit()  # a socket per device, beside the accept loops' (open_files.py)
    try:
        event_loop.run(_serve(state, config))
    except TlsError as exc:  # found before the database is opened (server.py)
        raise typer.BadParameter(str(exc), param_hint="--state-dir") from None
    except (OSError, duckdb.Error) as exc:
        typer.echo(f"commaudit-collector: cannot start: {exc}", err=True)
        raise typer.Exit(1) from None


def check_config(**flags: Any) -> None:
    """Print the settings `serve` would use, each with where it came from (default, file, env,
    flag), or exit 2 naming a wrong one. Takes serve's options, to check a service's command."""
    typer.echo(_settings(flags.pop("config_file"), flags).describe())


check_config.__wrapped__ = serve  # type: ignore[attr-defined]  # typer reads serve's options
app.command("check-config")(check_config)


def _settings(config_file: Path | None, flags: dict[str, Any]) -> Effective[CollectorConfig]:
    """Defaults < file < environment < options; a wrong setting exits 2 saying where it is."""
    names = {"plaintext": "--plaintext" if flags["plaintext"] else "--no-plaintext"}
    try:
        return load_effective(config_file, os.environ, flags, names)
    except InvalidSettings as exc:
        typer.echo(f"commaudit-collector: {exc}", err=True)
        raise typer.Exit(2) from None


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


async def _serve(state: StateDir, config: CollectorConfig) -> None:
    tune_for_serving()
    server = await start_server(
        state.root,
        config.listen,
        plaintext=config.plaintext,
        admission_limits=config.admission_limits(),
        ingest_limits=config.ingest_limits(),
        writer_process=True,
        publish_interval_s=config.publish_interval_s,
        import_dir=config.import_dir,
        metrics_listen=config.metrics_listen or None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watchdog: asyncio.Task[None] | None = None
    try:
        freeze_startup_heap()  # before anyone is told it serves (port file, sd_notify)
        if config.port_file is not None:
            write_port_file(config.port_file, server.port)
        transport = "TLS" if server.tls else "plaintext"
        typer.echo(f"listening on {server.address} ({transport}), database {state.db}")
        log.info("event loop: %s", event_loop.loop_name())
        notify(READY)  # systemd (Type=notify): serving; no-op under other managers
        watchdog = asyncio.create_task(feed_watchdog())  # WatchdogSec: pings while the loop runs
        await stop.wait()
        log.info("stopping: finishing in-flight reports and committing the queue")
    finally:
        notify(STOPPING)
        if watchdog is not None:
            watchdog.cancel()
        await server.stop()


def write_port_file(path: Path, port: int) -> None:
    """Whole or not at all, so that a script polling for the file never reads half of it."""
    write_atomically(path, f"{port}\n".encode(), mode=PUBLIC)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
