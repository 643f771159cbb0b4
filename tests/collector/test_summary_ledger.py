"""The weekly summaries' send ledger over real gRPC (collector/summary_ledger.py): a claim is
refused while another run holds it and once the email was sent, lapses after CLAIM_TTL, and an
outcome is recorded once; only admins may touch it, and weeks are Mondays."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from collector.enrollment import add_operator
from collector.store import Store
from collector.summary_ledger import CLAIM_TTL
from commaudit.v1 import admin_service_pb2 as pb
from commaudit.v1 import admin_service_pb2_grpc
from tests.collector.collector_harness import RunningCollector, metadata

MONDAY = datetime(2026, 11, 16, tzinfo=UTC)
WEEK_MS = int(MONDAY.timestamp() * 1000)


class Clock:
    """The collector's clock, moved by the test to show a claim lapsing."""

    def __init__(self) -> None:
        self.now_ms = int(datetime(2026, 11, 23, 14, tzinfo=UTC).timestamp() * 1000)

    def __call__(self) -> int:
        return self.now_ms


class Ledger:
    def __init__(self, collector: RunningCollector, admin: str, analyst: str) -> None:
        self.stub = admin_service_pb2_grpc.AdminServiceStub(collector.channel)
        self.admin, self.analyst = admin, analyst

    def call(self, method: str, request: object, credential: str | None = None) -> object:
        return getattr(self.stub, method)(
            request, metadata=metadata(credential or self.admin), timeout=20
        )

    def claim(self, director: str = "E100", week_ms: int = WEEK_MS) -> pb.ClaimSummaryResponse:
        answer = self.call("ClaimSummary", pb.ClaimSummaryRequest(
            week_start_ms=week_ms, director_id=director, recipient="Dana <d@city.example>",
            message_id="<summary.2026-W47.E100@city.example>"))  # fmt: skip
        assert isinstance(answer, pb.ClaimSummaryResponse)
        return answer

    def record(self, attempt: int, status: str, director: str = "E100") -> pb.SummaryAttempt:
        answer = self.call("RecordSummary", pb.RecordSummaryRequest(
            week_start_ms=WEEK_MS, director_id=director, attempt=attempt, status=status,
            detail=f"{status} by the test"))  # fmt: skip
        assert isinstance(answer, pb.SummaryAttempt)
        return answer

    def attempts(self) -> list[tuple[str, int, str]]:
        answer = self.call("ListSummaries", pb.ListSummariesRequest(week_start_ms=WEEK_MS))
        assert isinstance(answer, pb.ListSummariesResponse)
        return [(a.director_id, a.attempt, a.status) for a in answer.attempts]

    def refusal(self, method: str, request: object, credential: str | None = None) -> grpc.Call:
        with pytest.raises(grpc.RpcError) as raised:
            self.call(method, request, credential)
        error = raised.value
        assert isinstance(error, grpc.Call)
        return error


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    store = Store(tmp_path / "commaudit.duckdb")
    now = time.time_ns() // 10**6
    admin = store.transaction(lambda con: add_operator(con, "root", "admin", now_ms=now))
    analyst = store.transaction(lambda con: add_operator(con, "ana", "analyst", now_ms=now))
    store.close()
    collector = RunningCollector(tmp_path, publish_interval_s=0, admin_clock=clock)
    yield Ledger(collector, admin, analyst)
    collector.stop()


def test_a_claim_is_refused_while_held_and_after_the_email_was_sent(
    ledger: Ledger, clock: Clock
) -> None:
    first = ledger.claim()
    assert (first.claimed, first.attempt) == (True, 1)
    held = ledger.claim()
    assert not held.claimed and held.reason.startswith("being sent by root since 14:00:00 UTC")
    assert ledger.record(1, "failed").status == "failed"
    clock.now_ms += 60_000
    retry = ledger.claim()
    assert (retry.claimed, retry.attempt, retry.latest.status) == (True, 2, "failed")
    ledger.record(2, "sent")
    again = ledger.claim()
    assert not again.claimed and again.reason == "sent 2026-11-23 14:01 UTC"
    assert ledger.attempts() == [("E100", 1, "failed"), ("E100", 2, "sent")]
    # another director and another week are separate entries
    assert ledger.claim(director="E200").claimed
    assert ledger.claim(week_ms=WEEK_MS + 7 * 86_400_000).attempt == 1


def test_a_claim_left_by_a_run_that_died_lapses_after_its_ttl(ledger: Ledger, clock: Clock) -> None:
    assert ledger.claim().claimed
    clock.now_ms += int((CLAIM_TTL - timedelta(seconds=1)).total_seconds() * 1000)
    assert not ledger.claim().claimed
    clock.now_ms += 2000
    lapsed = ledger.claim()
    assert (lapsed.claimed, lapsed.attempt, lapsed.latest.status) == (True, 2, "claimed")


def test_an_outcome_is_recorded_once_and_only_for_an_open_claim(ledger: Ledger) -> None:
    ledger.claim()
    ledger.record(1, "sent")
    twice = ledger.refusal("RecordSummary", pb.RecordSummaryRequest(
        week_start_ms=WEEK_MS, director_id="E100", attempt=1, status="failed"))  # fmt: skip
    assert twice.code() == grpc.StatusCode.NOT_FOUND
    assert twice.details() == "no open claim 1 for director 'E100' in the week of 2026-11-16"
    ledger.claim(director="E200")
    bad = ledger.refusal("RecordSummary", pb.RecordSummaryRequest(
        week_start_ms=WEEK_MS, director_id="E200", attempt=1, status="delivered"))  # fmt: skip
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'delivered' is not one of sent, refused, failed, no_address" in bad.details()
    assert ledger.attempts() == [("E100", 1, "sent"), ("E200", 1, "claimed")]


def test_only_admins_touch_the_ledger_and_weeks_start_on_monday(ledger: Ledger) -> None:
    listing = pb.ListSummariesRequest(week_start_ms=WEEK_MS)
    denied = ledger.refusal("ListSummaries", listing, ledger.analyst)
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    tuesday = pb.ListSummariesRequest(week_start_ms=WEEK_MS + 86_400_000)
    wrong = ledger.refusal("ListSummaries", tuesday)
    assert wrong.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert wrong.details() == f"week_start_ms {WEEK_MS + 86_400_000} is not a Monday 00:00 UTC"
    no_message_id = ledger.refusal("ClaimSummary", pb.ClaimSummaryRequest(
        week_start_ms=WEEK_MS, director_id="E100"))  # fmt: skip
    assert no_message_id.code() == grpc.StatusCode.INVALID_ARGUMENT
    stream = ledger.call(
        "WeeklySummaries", pb.WeeklySummariesRequest(week_start_ms=WEEK_MS), ledger.analyst
    )
    with pytest.raises(grpc.RpcError) as raised:
        list(stream)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
