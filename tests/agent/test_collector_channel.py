"""The agent's own gRPC channel against a real grpcio server on 127.0.0.1: the wire protocol,
status and trailers, flow control both ways, deadlines, cancellation, reconnects and TLS."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf import wrappers_pb2

from agent.collector_channel import (
    CollectorChannel,
    RpcError,
    StatusCode,
    agent_method,
)
from collector.tls import CA_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE, create_tls

ECHO = "/test.Echo/Echo"
Handler = Callable[[bytes, grpc.ServicerContext], bytes]


@dataclass
class Server:
    """A grpcio server whose one method runs `handler` on the raw request bytes."""

    handler: Handler = lambda request, context: request
    seen: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    server: grpc.Server | None = None

    def start(self, tls: Path | None = None) -> str:
        def serve(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.seen.append({**dict(context.invocation_metadata()), "peer": context.peer()})
            return self.handler(request, context)

        method = grpc.unary_unary_rpc_method_handler(serve)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("test.Echo", {"Echo": method})]
        )
        bind = f"127.0.0.1:{self.port}"
        if tls is None:
            self.port = self.server.add_insecure_port(bind)
        else:
            key, cert = (tls / SERVER_KEY_FILE).read_bytes(), (tls / SERVER_CERT_FILE).read_bytes()
            credentials = grpc.ssl_server_credentials([(key, cert)])
            self.port = self.server.add_secure_port(bind, credentials)
        self.server.start()
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=None).wait()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.stop()


def echo(channel: CollectorChannel, text: str, **kwargs: object) -> str:
    reply = channel.call(
        ECHO, wrappers_pb2.StringValue(value=text), wrappers_pb2.StringValue, **kwargs
    )  # type: ignore[arg-type]
    return reply.value


def refusal(address: str, ca_pem: bytes | None) -> RpcError:
    """The error a first call through a new channel ends in."""
    with CollectorChannel(address, ca_pem) as channel, pytest.raises(RpcError) as raised:
        echo(channel, "x", timeout=5)
    return raised.value


def test_a_call_carries_its_metadata_and_deadline_and_gets_the_answer(server: Server) -> None:
    address = server.start()
    with CollectorChannel(address, None) as channel:
        credential = [("authorization", "Bearer x")]
        assert echo(channel, "hello", timeout=5, metadata=credential) == "hello"
        assert echo(channel, "again", timeout=5) == "again"  # the kept connection
    first = server.seen[0]
    assert first["authorization"] == "Bearer x"
    assert first["user-agent"].startswith("commaudit-agent/")
    assert "authorization" not in server.seen[1]
    assert server.seen[1]["peer"] == first["peer"]  # one connection, kept


def test_a_status_its_message_and_trailers_reach_the_caller(server: Server) -> None:
    def refuse(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.set_trailing_metadata((("grpc-retry-pushback-ms", "1500"),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full: 100% (naïve)")

    server.handler = refuse
    with CollectorChannel(server.start(), None) as channel:
        with pytest.raises(RpcError) as raised:
            echo(channel, "x", timeout=5)
        assert raised.value.code == StatusCode.RESOURCE_EXHAUSTED
        assert raised.value.details == "queue full: 100% (naïve)"
        assert raised.value.trailers["grpc-retry-pushback-ms"] == "1500"
        server.handler = lambda request, context: request
        assert echo(channel, "after", timeout=5) == "after"
    assert server.seen[0]["peer"] == server.seen[1]["peer"]  # a refusal is no reason to reconnect


def test_an_unknown_method_is_unimplemented(server: Server) -> None:
    with CollectorChannel(server.start(), None) as channel, pytest.raises(RpcError) as raised:
        channel.call(agent_method("Report"), wrappers_pb2.StringValue(), wrappers_pb2.StringValue,
                     timeout=5)  # fmt: skip
    assert raised.value.code == StatusCode.UNIMPLEMENTED


def test_requests_and_answers_larger_than_the_flow_control_window_go_through(
    server: Server,
) -> None:
    """HTTP/2's initial window is 64 KiB: both directions must wait for window updates."""
    server.handler = lambda request, context: request + request  # 2 x 1.5 MB back
    big = "x" * 1_500_000
    with CollectorChannel(server.start(), None) as channel:
        for _ in range(3):
            reply = channel.call(ECHO, wrappers_pb2.StringValue(value=big),
                                 wrappers_pb2.BytesValue, timeout=20)  # fmt: skip
            assert reply.value == big.encode()


def test_the_deadline_bounds_a_slow_answer_and_the_server_is_told_it(server: Server) -> None:
    remaining: list[float | None] = []

    def slow(request: bytes, context: grpc.ServicerContext) -> bytes:
        remaining.append(context.time_remaining())
        time.sleep(1.5)
        return request

    server.handler = slow
    with CollectorChannel(server.start(), None) as channel:
        started = time.monotonic()
        with pytest.raises(RpcError) as raised:
            echo(channel, "x", timeout=0.4)
        took = time.monotonic() - started
        assert raised.value.code == StatusCode.DEADLINE_EXCEEDED
        assert took < 1.2
        assert remaining[0] is not None and 0 < remaining[0] <= 0.4
        server.handler = lambda request, context: request
        assert echo(channel, "next", timeout=5) == "next"  # reconnected


def test_cancel_stops_that_call_at_once_and_leaves_other_calls_alone(server: Server) -> None:
    release = threading.Event()

    def blocked(request: bytes, context: grpc.ServicerContext) -> bytes:
        if request.endswith(b"wait"):
            release.wait(10)
        return request

    server.handler = blocked
    token = threading.Event()
    outcome: list[BaseException | str] = []
    with CollectorChannel(server.start(), None) as channel:

        def waiting_call() -> None:
            try:
                outcome.append(echo(channel, "wait", timeout=10, cancel=token))
            except RpcError as error:
                outcome.append(error)

        caller = threading.Thread(target=waiting_call)
        caller.start()
        time.sleep(0.3)
        channel.cancel(threading.Event())  # someone else's token: nothing happens
        assert caller.is_alive()
        started = time.monotonic()
        channel.cancel(token)
        caller.join(5)
        assert time.monotonic() - started < 1.0
        release.set()
        (result,) = outcome
        assert isinstance(result, RpcError) and result.code == StatusCode.CANCELLED
        assert echo(channel, "fine", timeout=5) == "fine"
        with pytest.raises(RpcError) as raised:  # a cancelled token stays cancelled
            echo(channel, "x", timeout=5, cancel=token)
        assert raised.value.code == StatusCode.CANCELLED


def test_calls_from_two_threads_share_the_connection_one_at_a_time(server: Server) -> None:
    with CollectorChannel(server.start(), None) as channel, futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: echo(channel, str(i), timeout=10), range(40)))
    assert answers == [str(i) for i in range(40)]
    assert len(server.seen) == 40


def test_a_restarted_collector_is_reached_again_on_the_next_call(server: Server) -> None:
    address = server.start()
    with CollectorChannel(address, None) as channel:
        assert echo(channel, "one", timeout=5) == "one"
        server.stop()
        with pytest.raises(RpcError) as raised:
            echo(channel, "down", timeout=2)
        assert raised.value.code == StatusCode.UNAVAILABLE
        server.start()  # the same port
        assert echo(channel, "two", timeout=5) == "two"


def test_a_collector_stopping_gracefully_ends_the_call_in_flight_as_unavailable(
    server: Server,
) -> None:
    """GOAWAY: the agent retries (a Report is deduplicated), it does not wait for the grace."""
    entered = threading.Event()

    def slow(request: bytes, context: grpc.ServicerContext) -> bytes:
        entered.set()
        time.sleep(3)
        return request

    server.handler = slow
    address = server.start()
    with CollectorChannel(address, None) as channel:
        stopping = threading.Thread(
            target=lambda: (entered.wait(5), server.server and server.server.stop(grace=5).wait())
        )
        stopping.start()
        started = time.monotonic()
        with pytest.raises(RpcError) as raised:
            echo(channel, "x", timeout=10)
        assert raised.value.code == StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 2.5
        stopping.join(10)
        server.handler = lambda request, context: request
        server.start()
        assert echo(channel, "back", timeout=5) == "back"


def test_nothing_listening_is_unavailable_with_the_reason() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = refusal(f"127.0.0.1:{port}", None)
    assert refused.code == StatusCode.UNAVAILABLE
    assert refused.details == f"127.0.0.1:{port}: connection refused"


def test_tls_trusts_the_pinned_ca_and_nothing_else(server: Server, tmp_path: Path) -> None:
    create_tls(tmp_path / "real", ["127.0.0.1"])
    create_tls(tmp_path / "other", ["127.0.0.1"])
    address = server.start(tls=tmp_path / "real")
    with CollectorChannel(address, (tmp_path / "real" / CA_FILE).read_bytes()) as channel:
        assert echo(channel, "secure", timeout=5) == "secure"
    refused = refusal(address, (tmp_path / "other" / CA_FILE).read_bytes())
    assert refused.code == StatusCode.UNAVAILABLE
    assert "TLS certificate not trusted" in refused.details


def test_tls_checks_the_collectors_name(server: Server, tmp_path: Path) -> None:
    create_tls(tmp_path / "tls", ["collector.example"])  # not 127.0.0.1
    address = server.start(tls=tmp_path / "tls")
    refused = refusal(address, (tmp_path / "tls" / CA_FILE).read_bytes())
    assert refused.code == StatusCode.UNAVAILABLE
    assert "127.0.0.1" in refused.details and "not trusted" in refused.details


def test_a_plaintext_server_is_not_taken_for_tls(server: Server, tmp_path: Path) -> None:
    create_tls(tmp_path / "tls", ["127.0.0.1"])
    address = server.start()
    refused = refusal(address, (tmp_path / "tls" / CA_FILE).read_bytes())
    assert refused.code == StatusCode.UNAVAILABLE
    assert "TLS failed" in refused.details
