"""Several grpc.aio servers on one port (collector/server_group.py): the kernel spreads the
connections over them, every one serves, and the port stays the collector's alone."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import grpc
import pytest

from collector.server import start_server
from collector.server_group import ServerGroup, refuse_if_taken
from tests.collector.collector_harness import StartCollector, make_batch

METHOD = "/test.Which/Server"


def _answering(index: int) -> grpc.GenericRpcHandler:
    """A handler that answers with the index of the server it was registered on."""

    async def which(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return str(index).encode()

    handler = grpc.unary_unary_rpc_method_handler(which)
    return grpc.method_handlers_generic_handler("test.Which", {"Server": handler})


async def _servers_reached(connections: int) -> set[bytes]:
    group = ServerGroup([], count=4)
    for index, server in enumerate(group.servers):
        server.add_generic_rpc_handlers((_answering(index),))
    port = group.bind("127.0.0.1", 0, None)
    await group.start()
    try:
        answers: set[bytes] = set()
        for number in range(connections):
            # Distinct options: a connection of its own each (grpc shares identical channels).
            options = [("test.connection", number)]
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as ch:
                answers.add(await ch.unary_unary(METHOD)(b"", timeout=10))
        return answers
    finally:
        await group.stop(None)


def test_connections_to_one_port_reach_several_servers_of_the_group() -> None:
    # 16 connections all hashed to one of 4 servers: odds of 4 in 4**16, about 1 in a billion.
    reached = asyncio.run(_servers_reached(16))
    assert len(reached) >= 2
    assert reached <= {b"0", b"1", b"2", b"3"}


def test_a_second_collector_cannot_start_on_the_port_the_first_holds(
    start_collector: StartCollector, tmp_path: Path
) -> None:
    first = start_collector()
    with pytest.raises(OSError, match=re.escape(f"cannot listen on {first.address}")):
        asyncio.run(start_server(tmp_path / "second", first.address, plaintext=True))
    # The first still takes Reports on every one of its servers' connections.
    assert first.report("laptop-1", make_batch([1])).acked_seq == 1


def test_a_port_held_by_any_listener_is_refused_before_binding() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(OSError, match=re.escape(f"cannot listen on 127.0.0.1:{port}")):
            refuse_if_taken("127.0.0.1", port)
    refuse_if_taken("127.0.0.1", port)  # free again once closed
