"""Test harness for the collector: valid events of every kind, and a collector in a thread.

A module with a unique name (not conftest) so test files can import its types and builders:
test directories have no __init__.py, and every conftest in the tree is named the same.
The collector runs its grpc.aio server on an event loop in a helper thread; tests talk to it
through a real (synchronous) channel and stub, and read its DuckDB file through Store.cursor().
Devices are registered with the ids the tests name (enrollment.register_device, the step Enroll
ends with) so that stored rows are easy to state by hand; Enroll itself is tested on its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from collector.enrollment import register_device
from collector.lake import lake_exists
from collector.server import CollectorServer, start_server
from commaudit.v1 import agent_service_pb2, agent_service_pb2_grpc, events_pb2

T = TypeVar("T")
DEVICE = "laptop-0042"
SESSION = "7d9c7a8e-0f4b-4b8e-9d52-3f1b2f0c6a11"
KINDS = (
    "app_started",
    "app_stopped",
    "heartbeat",
    "app_installed",
    "app_removed",
    "agent_lifecycle",
)


def payload(kind: str) -> Any:
    """A valid message of each event kind."""
    app: dict[str, Any] = {"app_id": "slack", "category": events_pb2.CATEGORY_INSTANT_MESSAGING}
    user: dict[str, Any] = {"session_id": SESSION, "os_user": "alice", **app}
    messages: dict[str, Any] = {
        "app_started": events_pb2.AppStarted(process_count=2, **user),
        "app_stopped": events_pb2.AppStopped(
            duration_ms=60_000, reason=events_pb2.AppStopped.REASON_EXITED, **user
        ),
        "heartbeat": events_pb2.Heartbeat(
            running=[events_pb2.RunningApp(process_count=1, **user)],
            agent_version="0.1.0",
            catalog_version="2025.10",
            spool_depth=3,
            uptime_ms=90_000,
        ),
        "app_installed": events_pb2.AppInstalled(path="/usr/share/applications/slack", **app),
        "app_removed": events_pb2.AppRemoved(path="/usr/share/applications/slack", **app),
        "agent_lifecycle": events_pb2.AgentLifecycle(
            kind=events_pb2.AgentLifecycle.KIND_EVENTS_DROPPED,
            detail="spool full",
            first_seq=4,
            last_seq=6,
            count=3,
        ),
    }
    return messages[kind]


def make_event(
    seq: int, kind: str = "app_started", *, occurred_at_ms: int | None = None
) -> events_pb2.Event:
    """A valid event; occurred now unless told otherwise."""
    event = events_pb2.Event(
        seq=seq,
        event_id=str(uuid.uuid4()),
        occurred_at_ms=time.time_ns() // 10**6 if occurred_at_ms is None else occurred_at_ms,
    )
    getattr(event, kind).CopyFrom(payload(kind))
    return event


def make_batch(seqs: Sequence[int], kind: str = "app_started") -> list[events_pb2.Event]:
    return [make_event(seq, kind) for seq in seqs]


class RunningCollector:
    """A collector served from a helper thread's event loop, with a client stub."""

    # Credentials outlive a collector: a test may restart one on the same state directory.
    _credentials: dict[tuple[Path, str], str] = {}  # noqa: RUF012

    def __init__(self, state_dir: Path, **options: Any) -> None:
        self.state_dir = state_dir
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        plaintext = options.pop("plaintext", True)
        self.server: CollectorServer = self.run(
            start_server(state_dir, "127.0.0.1:0", plaintext=plaintext, **options)
        )
        self.address = f"127.0.0.1:{self.server.port}"
        if plaintext:
            self.channel = grpc.insecure_channel(self.address)
        else:  # TLS material made by the test in state_dir/tls; the client pins its CA
            ca = grpc.ssl_channel_credentials((state_dir / "tls" / "ca.pem").read_bytes())
            self.channel = grpc.secure_channel(self.address, ca)
        self.stub = agent_service_pb2_grpc.AgentServiceStub(self.channel)

    def credential(self, device_id: str, ownership: str = "employer") -> str:
        """The device's credential, registering the device the first time it is asked for."""
        key = (self.state_dir, device_id)
        if key not in self._credentials:
            grant = self.server.writer.transaction(
                register_device,
                device_id,
                org="city",
                ownership=ownership,
                now_ms=time.time_ns() // 10**6,
            )
            self.server.device_keys.add(grant.device_id, grant.key_sha256)
            self._credentials[key] = grant.credential
        return self._credentials[key]

    def metadata(self, device_id: str | None) -> tuple[tuple[str, str], ...]:
        """The call metadata of `device_id`; none at all for None."""
        return metadata(self.credential(device_id)) if device_id is not None else ()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def report(
        self, device_id: str | None, events: Sequence[events_pb2.Event], spool_id: str = ""
    ) -> agent_service_pb2.ReportResponse:
        request = agent_service_pb2.ReportRequest(events=events, spool_id=spool_id)
        response: agent_service_pb2.ReportResponse = self.stub.Report(
            request, metadata=self.metadata(device_id), timeout=20
        )
        return response

    def refusal(
        self, device_id: str | None, events: Sequence[events_pb2.Event], spool_id: str = ""
    ) -> grpc.RpcError:
        """The error a Report that must fail raises."""
        with pytest.raises(grpc.RpcError) as raised:
            self.report(device_id, events, spool_id)
        return raised.value

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.server.writer.rows(sql)

    def stop(self) -> None:
        """Stop the server and its loop; a second call does nothing."""
        if self._loop.is_closed():
            return
        self.channel.close()
        try:
            self.run(self.server.stop(grace=1))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


StartCollector = Callable[..., RunningCollector]
"""The start_collector fixture: start_collector(**start_server options)."""


def wait_published(lake_dir: Path, timeout: float = 30) -> None:
    """Until the collector's first publish has committed (it publishes once at start)."""
    deadline = time.monotonic() + timeout
    while not lake_exists(lake_dir):
        assert time.monotonic() < deadline, "the collector never published"
        time.sleep(0.1)


def metadata(credential: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {credential}"),)


def trailers(error: grpc.RpcError) -> dict[str, str]:
    return dict(error.trailing_metadata() or ())
