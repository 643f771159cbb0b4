"""AgentService over a real gRPC server and a real DuckDB file: acks, dedupe, gaps, refusals."""

from __future__ import annotations

import uuid

import grpc
import pytest

from commaudit.v1 import agent_service_pb2, events_pb2
from tests.collector.collector_harness import (
    DEVICE,
    RunningCollector,
    StartCollector,
    make_batch,
    make_event,
    trailers,
)

Code = grpc.StatusCode


def stored_seqs(collector: RunningCollector, device: str = DEVICE) -> list[int]:
    rows = collector.rows(f"SELECT seq FROM events WHERE device_id = '{device}' ORDER BY seq")
    return [seq for (seq,) in rows]


def test_a_batch_is_stored_and_acked_with_its_highest_seq(collector: RunningCollector) -> None:
    assert collector.report(DEVICE, make_batch([1, 2, 3])).acked_seq == 3
    assert stored_seqs(collector) == [1, 2, 3]
    assert collector.rows("SELECT device_id, acked_seq FROM device_seq") == [(DEVICE, 3)]


def test_the_same_batch_again_is_acked_and_stored_once(collector: RunningCollector) -> None:
    events = make_batch([1, 2, 3])
    collector.report(DEVICE, events)
    assert collector.report(DEVICE, events).acked_seq == 3
    assert stored_seqs(collector) == [1, 2, 3]


def test_a_gap_is_recorded_and_acked_past_and_a_late_seq_inside_it_splits_it(
    collector: RunningCollector,
) -> None:
    collector.report(DEVICE, make_batch([1, 2, 3]))
    assert collector.report(DEVICE, make_batch([7, 8, 9])).acked_seq == 9
    gaps = "SELECT device_id, first_seq, last_seq FROM seq_gaps ORDER BY first_seq"
    assert collector.rows(gaps) == [(DEVICE, 4, 6)]
    assert collector.report(DEVICE, make_batch([5])).acked_seq == 9
    assert collector.rows(gaps) == [(DEVICE, 4, 4), (DEVICE, 6, 6)]
    assert stored_seqs(collector) == [1, 2, 3, 5, 7, 8, 9]


def test_the_device_comes_from_the_caller_not_from_the_payload(
    collector: RunningCollector,
) -> None:
    collector.report("desk-7", make_batch([1]))
    assert collector.report(DEVICE, make_batch([1, 2])).acked_seq == 2
    assert stored_seqs(collector, "desk-7") == [1]
    assert stored_seqs(collector) == [1, 2]


def unknown_kind() -> events_pb2.Event:
    """An event of a kind added after this collector: field 16, unknown here."""
    envelope = make_event(1)
    envelope.ClearField("kind")
    return events_pb2.Event.FromString(envelope.SerializeToString() + b"\x82\x01\x00")


def with_change(change: str) -> list[events_pb2.Event]:
    events = make_batch([1, 2])
    second = events[1]
    if change == "no kind":
        second.ClearField("kind")
    elif change == "bad event_id":
        second.event_id = "not-a-uuid"
    elif change == "before 2000":
        second.occurred_at_ms = 900_000_000_000
    elif change == "far future":
        second.occurred_at_ms += 10 * 365 * 86_400_000
    elif change == "unknown category":
        second.app_started.category = 42  # type: ignore[assignment]
    elif change == "descending seq":
        events.reverse()
    elif change == "long app_id":
        second.app_started.app_id = "a" * 129
    return events


@pytest.mark.parametrize(
    ("change", "message", "rejected_seq"),
    [
        ("no kind", "events[1].kind: not set (missing or unknown event kind)", "2"),
        ("bad event_id", "events[1].event_id: 'not-a-uuid' is not a UUID", "2"),
        ("before 2000", "events[1].occurred_at_ms: 1998-07-09T16:00:00Z is before 2000-01-01", "2"),
        ("far future", "events[1].occurred_at_ms: ", "2"),
        ("unknown category", "events[1].app_started.category: 42 is not a known value", "2"),
        ("descending seq", "events[1].seq: 1 does not follow 2 (seqs must strictly ascend)", "1"),
        ("long app_id", "events[1].app_started.app_id: 129 characters, over the limit of 128", "2"),
    ],
)
def test_an_invalid_event_is_refused_naming_its_field_and_its_seq(
    collector: RunningCollector, change: str, message: str, rejected_seq: str
) -> None:
    error = collector.refusal(DEVICE, with_change(change))
    assert error.code() == Code.INVALID_ARGUMENT
    assert error.details().startswith(message)
    assert trailers(error)["commaudit-rejected-seq"] == rejected_seq
    assert stored_seqs(collector) == []  # nothing of a refused batch is stored


def test_an_event_of_a_kind_newer_than_the_collector_is_refused_as_kind_not_set(
    collector: RunningCollector,
) -> None:
    error = collector.refusal(DEVICE, [unknown_kind()])
    assert error.code() == Code.INVALID_ARGUMENT
    assert error.details() == "events[0].kind: not set (missing or unknown event kind)"


def test_a_report_without_device_identity_is_unauthenticated(collector: RunningCollector) -> None:
    assert collector.refusal(None, make_batch([1])).code() == Code.UNAUTHENTICATED
    unknown = grpc.RpcError
    with pytest.raises(unknown) as raised:
        collector.stub.Report(
            agent_service_pb2.ReportRequest(events=make_batch([1])),
            metadata=(("authorization", "Bearer cad1.ghost." + "A" * 43),),
            timeout=10,
        )
    assert raised.value.code() == Code.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert raised.value.details() == "unknown device credential"  # type: ignore[attr-defined]


def test_an_event_naming_another_device_is_permission_denied(collector: RunningCollector) -> None:
    events = make_batch([1, 2])
    events[1].device_id = "someone-else"
    error = collector.refusal(DEVICE, events)
    assert error.code() == Code.PERMISSION_DENIED
    assert error.details().startswith("events[1].device_id: names device 'someone-else'")
    assert "commaudit-rejected-seq" not in trailers(error)


def test_get_config_without_device_identity_is_unauthenticated(
    collector: RunningCollector,
) -> None:
    with pytest.raises(grpc.RpcError) as config:
        collector.stub.GetConfig(agent_service_pb2.GetConfigRequest(), timeout=10)
    assert config.value.code() == Code.UNAUTHENTICATED


def test_a_reset_spool_is_told_to_renumber_and_nothing_of_it_is_stored_across_restarts(
    start_collector: StartCollector,
) -> None:
    spool_a, spool_b = str(uuid.uuid4()), str(uuid.uuid4())
    collector = start_collector()
    assert collector.report(DEVICE, make_batch([1, 2, 3]), spool_id=spool_a).acked_seq == 3
    collector.stop()
    collector = start_collector()  # the spool identity is persisted with the device's mark
    reset = collector.report(DEVICE, make_batch([1, 2]), spool_id=spool_b)
    assert (reset.acked_seq, reset.renumber_after) == (3, 3)
    assert collector.rows("SELECT count(*) FROM events") == [(3,)]
    resumed = collector.report(DEVICE, make_batch([4, 5]), spool_id=spool_b)
    assert (resumed.acked_seq, resumed.renumber_after) == (5, 0)
    assert collector.rows("SELECT spool_id FROM device_seq") == [(spool_b,)]


def test_a_spool_id_that_is_not_a_uuid_is_refused_naming_the_field(
    collector: RunningCollector,
) -> None:
    error = collector.refusal(DEVICE, make_batch([1]), spool_id="spool-7")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.details() or "").startswith("spool_id: 'spool-7' is not a UUID")
