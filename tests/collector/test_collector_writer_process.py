"""The writer in its own process, as `commaudit-collector serve` runs it: the same answers as in
process, refusals that cross the pipe as themselves, and a writer that dies takes nothing
acknowledged with it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import grpc
import pytest

from collector.enrollment import create_token, list_devices, register_device
from collector.writer_process import WriterGone, WriterProcess
from commaudit.v1 import agent_service_pb2
from tests.collector.collector_harness import RunningCollector, StartCollector, make_batch


def test_reports_enrollment_and_refusals_work_through_the_writer_process(
    start_collector: StartCollector,
) -> None:
    collector = start_collector(writer_process=True)
    assert isinstance(collector.server.writer, WriterProcess)
    assert collector.report("laptop-1", make_batch([1, 2, 3])).acked_seq == 3
    assert collector.report("laptop-1", make_batch([2, 3, 4])).acked_seq == 4  # dedupe
    token = collector.server.writer.transaction(
        create_token,
        org="city",
        ownership="employer",
        employee_id="",
        expires_in_s=600,
        operator_id="admin",
        now_ms=time.time_ns() // 10**6,
    )
    grant = collector.stub.Enroll(agent_service_pb2.EnrollRequest(token=token.token), timeout=10)
    with pytest.raises(grpc.RpcError) as again:
        collector.stub.Enroll(agent_service_pb2.EnrollRequest(token=token.token), timeout=10)
    # Unauthenticated raised in the writer process arrives here as itself.
    assert again.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert "was already used" in again.value.details()  # type: ignore[attr-defined]
    assert [d.device_id for d in collector.server.writer.transaction(list_devices)] == [
        "laptop-1",
        grant.device_id,
    ]
    assert collector.rows("SELECT seq FROM events ORDER BY seq") == [(1,), (2,), (3,), (4,)]


def test_a_database_error_in_the_writer_process_comes_back_as_itself(tmp_path: Path) -> None:
    writer = WriterProcess(tmp_path / "w.duckdb")
    try:
        writer.transaction(register_device, "d-1", org="city", ownership="employer", now_ms=1)
        with pytest.raises(Exception, match="Duplicate key") as raised:
            writer.transaction(register_device, "d-1", org="city", ownership="employer", now_ms=1)
        assert type(raised.value).__module__.startswith("_duckdb")
        assert writer.rows("SELECT device_id FROM devices") == [("d-1",)]  # rolled back whole
    finally:
        writer.close()


def test_a_writer_that_dies_refuses_reports_as_unavailable_and_acknowledges_nothing(
    tmp_path: Path,
) -> None:
    collector = RunningCollector(tmp_path / "collector", writer_process=True)
    try:
        writer = collector.server.writer
        assert isinstance(writer, WriterProcess)
        assert collector.report("laptop-2", make_batch([1])).acked_seq == 1
        os.kill(writer.pid, signal.SIGKILL)
        error = collector.refusal("laptop-2", make_batch([2]))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details() == "commit failed; nothing stored"
        with pytest.raises(WriterGone, match="the writer process is gone"):
            writer.rows("SELECT 1")
    finally:
        collector.stop()
    reopened = RunningCollector(tmp_path / "collector", writer_process=True)
    try:
        assert reopened.rows("SELECT device_id, seq FROM events") == [("laptop-2", 1)]
    finally:
        reopened.stop()
