"""The collector process's parts wired together: Store, Ingestor, AgentService, gRPC server.

Transport policy (DESIGN.md §4): TLS by default, plaintext only when explicitly asked for and
only on a loopback address. TLS arrives with enrollment (next issue), so for now a start without
plaintext is refused with a message that says what to do. Stopping is ordered so that nothing
acknowledged is lost and nothing queued is dropped: stop taking RPCs (in-flight ones get a
grace period), drain and commit the ingest queue, then checkpoint and close the database.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from collections.abc import Callable
from pathlib import Path

import grpc

from collector.admission import Admission, AdmissionLimits
from collector.ingest import IngestLimits, Ingestor
from collector.service import AgentService, rpc_handlers
from collector.store import Store
from collector.validate import Limits

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
        self, server: grpc.aio.Server, ingestor: Ingestor, store: Store, host: str, port: int
    ):
        self.host = host
        self.port = port
        """The bound port (the one chosen by the OS when asked for port 0)."""
        self.store = store
        self.ingestor = ingestor
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
        await asyncio.to_thread(self.store.close)
        log.info("stopped; database %s closed", self.store.path)


async def start_server(
    store_path: str | os.PathLike[str],
    listen: str,
    *,
    plaintext: bool = False,
    limits: Limits | None = None,
    ingest_limits: IngestLimits | None = None,
    admission_limits: AdmissionLimits | None = None,
    store_factory: Callable[[Path], Store] = Store,
) -> CollectorServer:
    """Open the store and serve AgentService on `listen` (HOST:PORT, port 0 allowed)."""
    host, port = parse_listen(listen)
    check_transport(host, plaintext)
    store = await asyncio.to_thread(store_factory, Path(store_path))
    ingestor: Ingestor | None = None
    try:
        ingestor = Ingestor(store, ingest_limits)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),  # a second collector on the same port must fail
            ]
        )
        admission = Admission(Path(store_path), admission_limits)
        service = AgentService(ingestor, limits, admission=admission)
        server.add_generic_rpc_handlers((rpc_handlers(service),))
        bound = _bind(server, host, port)
        await server.start()
    except BaseException:
        if ingestor is not None:
            ingestor.close()
        store.close()
        raise
    log.info("serving AgentService on %s:%d (plaintext, loopback)", host, bound)
    return CollectorServer(server, ingestor, store, host, bound)


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
    if not plaintext:
        raise ConfigError("TLS is not configured yet: pass --plaintext on a loopback address")
    if not is_loopback(host):
        raise ConfigError(
            f"plaintext is allowed only on a loopback address (127.0.0.0/8, ::1, localhost),"
            f" not {host!r}: device identity is unauthenticated until enrollment"
        )


def _bind(server: grpc.aio.Server, host: str, port: int) -> int:
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = int(server.add_insecure_port(address))
    except RuntimeError as exc:  # grpc raises when the address is taken or unusable
        raise OSError(f"cannot listen on {address}: {exc}") from exc
    if bound == 0:  # older grpc reports failure as port 0
        raise OSError(f"cannot listen on {address}")
    return bound
