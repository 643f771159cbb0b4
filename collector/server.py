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
from pathlib import Path

import grpc

from collector.admin_service import AdminService
from collector.admission import Admission, AdmissionLimits
from collector.enrollment import device_keys, operator_keys
from collector.identity import DeviceKeys, OperatorKeys
from collector.ingest import IngestLimits, Ingestor
from collector.service import AgentService, rpc_handlers
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
        server: grpc.aio.Server,
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
        self._server = server
        self._stopped = False

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop taking RPCs, drain and commit the queue, close the database; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        await self._server.stop(grace)
        await asyncio.to_thread(self.ingestor.close)
        await asyncio.to_thread(self.writer.close)
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
) -> CollectorServer:
    """Open the store and serve AgentService and AdminService on `listen` (HOST:PORT, port 0
    allowed), over TLS from the state directory unless `plaintext` (loopback only).

    writer_process: run the database writer in a child process (writer_process.py), as the
    command line does; in process otherwise (tests that reach into the store).
    """
    host, port = parse_listen(listen)
    check_transport(host, plaintext)
    state = StateDir(Path(state_dir))
    tls = None if plaintext else await asyncio.to_thread(load_server_tls, state.tls)
    state.root.mkdir(parents=True, exist_ok=True)
    # Made on this thread, which lives as long as the server: a child process made from a
    # short-lived worker thread would be killed with that thread (PR_SET_PDEATHSIG).
    writer: WriterLike = (
        WriterProcess(state.db, store_factory)
        if writer_process
        else Writer(state.db, store_factory)
    )
    ingestor: Ingestor | None = None
    try:
        devices = DeviceKeys(writer.transaction(device_keys))
        operators = OperatorKeys(writer.transaction(operator_keys))
        ingestor = Ingestor(writer, ingest_limits)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),  # a second collector on the same port must fail
            ]
        )
        admission = Admission(state.root, admission_limits)
        service = AgentService(ingestor, writer, devices, limits, admission=admission)
        server.add_generic_rpc_handlers((rpc_handlers(service),))
        admin_service_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminService(writer, operators, devices), server
        )
        bound = _bind(server, host, port, tls)
        await server.start()
    except BaseException:
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
    return CollectorServer(server, ingestor, writer, host, bound, tls, devices)


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


def _bind(server: grpc.aio.Server, host: str, port: int, tls: ServerTls | None) -> int:
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if tls is None:
            bound = int(server.add_insecure_port(address))
        else:
            credentials = grpc.ssl_server_credentials([(tls.key_pem, tls.cert_pem)])
            bound = int(server.add_secure_port(address, credentials))
    except RuntimeError as exc:  # grpc raises when the address is taken or unusable
        raise OSError(f"cannot listen on {address}: {exc}") from exc
    if bound == 0:  # older grpc reports failure as port 0
        raise OSError(f"cannot listen on {address}")
    return bound
