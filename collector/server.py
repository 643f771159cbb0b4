"""The collector process's parts wired together: Store, Ingestor, the two services, gRPC server.

Transport policy (DESIGN.md §4): TLS by default, with the state directory's certificate (tls.py);
plaintext only when explicitly asked for and only on a loopback address. Stopping is ordered so
that nothing acknowledged is lost and nothing queued is dropped: stop taking RPCs (in-flight ones
get a grace period), drain and commit the ingest queue, then checkpoint and close the database.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from agent.catalog import load_catalog
from collector.admin_service import AdminService, run_audited
from collector.admission import Admission, AdmissionLimits
from collector.catalog_apps import catalog_rows, replace_catalog_apps
from collector.enrollment import device_keys, operator_keys, write_audit
from collector.health import Health, child_alive, enable_reflection
from collector.identity import DeviceKeys, OperatorKeys
from collector.import_folder import Importer, ImportFolder
from collector.ingest import IngestLimits, Ingestor
from collector.metrics import CollectorMetrics, MetricsEndpoint
from collector.org_import import ImportSummary, OrgImportError, import_org_file
from collector.publish_loop import DEFAULT_INTERVAL_S, Publishing
from collector.server_group import ServerGroup, listen_address
from collector.service import AgentService, now_ms, rpc_handlers
from collector.state_dir import StateDir
from collector.store import Store
from collector.tls import ServerTls, load_server_tls
from collector.validate import Limits
from collector.writer import Writer, WriterLike
from collector.writer_process import WriterProcess
from commaudit.v1 import admin_service_pb2_grpc

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Largest Report accepted: 1,000 events at up to ~4 KiB each."""
STOP_GRACE_S = 5.0
"""How long in-flight Reports may take to finish when the collector stops."""


class ConfigError(ValueError):
    """A setting the collector cannot start with; the message says which and why."""


class CollectorServer:
    """A running collector; stop() it (it is not restartable)."""

    def __init__(
        self,
        servers: ServerGroup,
        ingestor: Ingestor,
        writer: WriterLike,
        host: str,
        port: int,
        tls: ServerTls | None,
        device_keys: DeviceKeys,
    ):
        self.host = host
        self.port = port
        """The bound port (the one chosen by the OS when asked for port 0)."""
        self.writer = writer
        """The database's one writer (in its own process when served from the command line)."""
        self.ingestor = ingestor
        self.tls = tls
        """None when serving plaintext on loopback."""
        self.device_keys = device_keys
        """The credentials checked on every call; enrollment adds to them."""
        self.import_folder: ImportFolder | None = None
        """Watches --import-dir, when there is one."""
        self.metrics = ingestor.metrics
        """This server's metrics (their own registry), served when metrics_listen was given."""
        self.health: Health | None = None
        self.metrics_endpoint: MetricsEndpoint | None = None
        self._servers = servers
        self._stopped = False

    @property
    def address(self) -> str:
        return listen_address(self.host, self.port)

    @property
    def metrics_port(self) -> int | None:
        """The bound port of /metrics; None when not serving metrics."""
        return None if self.metrics_endpoint is None else self.metrics_endpoint.port

    async def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop taking RPCs, drain and commit the queue, close the database; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self.health is not None:
            await self.health.stop()  # NOT_SERVING: probes send agents elsewhere
        if self.import_folder is not None:
            await asyncio.to_thread(self.import_folder.stop)
        try:
            await self._servers.stop(grace)
            await asyncio.to_thread(self.ingestor.close)
            await asyncio.to_thread(self.writer.close)
        finally:
            if self.metrics_endpoint is not None:
                await asyncio.to_thread(self.metrics_endpoint.close)
        log.info("stopped; database %s closed", self.writer.path)


async def start_server(
    state_dir: str | os.PathLike[str],
    listen: str,
    *,
    plaintext: bool = False,
    limits: Limits | None = None,
    ingest_limits: IngestLimits | None = None,
    admission_limits: AdmissionLimits | None = None,
    store_factory: Callable[[Path], Store] = Store,
    writer_process: bool = False,
    publish_interval_s: float = DEFAULT_INTERVAL_S,
    import_dir: Path | None = None,
    metrics_listen: str | None = None,
    admin_clock: Callable[[], int] = now_ms,
) -> CollectorServer:
    """Open the store and serve AgentService and AdminService on `listen` (HOST:PORT, port 0
    allowed), over TLS from the state directory unless `plaintext` (loopback only).

    writer_process: run the database writer in a child process (writer_process.py), as the
    command line does; in process otherwise (tests that reach into the store).
    publish_interval_s: publish into the state directory's lake this often, beside the writer
    (publish_loop.py), and once more at stop; 0: never.
    import_dir: a folder watched for organisation CSV exports (import_folder.py).
    admin_clock: AdminService's clock (UTC ms): tests move it to see claims and tokens lapse.
    metrics_listen: serve Prometheus metrics at http://HOST:PORT/metrics (metrics.py; port 0
    allowed), plain HTTP: counts only, no personal data; None: not served.
    """
    host, port = parse_listen(listen)
    check_transport(host, plaintext)
    metrics_address = None if metrics_listen is None else parse_listen(metrics_listen)
    state = StateDir(Path(state_dir))
    tls = None if plaintext else await asyncio.to_thread(load_server_tls, state.tls)
    state.root.mkdir(parents=True, exist_ok=True)
    # Made on this thread, which lives as long as the server: a child process made from a
    # short-lived worker thread would be killed with that thread (PR_SET_PDEATHSIG).
    publishing = Publishing(state.lake, publish_interval_s)
    writer: WriterLike = (
        WriterProcess(state.db, store_factory, publishing)
        if writer_process
        else Writer(state.db, store_factory, publishing)
    )
    ingestor: Ingestor | None = None
    folder: ImportFolder | None = None
    endpoint: MetricsEndpoint | None = None
    try:
        apps = writer.transaction(replace_catalog_apps, catalog_rows(load_catalog()))
        log.info("catalog: %d apps known to reports", apps)
        devices = DeviceKeys(writer.transaction(device_keys))
        operators = OperatorKeys(writer.transaction(operator_keys))
        metrics = CollectorMetrics()
        ingestor = Ingestor(writer, ingest_limits, metrics)
        metrics.watch(ingestor, state.db, state.lake)
        # Several accept loops on one port, one set of services (server_group.py).
        servers = ServerGroup([("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
        admission = Admission(state.root, admission_limits)
        service = AgentService(ingestor, writer, devices, limits, admission=admission)
        admin = AdminService(writer, operators, devices, lake_dir=state.lake, clock=admin_clock)
        health = Health(child_alive(writer.pid) if isinstance(writer, WriterProcess) else None)
        servers.add(lambda server: server.add_generic_rpc_handlers((rpc_handlers(service),)))
        servers.add(partial(admin_service_pb2_grpc.add_AdminServiceServicer_to_server, admin))
        servers.add(health.add_to)
        servers.add(enable_reflection)
        bound = servers.bind(host, port, tls)
        if metrics_address is not None:
            endpoint = MetricsEndpoint(metrics.registry, *metrics_address)
            log.info("metrics on %s port %d, at /metrics", metrics_address[0], endpoint.port)
        await servers.start()
        await health.start()
        if import_dir is not None:
            folder = ImportFolder(import_dir, _folder_importer(writer))
            folder.start()
    except BaseException:
        if endpoint is not None:
            endpoint.close()
        if ingestor is not None:
            ingestor.close()
        writer.close()
        raise
    log.info(
        "serving on %s:%d (%s), %d devices enrolled",
        host,
        bound,
        "TLS" if tls else "plaintext, loopback",
        len(devices),
    )
    collector = CollectorServer(servers, ingestor, writer, host, bound, tls, devices)
    collector.import_folder = folder
    collector.health = health
    collector.metrics_endpoint = endpoint
    return collector


def _folder_importer(writer: WriterLike) -> Importer:
    """Imports a dropped file as the operator 'folder', audited like an import by command."""

    def importer(kind: str, path: Path) -> ImportSummary:
        at = now_ms()
        audit = {
            "operator_id": "folder", "role": "system", "action": "import_org_data",
            "target": f"{kind}:{path.name}", "outcome": "ok", "detail": "", "now_ms": at,
        }  # fmt: skip
        arguments = {
            "kind": kind, "file_name": path.name, "content": path.read_bytes(),
            "imported_by": "folder", "now_ms": at,
        }  # fmt: skip
        try:
            summary: ImportSummary = writer.transaction(
                run_audited, import_org_file, arguments, audit
            )
        except OrgImportError as exc:
            refused = f"refused: {len(exc.errors)} bad rows"
            writer.transaction(write_audit, **{**audit, "outcome": refused})
            raise
        return summary

    return importer


def parse_listen(listen: str) -> tuple[str, int]:
    """`127.0.0.1:50051`, `localhost:0`, `[::1]:50051` -> (host, port)."""
    host, sep, port_text = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"listen address {listen!r} is not HOST:PORT (e.g. 127.0.0.1:50051)")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or the name localhost; other names are not resolved (DNS could lie)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(host: str, plaintext: bool) -> None:
    """Plaintext only when asked for and only on loopback (DESIGN.md §4)."""
    if plaintext and not is_loopback(host):
        raise ConfigError(
            f"plaintext is allowed only on a loopback address (127.0.0.0/8, ::1, localhost),"
            f" not {host!r}: credentials would cross the network in the clear"
        )
