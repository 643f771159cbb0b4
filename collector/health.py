"""The standard gRPC services that tell tools about a running collector: health and reflection.

Health (grpc.health.v1): SERVING for the whole server ("") and for each of its services while
it takes Reports; NOT_SERVING once it begins to stop, or as soon as the writer process is gone
(every commit would fail until a restart), so a load balancer or a probe sends agents elsewhere.
Reflection lists the services and their descriptors (from the generated _pb2 modules), so that
`grpcurl HOST:PORT list` and `describe` work without the .proto files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from grpc_reflection.v1alpha import reflection  # type: ignore[import-untyped]

from commaudit.v1 import admin_service_pb2, agent_service_pb2

log = logging.getLogger(__name__)

SERVICES = (
    agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
)
WATCH_INTERVAL_S = 1.0
"""How often the writer process is looked at; a probe learns of its loss within this."""


class Health:
    """The health service of one server; start() after the server starts, stop() first."""

    def __init__(
        self, writer_alive: Callable[[], bool] | None, interval_s: float = WATCH_INTERVAL_S
    ):
        """writer_alive: whether the writer process still runs; None when the writer runs in
        this process (it cannot be gone without the server)."""
        self.servicer = health.aio.HealthServicer()
        self._writer_alive = writer_alive
        self._interval_s = interval_s
        self._watch: asyncio.Task[None] | None = None

    def add_to(self, server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    async def start(self) -> None:
        for service in ("", *SERVICES):
            await self.servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        if self._writer_alive is not None:
            self._watch = asyncio.create_task(self._watch_writer(self._writer_alive))

    async def stop(self) -> None:
        """NOT_SERVING for good: the server is stopping."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.servicer.enter_graceful_shutdown()

    async def _watch_writer(self, writer_alive: Callable[[], bool]) -> None:
        while writer_alive():
            await asyncio.sleep(self._interval_s)
        log.error("the writer process is gone: nothing more can be stored until a restart")
        for service in ("", *SERVICES):
            await self.servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)


def child_alive(pid: int | None) -> Callable[[], bool]:
    """Whether this process's multiprocessing child `pid` still runs. active_children() reaps
    the children that ended, as multiprocessing itself does at each start."""
    return lambda: any(child.pid == pid for child in multiprocessing.active_children())


def enable_reflection(server: grpc.aio.Server) -> None:
    """Reflection listing the collector's services, health and reflection itself."""
    names = (*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
