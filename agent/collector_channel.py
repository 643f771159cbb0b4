"""The agent's gRPC channel to the collector: unary calls over one kept HTTP/2 connection.

The agent speaks the gRPC wire protocol (HTTP/2, `application/grpc`, status in trailers) through
h2 and the standard ssl module instead of grpcio. grpcio's C core, its threads and their memory
made up a third of the agent's resident memory (issue 7: RSS <= 45 MB), and its pollers a good
part of its idle CPU, while the agent needs only a few unary calls a minute. The collector is
still a grpcio server; the contract (proto/) is unchanged.

One call at a time: the sender, the central-config poller and the CLI each make a call and wait
for it, so a call never needs more than one stream and holds the connection until it ends. The
connection is made on the first call and kept (a new TLS session per send costs the collector
1.35 ms each, measured); any failure drops it and the next call connects again, which is the
reconnect. A call is bounded by its deadline everywhere it can wait: connecting, the TLS
handshake, the send and the answer. No thread of its own and no timer: between calls the agent
pays nothing for its channel.

A collector that stops sends GOAWAY, and h2 closes the connection on it: a call in flight then
ends UNAVAILABLE even if the collector would still have answered it. That is safe for what the
agent sends: a Report is retried and the collector deduplicates it by (device, seq); GetConfig
is asked again.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from google.protobuf.message import DecodeError, Message

from agent.config import split_address
from agent.events import AGENT_VERSION
from commaudit.v1 import agent_service_pb2

Reply = TypeVar("Reply", bound=Message)
Metadata = Sequence[tuple[str, str]]

_READ_SIZE = 65_536
_HEADER_BYTES = 5  # gRPC message prefix: compressed flag, 4-byte big-endian length
MAX_REPLY_BYTES = 4 * 1024 * 1024
"""grpcio's default receive limit, which the collector's answers were built for."""


AGENT_SERVICE = agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"]


def agent_method(name: str) -> str:
    """The path of an AgentService method, from the contract itself (a typo is a KeyError)."""
    return f"/{AGENT_SERVICE.full_name}/{AGENT_SERVICE.methods_by_name[name].name}"


class StatusCode(enum.IntEnum):
    """gRPC status codes (grpc/doc/statuscodes.md); names as grpcio spells them."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# An answer without grpc-status: gRPC's HTTP-to-gRPC mapping (grpc/doc/http-grpc-status-mapping.md).
_HTTP_STATUS = {
    400: StatusCode.INTERNAL,
    401: StatusCode.UNAUTHENTICATED,
    403: StatusCode.PERMISSION_DENIED,
    404: StatusCode.UNIMPLEMENTED,
    429: StatusCode.UNAVAILABLE,
    502: StatusCode.UNAVAILABLE,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.UNAVAILABLE,
}


class RpcError(Exception):
    """A call that did not return an answer: the status, its message and the trailers."""

    def __init__(
        self, code: StatusCode, details: str, trailers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.trailers = trailers or {}


class CollectorChannel:
    """Unary gRPC calls to one collector, over TLS pinned to `ca_pem`, or plaintext when it is
    None (the caller has checked that plaintext goes to loopback only)."""

    def __init__(self, address: str, ca_pem: bytes | None) -> None:
        self.address = address
        self._host, self._port = split_address(address)
        self._tls = _tls_context(ca_pem) if ca_pem is not None else None
        self._authority = f"[{self._host}]" if ":" in self._host else self._host
        self._authority += f":{self._port}"
        self._call_lock = threading.Lock()  # one call on the connection at a time
        self._state_lock = threading.Lock()  # guards the two fields below
        self._sock: socket.socket | None = None
        self._active: threading.Event | None = None
        self._h2: h2.connection.H2Connection | None = None

    def __enter__(self) -> CollectorChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._call_lock:
            self._drop()

    def cancel(self, token: threading.Event) -> None:
        """Cancel the call made with `cancel=token`, waiting or in flight (it raises CANCELLED);
        another caller's call is left alone."""
        token.set()
        with self._state_lock:
            if self._active is token and self._sock is not None:
                _shutdown(self._sock)

    def call(
        self,
        method: str,
        request: Message,
        reply_type: type[Reply],
        *,
        timeout: float,
        metadata: Metadata = (),
        cancel: threading.Event | None = None,
    ) -> Reply:
        """The answer to `request` at `method` ('/package.Service/Method'), within `timeout`
        seconds, or RpcError with the collector's status (or UNAVAILABLE, DEADLINE_EXCEEDED,
        CANCELLED for what happened on the way)."""
        deadline = time.monotonic() + timeout
        token = cancel or threading.Event()
        self._wait_turn(token, deadline)
        try:
            with self._state_lock:
                self._active = token
            if token.is_set():
                raise RpcError(StatusCode.CANCELLED, "cancelled before it was sent")
            payload = request.SerializeToString()
            try:
                answer = self._exchange(method, payload, metadata, deadline)
            except (RpcError, OSError, h2.exceptions.H2Error) as error:
                self._drop()
                if token.is_set():  # cancel shut the socket: whatever broke, that is why
                    raise RpcError(StatusCode.CANCELLED, "cancelled") from None
                if isinstance(error, RpcError):
                    raise
                if isinstance(error, TimeoutError):
                    raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded") from None
                raise RpcError(StatusCode.UNAVAILABLE, _describe(error, self.address)) from None
        finally:
            with self._state_lock:
                self._active = None
            self._call_lock.release()
        raw = answer.message()  # a status the collector sent: the connection stays
        try:
            return reply_type.FromString(raw)
        except DecodeError as error:
            raise RpcError(StatusCode.INTERNAL, f"answer does not parse: {error}") from None

    def _wait_turn(self, token: threading.Event, deadline: float) -> None:
        """Takes the connection once the call before ends; a cancel or the deadline stop the
        wait (checked every 0.1 s: only while two calls meet, which is rare)."""
        while not self._call_lock.acquire(timeout=min(0.1, max(0.0, deadline - time.monotonic()))):
            if token.is_set():
                raise RpcError(StatusCode.CANCELLED, "cancelled before it was sent")
            if time.monotonic() >= deadline:
                raise RpcError(StatusCode.DEADLINE_EXCEEDED, "another call held the channel")

    def _exchange(
        self, method: str, payload: bytes, metadata: Metadata, deadline: float
    ) -> _Answer:
        sock, conn = self._connection(deadline)
        if self._active is not None and self._active.is_set():  # cancelled while connecting
            raise RpcError(StatusCode.CANCELLED, "cancelled before it was sent")
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, self._headers(method, metadata, deadline))
        body = len(payload).to_bytes(_HEADER_BYTES, "big") + payload  # flag 0: not compressed
        answer = _Answer(stream)
        sent = 0
        while not answer.done:
            room = 0
            if sent < len(body):
                room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size)
                if room > 0:
                    chunk = body[sent : sent + room]
                    sent += len(chunk)
                    conn.send_data(stream, chunk, end_stream=sent == len(body))
            _send_all(sock, conn.data_to_send(), deadline)
            if room > 0 and sent < len(body):
                continue  # more fits in the window: no need to wait for the collector
            data = _receive(sock, deadline)
            if not data:
                raise RpcError(StatusCode.UNAVAILABLE, "the collector closed the connection")
            for event in conn.receive_data(data):
                answer.take(event, conn)
        if sent < len(body) or answer.going_away:  # cut short, or the collector is leaving
            self._drop()
        else:
            _send_all(sock, conn.data_to_send(), deadline)  # window updates, settings acks
        return answer

    def _connection(self, deadline: float) -> tuple[socket.socket, h2.connection.H2Connection]:
        if self._sock is not None and self._h2 is not None and self._still_open(self._sock):
            return self._sock, self._h2
        self._drop()
        sock = socket.create_connection((self._host, self._port), timeout=_left(deadline))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if self._tls is not None:
                sock.settimeout(_left(deadline))
                sock = self._tls.wrap_socket(sock, server_hostname=self._host)
                if sock.selected_alpn_protocol() != "h2":
                    raise RpcError(StatusCode.UNAVAILABLE, f"{self.address} does not speak HTTP/2")
        except BaseException:
            sock.close()
            raise
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        with self._state_lock:
            self._sock, self._h2 = sock, conn
        return sock, conn

    def _still_open(self, sock: socket.socket) -> bool:
        """Whether a kept connection can carry a call: an idle connection the collector closed
        or sent GOAWAY on has bytes (or EOF) waiting; they are read here, not after a send."""
        assert self._h2 is not None
        sock.setblocking(False)
        try:
            while True:
                data = sock.recv(_READ_SIZE)
                if not data:
                    return False
                for event in self._h2.receive_data(data):
                    if isinstance(event, h2.events.ConnectionTerminated):
                        return False
        except (BlockingIOError, ssl.SSLWantReadError):
            return True
        except (OSError, h2.exceptions.H2Error):
            return False
        finally:
            if sock.fileno() != -1:
                sock.setblocking(True)

    def _headers(self, method: str, metadata: Metadata, deadline: float) -> list[tuple[str, str]]:
        millis = max(1, int(_left(deadline) * 1000))
        return [
            (":method", "POST"),
            (":scheme", "https" if self._tls is not None else "http"),
            (":path", method),
            (":authority", self._authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("grpc-timeout", f"{millis}m" if millis < 10**8 else f"{millis // 1000}S"),
            ("user-agent", f"commaudit-agent/{AGENT_VERSION}"),
            *metadata,
        ]

    def _drop(self) -> None:
        with self._state_lock:
            sock, self._sock, self._h2 = self._sock, None, None
        if sock is not None:
            _shutdown(sock)
            sock.close()


class _Answer:
    """What one stream brought back: headers, the message bytes and the trailers."""

    def __init__(self, stream: int) -> None:
        self.stream = stream
        self.done = False
        self.http_status = 0
        self.body = bytearray()
        self.metadata: dict[str, str] = {}
        self.going_away = False
        """GOAWAY came after this answer: the answer stands, the connection does not."""

    def take(self, event: h2.events.Event, conn: h2.connection.H2Connection) -> None:
        if isinstance(event, h2.events.ConnectionTerminated):
            if not self.done:
                raise RpcError(StatusCode.UNAVAILABLE, "the collector is going away (GOAWAY)")
            self.going_away = True
            return
        if getattr(event, "stream_id", None) != self.stream:
            return
        if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
            for name, value in event.headers:
                key, text = _text(name), _text(value)
                if key == ":status":
                    self.http_status = int(text)
                elif not key.startswith(":"):
                    self.metadata[key] = text
        elif isinstance(event, h2.events.DataReceived):
            conn.acknowledge_received_data(event.flow_controlled_length, self.stream)
            self.body += event.data
            if len(self.body) > MAX_REPLY_BYTES + _HEADER_BYTES:
                raise RpcError(StatusCode.RESOURCE_EXHAUSTED, "answer over 4 MiB")
        elif isinstance(event, h2.events.StreamReset):
            raise RpcError(StatusCode.UNAVAILABLE, f"stream reset ({event.error_code!r})")
        if isinstance(event, h2.events.StreamEnded):  # h2 reports it apart from the frame
            self.done = True

    def message(self) -> bytes:
        """The answer's message, or RpcError with its status."""
        status = self.metadata.get("grpc-status")
        if status is None:
            code = _HTTP_STATUS.get(self.http_status, StatusCode.UNKNOWN)
            raise RpcError(code, f"HTTP {self.http_status} without a gRPC status")
        try:
            code = StatusCode(int(status))
        except ValueError:
            code = StatusCode.UNKNOWN
        if code != StatusCode.OK:
            details = unquote(self.metadata.get("grpc-message", ""))
            raise RpcError(code, details, self.metadata)
        body = bytes(self.body)
        if len(body) < _HEADER_BYTES or body[0] != 0:
            raise RpcError(StatusCode.INTERNAL, "the answer is missing or compressed")
        length = int.from_bytes(body[1:_HEADER_BYTES], "big")
        if len(body) != _HEADER_BYTES + length:
            raise RpcError(StatusCode.INTERNAL, "the answer's length does not match its prefix")
        return body[_HEADER_BYTES:]


def _tls_context(ca_pem: bytes) -> ssl.SSLContext:
    """Trusts the pinned CA alone (not the system's), checks the collector's name, HTTP/2."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=ca_pem.decode("ascii", "replace"))
    context.set_alpn_protocols(["h2"])
    return context


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _send_all(sock: socket.socket, data: bytes, deadline: float) -> None:
    if data:
        sock.settimeout(_left(deadline))
        sock.sendall(data)


def _receive(sock: socket.socket, deadline: float) -> bytes:
    sock.settimeout(_left(deadline))
    return sock.recv(_READ_SIZE)


def _shutdown(sock: socket.socket) -> None:
    """Wakes a call blocked on this socket in another thread."""
    with contextlib.suppress(OSError):  # not connected, or already closed
        sock.shutdown(socket.SHUT_RDWR)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _describe(error: Exception, address: str) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"{address}: TLS certificate not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"{address}: TLS failed ({error.reason or error})"
    if isinstance(error, ConnectionRefusedError):
        return f"{address}: connection refused"
    if isinstance(error, socket.gaierror):
        return f"{address}: name not resolved ({error.strerror})"
    if isinstance(error, OSError):
        return f"{address}: {error.strerror or error}"
    return f"{address}: HTTP/2 protocol error ({error})"
