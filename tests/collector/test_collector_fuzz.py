"""Garbage, truncated and mutated Report bytes against a real collector: a precise status every
time, no crash, no event stored twice, and the collector keeps serving."""

from __future__ import annotations

from pathlib import Path

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commaudit.v1 import agent_service_pb2
from tests.collector.collector_harness import (
    DEVICE,
    RunningCollector,
    make_batch,
    make_event,
)

REPORT = "/commaudit.v1.AgentService/Report"
# What a malformed request may get: refused as invalid or as speaking for another device, or
# stored when the mutation happens to be a valid request. Never UNKNOWN, INTERNAL, UNAVAILABLE.
ALLOWED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED}

KINDS_SENT = ("app_started", "heartbeat", "app_stopped", "agent_lifecycle", "app_installed")
VALID = agent_service_pb2.ReportRequest(
    events=[make_event(seq, kind) for seq, kind in enumerate(KINDS_SENT, start=1)]
).SerializeToString()


def mutations() -> st.SearchStrategy[bytes]:
    cut = st.integers(0, len(VALID))
    truncated = cut.map(lambda at: VALID[:at])
    flipped = st.tuples(cut, st.integers(1, 255)).map(
        lambda t: (
            VALID[: t[0]]
            + bytes([(VALID[t[0]] ^ t[1]) if t[0] < len(VALID) else t[1]])
            + VALID[t[0] + 1 :]
        )
    )
    spliced = st.tuples(cut, st.binary(max_size=16)).map(lambda t: VALID[: t[0]] + t[1])
    return st.one_of(st.binary(max_size=4096), truncated, flipped, spliced)


def test_malformed_requests_get_a_precise_status_and_the_collector_keeps_serving(
    tmp_path: Path,
) -> None:
    running = RunningCollector(tmp_path / "fuzz.duckdb")
    try:
        raw_report = running.channel.unary_unary(
            REPORT,
            request_serializer=None,
            response_deserializer=agent_service_pb2.ReportResponse.FromString,
        )
        seen: set[grpc.StatusCode] = set()

        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        @given(mutations())
        def send(raw: bytes) -> None:
            try:
                raw_report(raw, metadata=running.metadata(DEVICE), timeout=10)
                seen.add(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                assert error.code() in ALLOWED, (error.code(), error.details())
                seen.add(error.code())

        send()
        assert grpc.StatusCode.INVALID_ARGUMENT in seen
        [(total, distinct)] = running.server.writer.rows(
            "SELECT count(*), count(DISTINCT seq) FROM events WHERE device_id = ?", [DEVICE]
        )
        assert total == distinct
        after = running.report("after-fuzz", make_batch([1, 2]))
        assert after.acked_seq == 2
    finally:
        running.stop()


def test_a_request_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    running = RunningCollector(tmp_path / "big.duckdb")
    try:
        event = make_event(1, "agent_lifecycle")
        event.agent_lifecycle.detail = "x" * (5 * 1024 * 1024)
        error = running.refusal(DEVICE, [event])
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in (error.details() or "")
    finally:
        running.stop()
