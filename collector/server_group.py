"""Several grpc.aio servers on one port, in one process and one event loop (issue 3).

Why: a grpc.aio server takes its calls one at a time. Its accept loop asks grpc core for the
next call and waits for the answer to come back through the completion-queue thread and a turn
of the event loop before it asks again, so it accepts at most about one call per loop turn,
however idle the loop is. At 2,000 Reports/s that was the collector's bottleneck, measured with
20,000 agents: the handlers took 15-20 ms (p50) every second, the loop never stalled more than
~20 ms, and yet the time from a Report's send to its handler's start swung between 3 and 250 ms
(p50 of a second) while the calls queued in grpc core; any stall (a neighbour's CPU, a publish)
added to that queue, which drained slowly. Each server here has its own accept loop, so the
accepts of one loop turn go up with the number of servers; all of them share this process's
ingest queue, credentials, rate limits and metrics, so nothing else changes. How many: see
SERVERS_PER_PORT.

The kernel spreads connections over the servers (SO_REUSEPORT), which every one of them must
set. So that a second collector (or anything else) still cannot start on a port this one holds,
the port is first bound once without SO_REUSEPORT: that fails while any listener has it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from collector.tls import ServerTls

SERVERS_PER_PORT = 256
"""Accept loops. Each one's rate falls with its loop's turns, so what matters is how many calls
a second the busiest one must accept, and the kernel hashes connections onto servers, unevenly
when they are few. Measured with 20,000 agents over 8 connections (250 Reports/s each): with 4
servers, one holding 5 connections (1,250/s) let calls wait up to 1.1 s in gRPC core while the
others waited ~10 ms; even 2 connections (500/s) waited ~400 ms while the loop was busy. Two of 8
connections share a server in ~61% of runs with 32 servers, ~37% with 64 and ~10% with 256: p99
over 250 ms in 1 of 16 runs with 32; 49-203 ms in 12 of 12 with 64; 40-80 ms in 20 of 20 with
256. One that holds several of a real fleet's thousands of connections holds a small share of
them. 256 servers start in ~38 ms and add ~3 MiB and no threads beside 4; they hold 256 file
descriptors, which is why the collector raises its limit on open files (open_files.py)."""


class ServerGroup:
    """`count` grpc.aio servers that serve the same services on the same address."""

    def __init__(self, options: Sequence[tuple[str, Any]], count: int = SERVERS_PER_PORT):
        if count < 1:
            raise ValueError("a server group needs at least one server")
        shared = [*options, ("grpc.so_reuseport", 1 if count > 1 else 0)]
        self.servers = [grpc.aio.server(options=shared) for _ in range(count)]

    def add(self, register: Callable[[grpc.aio.Server], None]) -> None:
        """Register services on every server (the servicer objects are shared)."""
        for server in self.servers:
            register(server)

    def bind(self, host: str, port: int, tls: ServerTls | None) -> int:
        """Listen on HOST:PORT with every server; the bound port (chosen by the first server
        when `port` is 0). OSError when the address is taken or unusable."""
        if port != 0:
            refuse_if_taken(host, port)
        # One credentials object for every server: the key and certificate are parsed once.
        credentials = (
            None if tls is None else grpc.ssl_server_credentials([(tls.key_pem, tls.cert_pem)])
        )
        bound = port
        for server in self.servers:
            bound = _bind(server, host, bound, credentials)
        return bound

    async def start(self) -> None:
        for server in self.servers:
            await server.start()

    async def stop(self, grace: float | None) -> None:
        """Stop every server at once, in-flight calls getting the same grace."""
        await asyncio.gather(*(server.stop(grace) for server in self.servers))


def refuse_if_taken(host: str, port: int) -> None:
    """OSError when something listens on HOST:PORT: binding it without SO_REUSEPORT (with
    SO_REUSEADDR, as grpc binds, so that connections in TIME_WAIT do not count) fails then."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on {listen_address(host, port)}: {exc}") from exc
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                raise OSError(f"cannot listen on {listen_address(host, port)}: {exc}") from exc


def _bind(
    server: grpc.aio.Server, host: str, port: int, credentials: grpc.ServerCredentials | None
) -> int:
    address = listen_address(host, port)
    try:
        if credentials is None:
            bound = int(server.add_insecure_port(address))
        else:
            bound = int(server.add_secure_port(address, credentials))
    except RuntimeError as exc:  # grpc raises when the address is taken or unusable
        raise OSError(f"cannot listen on {address}: {exc}") from exc
    if bound == 0:  # older grpc reports failure as port 0
        raise OSError(f"cannot listen on {address}")
    return bound


def listen_address(host: str, port: int) -> str:
    """HOST:PORT as grpc and people write it (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
