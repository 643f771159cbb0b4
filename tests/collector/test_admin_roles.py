"""Who may do what through AdminService (§4.1 "appropriate staff", §4.4 "within their
workgroups"), over real gRPC: each refusal has its status, and each is in the audit log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from collector.enrollment import add_operator
from collector.store import Store
from commaudit.v1 import admin_service_pb2 as pb
from commaudit.v1 import admin_service_pb2_grpc
from tests.collector.collector_harness import RunningCollector, metadata

WORKGROUPS = b"""workgroup_id,org,name,director_id,effective_from
city-fin,city,Finance,C4001,2025-01-06
city-pu,city,Public Utilities,C2001,2025-01-06
"""
EMPLOYEES = b"""employee_id,org,full_name,email,workgroup_id,manager_id,effective_from
C4001,city,Robert Chen,,city-fin,,2025-01-06
C2001,city,Maria Delgado,,city-pu,,2025-01-06
"""


class Admin:
    def __init__(self, collector: RunningCollector, credential: str) -> None:
        self.stub = admin_service_pb2_grpc.AdminServiceStub(collector.channel)
        self.collector = collector
        self.credential = credential

    def call(self, method: str, request: object, credential: str | None = None) -> object:
        return getattr(self.stub, method)(
            request, metadata=metadata(credential or self.credential), timeout=20
        )

    def refused(self, method: str, request: object, credential: str) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as raised:
            self.call(method, request, credential)
        return raised.value


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Admin]:
    store = Store(tmp_path / "commaudit.duckdb")
    credential = store.transaction(
        lambda con: add_operator(con, "root", "admin", now_ms=time.time_ns() // 10**6)
    )
    store.close()
    collector = RunningCollector(tmp_path, publish_interval_s=0)
    answer = Admin(collector, credential)
    for kind, content in (("workgroups", WORKGROUPS), ("employees", EMPLOYEES)):
        imported = answer.call(
            "ImportOrgData", pb.ImportOrgDataRequest(kind=kind, file_name=f"{kind}.csv",
                                                     content=content))  # fmt: skip
        assert imported.applied, imported  # type: ignore[attr-defined]
    yield answer
    collector.stop()


def operator(admin: Admin, name: str, role: str, employee: str = "") -> str:
    made = admin.call(
        "CreateOperator",
        pb.CreateOperatorRequest(operator_id=name, role=role, employee_id=employee),
    )
    return str(made.credential)  # type: ignore[attr-defined]


def test_each_role_is_refused_what_it_may_not_do_and_the_refusal_is_audited(
    admin: Admin,
) -> None:
    analyst = operator(admin, "ana", "analyst")
    director = operator(admin, "rchen", "director", "C4001")
    csv = pb.ImportOrgDataRequest(kind="workgroups", file_name="w.csv", content=WORKGROUPS)
    assert admin.refused("ImportOrgData", csv, analyst).code() == grpc.StatusCode.PERMISSION_DENIED
    assert admin.refused("ListAudit", pb.ListAuditRequest(), director).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    other = pb.AddRestrictionRequest(workgroup_id="city-pu", category="email", reason="no")
    error = admin.refused("AddRestriction", other, director)
    assert (error.code(), error.details()) == (
        grpc.StatusCode.PERMISSION_DENIED, "'city-pu' is not one of your workgroups",
    )  # fmt: skip
    assert admin.refused("AddRestriction", other, analyst).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    # An admin restricts on the director's decision, naming the director.
    pu = admin.call("AddRestriction", pb.AddRestrictionRequest(
        workgroup_id="city-pu", category="email", reason="audit", set_by="C2001"))  # fmt: skip
    pu_id = pu.restriction.restriction_id  # type: ignore[attr-defined]
    ending = pb.EndRestrictionRequest(restriction_id=pu_id, reason="mine now")
    assert admin.refused("EndRestriction", ending, director).code() == grpc.StatusCode.NOT_FOUND
    listed = admin.call("ListRestrictions", pb.ListRestrictionsRequest(), director)
    assert list(listed.restrictions) == []  # type: ignore[attr-defined]
    mine = admin.call("AddRestriction", pb.AddRestrictionRequest(
        workgroup_id="city-fin", app_id="", category="video_sharing", reason="bandwidth"),
        director)  # fmt: skip
    assert mine.restriction.set_by == "C4001"  # type: ignore[attr-defined]

    audit = admin.call("ListAudit", pb.ListAuditRequest())
    outcomes = {(e.operator_id, e.action, e.outcome) for e in audit.entries}  # type: ignore[attr-defined]
    assert {
        ("ana", "import_org_data", "denied"), ("rchen", "list_audit", "denied"),
        ("rchen", "add_restriction", "denied"), ("ana", "add_restriction", "denied"),
        ("rchen", "end_restriction", f"refused: no restriction {pu_id!r}"),
        ("rchen", "add_restriction", "ok"), ("root", "add_restriction", "ok"),
    } <= outcomes  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (pb.CreateOperatorRequest(operator_id="d", role="director"),
         "a director operator needs the employee id of the director"),
        (pb.CreateOperatorRequest(operator_id="d", role="director", employee_id="C9999"),
         "employee 'C9999' is not a current employee"),
        (pb.CreateOperatorRequest(operator_id="d", role="auditor"),
         "role: 'auditor' is not one of admin, analyst, director"),
        (pb.CreateOperatorRequest(operator_id="root", role="admin"),
         "operator 'root' exists already"),
    ],
)  # fmt: skip
def test_bad_operators_are_refused_with_the_reason(
    admin: Admin, request_: pb.CreateOperatorRequest, message: str
) -> None:
    error = admin.refused("CreateOperator", request_, admin.credential)
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)


def test_a_report_request_is_checked_before_it_runs(admin: Admin) -> None:
    def ask(**fields: object) -> grpc.RpcError:
        request = pb.RunReportRequest(**{"name": "usage", "from_ms": 0, "to_ms": 86_400_000,
                                         **fields})  # type: ignore[arg-type]  # fmt: skip
        return admin.refused("RunReport", request, admin.credential)

    assert ask(name="secrets").details().startswith("no report named 'secrets' (known: ")
    assert ask(to_ms=0).details() == "the range is empty: 'to' must be after 'from'"
    assert ask(to_ms=500 * 86_400_000).details() == "the range is longer than 400 days"
    assert ask(org="county").details() == "org: 'county' is not city or library"
    assert ask(format="xls").details() == "format: 'xls' is not one of table, csv, json, parquet"
    # No lake published (publishing is off here): said plainly, not a crash.
    unpublished = ask()
    assert unpublished.code() == grpc.StatusCode.UNAVAILABLE
    assert "nothing published yet" in unpublished.details()
