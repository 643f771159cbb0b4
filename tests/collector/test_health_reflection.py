"""The standard health and reflection services, asked over gRPC as a probe or grpcurl would."""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc  # type: ignore[import-untyped]
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (  # type: ignore[import-untyped]
    ProtoReflectionDescriptorDatabase,
)

from collector.writer_process import WriterProcess
from tests.collector.collector_harness import RunningCollector, StartCollector

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
AGENT = "commaudit.v1.AgentService"
ADMIN = "commaudit.v1.AdminService"


def check(collector: RunningCollector, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(collector.channel)
    status: int = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
    return status


def test_health_says_serving_for_the_server_and_each_service(
    collector: RunningCollector,
) -> None:
    assert [check(collector, name) for name in ("", AGENT, ADMIN)] == [SERVING] * 3


def test_health_does_not_know_a_service_the_collector_does_not_serve(
    collector: RunningCollector,
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        check(collector, "commaudit.v1.NoSuchService")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_watcher_hears_not_serving_as_soon_as_the_collector_begins_to_stop(
    collector: RunningCollector,
) -> None:
    stub = health_pb2_grpc.HealthStub(collector.channel)
    updates = stub.Watch(health_pb2.HealthCheckRequest(service=AGENT), timeout=20)
    assert next(updates).status == SERVING

    stopping = threading.Thread(target=collector.run, args=(collector.server.stop(grace=1),))
    stopping.start()
    try:
        assert next(updates).status == NOT_SERVING
    finally:
        updates.cancel()
        stopping.join(20)


def test_health_says_not_serving_once_the_writer_process_is_gone(
    start_collector: StartCollector,
) -> None:
    collector = start_collector(writer_process=True, publish_interval_s=0)
    writer = collector.server.writer
    assert isinstance(writer, WriterProcess)
    assert check(collector, AGENT) == SERVING

    os.kill(writer.pid or 0, signal.SIGKILL)

    deadline = time.monotonic() + 10
    while check(collector, "") == SERVING:
        assert time.monotonic() < deadline, "still SERVING without a writer"
        time.sleep(0.1)
    assert [check(collector, name) for name in ("", AGENT, ADMIN)] == [NOT_SERVING] * 3


def test_reflection_lists_the_collectors_services_health_and_reflection(
    collector: RunningCollector,
) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(collector.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")

    (response,) = stub.ServerReflectionInfo(iter([request]), timeout=10)

    assert sorted(service.name for service in response.list_services_response.service) == [
        ADMIN,
        AGENT,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ]


def test_reflection_describes_the_agent_service_with_its_messages(
    collector: RunningCollector,
) -> None:
    pool = DescriptorPool(ProtoReflectionDescriptorDatabase(collector.channel))

    service = pool.FindServiceByName(AGENT)

    report = service.methods_by_name["Report"]
    assert sorted(service.methods_by_name) == ["Enroll", "GetConfig", "Report"]
    assert report.input_type.full_name == "commaudit.v1.ReportRequest"
    events = report.input_type.fields_by_name["events"].message_type
    assert events is not None and events.full_name == "commaudit.v1.Event"
