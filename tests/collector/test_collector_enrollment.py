"""Enrollment end to end in one process: operators make tokens through AdminService, devices
redeem them through Enroll, revocation and the audit log (DESIGN.md §4)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc import StatusCode as Code

from collector.enrollment import add_operator, create_token
from collector.store import Store
from commaudit.v1 import admin_service_pb2, admin_service_pb2_grpc, agent_service_pb2
from tests.collector.collector_harness import (
    RunningCollector,
    StartCollector,
    make_batch,
    metadata,
)

HOUR_MS = 3_600_000


def now_ms() -> int:
    return time.time_ns() // 10**6


@pytest.fixture
def operators(tmp_path: Path) -> dict[str, str]:
    """An admin and an analyst, created before the collector starts, as `init` does."""
    (tmp_path / "collector").mkdir()
    store = Store(tmp_path / "collector" / "commaudit.duckdb")
    try:
        return {
            role: store.transaction(
                lambda con, role=role: add_operator(con, f"{role}-1", role, now_ms=now_ms())
            )
            for role in ("admin", "analyst")
        }
    finally:
        store.close()


def admin_stub(collector: RunningCollector) -> admin_service_pb2_grpc.AdminServiceStub:
    return admin_service_pb2_grpc.AdminServiceStub(collector.channel)


def new_token(
    collector: RunningCollector, credential: str, **fields: object
) -> admin_service_pb2.CreateEnrollmentTokenResponse:
    request = admin_service_pb2.CreateEnrollmentTokenRequest(
        org="city", ownership=agent_service_pb2.OWNERSHIP_EMPLOYER, expires_in_s=600
    )
    for name, value in fields.items():
        setattr(request, name, value)
    answer: admin_service_pb2.CreateEnrollmentTokenResponse = admin_stub(
        collector
    ).CreateEnrollmentToken(request, metadata=metadata(credential), timeout=10)
    return answer


def enroll(collector: RunningCollector, token: str) -> agent_service_pb2.EnrollResponse:
    answer: agent_service_pb2.EnrollResponse = collector.stub.Enroll(
        agent_service_pb2.EnrollRequest(
            token=token, hostname="Front Desk.corp", os="linux", agent_version="0.1.0"
        ),
        timeout=10,
    )
    return answer


def report(
    collector: RunningCollector, credential: str, seqs: list[int], device_id: str = ""
) -> agent_service_pb2.ReportResponse:
    events = make_batch(seqs)
    for event in events:
        event.device_id = device_id
    answer: agent_service_pb2.ReportResponse = collector.stub.Report(
        agent_service_pb2.ReportRequest(events=events), metadata=metadata(credential), timeout=10
    )
    return answer


def rpc_error(call: object, *args: object, **kwargs: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(*args, **kwargs)  # type: ignore[operator]
    return raised.value


def test_a_token_enrolls_one_device_which_then_reports_under_its_own_id(
    start_collector: StartCollector, operators: dict[str, str]
) -> None:
    collector = start_collector()
    token = new_token(
        collector,
        operators["admin"],
        org="library",
        ownership=agent_service_pb2.OWNERSHIP_PERSONAL,
        employee_id="E1001",
    )
    assert token.token.startswith(f"cat1.{token.token_id}.")
    assert token.expires_at_ms == pytest.approx(now_ms() + 600_000, abs=5_000)

    grant = enroll(collector, token.token)
    assert grant.device_id.startswith("Front-Desk-corp-")
    assert (grant.org, grant.ownership, grant.employee_id) == (
        "library",
        agent_service_pb2.OWNERSHIP_PERSONAL,
        "E1001",
    )
    assert grant.device_credential.startswith(f"cad1.{grant.device_id}.")
    assert report(collector, grant.device_credential, [1, 2], grant.device_id).acked_seq == 2

    again = rpc_error(enroll, collector, token.token)
    assert again.code() == Code.UNAUTHENTICATED
    assert again.details() == (
        f"enrollment token {token.token_id} was already used (by {grant.device_id})"
    )
    assert collector.rows(
        "SELECT device_id, org, ownership, employee_id, hostname, os, token_id FROM devices"
    ) == [
        (
            grant.device_id,
            "library",
            "personal",
            "E1001",
            "Front Desk.corp",
            "linux",
            token.token_id,
        )
    ]
    stored = collector.rows("SELECT device_id, seq FROM events ORDER BY seq")
    assert stored == [(grant.device_id, 1), (grant.device_id, 2)]
    secrets = collector.rows("SELECT secret_sha256 FROM enrollment_tokens")[0][0]
    assert token.token.split(".")[-1].encode() not in bytes(secrets)


def test_unknown_expired_and_forged_tokens_are_unauthenticated(
    start_collector: StartCollector, operators: dict[str, str]
) -> None:
    collector = start_collector()
    expired = collector.server.writer.transaction(
        create_token,
        **dict(
            org="city",
            ownership="employer",
            employee_id="",
            expires_in_s=3600,
            operator_id="admin-1",
            now_ms=now_ms() - 2 * HOUR_MS,
        ),
    )
    real = new_token(collector, operators["admin"])
    forged = real.token[:-4] + ("AAAA" if not real.token.endswith("AAAA") else "BBBB")
    cases = {
        expired.token: f"enrollment token {expired.token_id} has expired",
        forged: "unknown enrollment token",
        "cat1.00000000." + "A" * 43: "unknown enrollment token",
        "not-a-token": "not an enrollment token credential",
    }
    for token, message in cases.items():
        error = rpc_error(enroll, collector, token)
        assert (error.code(), error.details()) == (Code.UNAUTHENTICATED, message)
    assert collector.rows("SELECT count(*) FROM devices") == [(0,)]
    assert enroll(collector, real.token).device_id  # the real one still works, once


def test_two_devices_racing_for_one_token_enroll_exactly_one(
    start_collector: StartCollector, operators: dict[str, str]
) -> None:
    collector = start_collector()
    token = new_token(collector, operators["admin"]).token
    outcomes: list[object] = []
    start = threading.Barrier(8)

    def race() -> None:
        start.wait()
        try:
            outcomes.append(enroll(collector, token).device_id)
        except grpc.RpcError as error:
            outcomes.append(error.code())

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [o for o in outcomes if isinstance(o, str)]
    assert len(winners) == 1
    assert outcomes.count(Code.UNAUTHENTICATED) == 7
    assert collector.rows("SELECT device_id FROM devices") == [(winners[0],)]


def test_a_revoked_device_is_refused_at_once_and_after_a_restart_and_its_events_stay(
    start_collector: StartCollector, operators: dict[str, str]
) -> None:
    collector = start_collector()
    grant = enroll(collector, new_token(collector, operators["admin"]).token)
    assert report(collector, grant.device_credential, [1]).acked_seq == 1
    answer = admin_stub(collector).RevokeDevice(
        admin_service_pb2.RevokeDeviceRequest(device_id=grant.device_id, reason="laptop stolen"),
        metadata=metadata(operators["admin"]),
        timeout=10,
    )
    assert answer.revoked_at_ms == pytest.approx(now_ms(), abs=5_000)
    for running in (collector, None):
        if running is None:
            collector.stop()
            running = start_collector()
        error = rpc_error(report, running, grant.device_credential, [2])
        assert (error.code(), error.details()) == (
            Code.UNAUTHENTICATED,
            f"device {grant.device_id} has been revoked",
        )
    assert running.rows("SELECT seq FROM events") == [(1,)]
    listed = admin_stub(running).ListDevices(
        admin_service_pb2.ListDevicesRequest(), metadata=metadata(operators["analyst"]), timeout=10
    )
    assert [(d.device_id, d.revoke_reason) for d in listed.devices] == [
        (grant.device_id, "laptop stolen")
    ]
    assert listed.devices[0].revoked_at_ms == answer.revoked_at_ms


def test_a_device_speaking_for_another_is_permission_denied(
    start_collector: StartCollector, operators: dict[str, str]
) -> None:
    collector = start_collector()
    first = enroll(collector, new_token(collector, operators["admin"]).token)
    second = enroll(collector, new_token(collector, operators["admin"]).token)
    error = rpc_error(report, collector, second.device_credential, [1], first.device_id)
    assert error.code() == Code.PERMISSION_DENIED
    assert f"names device '{first.device_id}'" in error.details()
    assert collector.rows("SELECT count(*) FROM events") == [(0,)]


def test_roles_are_enforced_and_every_admin_call_is_audited(
    start_collector: StartCollector, operators: dict[str, str]
) -> None:
    collector = start_collector()
    denied = rpc_error(new_token, collector, operators["analyst"])
    assert (denied.code(), denied.details()) == (
        Code.PERMISSION_DENIED,
        "create_enrollment_token needs role admin; analyst-1 is analyst",
    )
    bad_org = rpc_error(new_token, collector, operators["admin"], org="county")
    assert (bad_org.code(), bad_org.details()) == (
        Code.INVALID_ARGUMENT,
        "org: 'county' is not one of city, library",
    )
    no_owner = rpc_error(new_token, collector, operators["admin"], ownership=0)
    assert no_owner.details() == "ownership: '' is not one of employer, personal"
    too_long = rpc_error(new_token, collector, operators["admin"], expires_in_s=91 * 86_400)
    assert too_long.details() == "expires_in_s: 7862400 is outside 60 s to 90 days"
    unknown = rpc_error(
        admin_stub(collector).RevokeDevice,
        admin_service_pb2.RevokeDeviceRequest(device_id="ghost", reason="x"),
        metadata=metadata(operators["admin"]),
        timeout=10,
    )
    assert (unknown.code(), unknown.details()) == (
        Code.NOT_FOUND,
        "device_id: no device 'ghost' has enrolled",
    )
    stranger = rpc_error(
        admin_stub(collector).ListDevices,
        admin_service_pb2.ListDevicesRequest(),
        metadata=metadata("cao1.admin-1." + "A" * 43),
        timeout=10,
    )
    assert (stranger.code(), stranger.details()) == (
        Code.UNAUTHENTICATED,
        "unknown operator credential",
    )
    made = new_token(collector, operators["admin"], employee_id="E9")
    assert collector.rows(
        "SELECT operator_id, role, action, target, outcome FROM audit_log ORDER BY logged_at"
    ) == [
        ("analyst-1", "analyst", "create_enrollment_token", None, "denied"),
        (
            "admin-1",
            "admin",
            "create_enrollment_token",
            "county/employer",
            "refused: org: 'county' is not one of city, library",
        ),
        (
            "admin-1",
            "admin",
            "create_enrollment_token",
            "city/?",
            "refused: ownership: '' is not one of employer, personal",
        ),
        (
            "admin-1",
            "admin",
            "create_enrollment_token",
            "city/employer",
            "refused: expires_in_s: 7862400 is outside 60 s to 90 days",
        ),
        (
            "admin-1",
            "admin",
            "revoke_device",
            "ghost",
            "refused: device_id: no device 'ghost' has enrolled",
        ),
        ("admin-1", "admin", "create_enrollment_token", "city/employer/E9", "ok"),
    ]
    assert made.token_id in str(collector.rows("SELECT token_id FROM enrollment_tokens"))


def test_an_oversized_enroll_field_is_invalid_argument_naming_it(
    start_collector: StartCollector,
) -> None:
    collector = start_collector()
    error = rpc_error(
        collector.stub.Enroll,
        agent_service_pb2.EnrollRequest(token="cat1.x." + "A" * 43, hostname="h" * 300),
        timeout=10,
    )
    assert (error.code(), error.details()) == (
        Code.INVALID_ARGUMENT,
        "hostname: 300 characters, at most 253 allowed",
    )
