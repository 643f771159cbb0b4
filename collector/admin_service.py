"""AdminService: what operators do through `commaudit` (enrollment tokens, devices, operators,
organisation data, restrictions, reports, the audit log, the catalog and agent config served
to agents).

Every call is authenticated by an operator credential, checked against the role the call needs,
and written to `audit_log` with its outcome (DESIGN.md §4; policy §4.1: use is reviewed by
appropriate staff only, so who looked at what must itself be on record). A call refused for its
role is audited as `denied` before the caller hears PERMISSION_DENIED.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import grpc

from analytics.report_files import load_report
from collector.audit import AuditRecord, list_audit
from collector.central_config import (
    CentralFileError,
    CentralFileRecord,
    CheckedFile,
    check_file,
    list_files,
    store_file,
)
from collector.credentials import OPERATOR_PREFIX, Unauthenticated, digest, parse
from collector.enrollment import (
    DeviceRecord,
    EnrollmentError,
    IssuedToken,
    UnknownDevice,
    add_operator,
    create_token,
    directed_workgroups,
    list_devices,
    revoke_device,
    write_audit,
)
from collector.identity import DeviceKeys, Operator, OperatorKeys
from collector.org_csv import MAX_FILE_BYTES
from collector.org_import import KINDS, ImportSummary, OrgImportError, import_org_file
from collector.org_policies import (
    OrgPolicyError,
    OrgPolicyRecord,
    list_org_policies,
    set_org_policy,
)
from collector.report_runner import LakeNotPublished, LakeReport, run_lake_report, to_ipc
from collector.restrictions import (
    RestrictionError,
    RestrictionRecord,
    UnknownRestriction,
    add_restriction,
    end_restriction,
    list_restrictions,
)
from collector.service import OWNERSHIP, abort, now_ms
from collector.summary_data import (
    DirectorTables,
    Recipient,
    director_tables,
    recipients,
    summary_message,
)
from collector.summary_ledger import Attempt, Claim, LedgerError, UnknownAttempt
from collector.summary_ledger import attempts as summary_attempts
from collector.summary_ledger import claim as claim_summary
from collector.summary_ledger import record as record_summary
from collector.writer import WriterLike
from commaudit.v1 import admin_service_pb2, admin_service_pb2_grpc, agent_service_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")
_OWNERSHIP_NAME = {value: name for name, value in OWNERSHIP.items()}
# Refusals a call's own input causes: INVALID_ARGUMENT, or NOT_FOUND for an unknown id.
_REFUSALS = (EnrollmentError, RestrictionError, OrgPolicyError, LedgerError, CentralFileError)
_NOT_FOUND = (UnknownDevice, UnknownRestriction, UnknownAttempt)
ORGS = ("city", "library")
REPORT_FORMATS = ("table", "csv", "json", "parquet")
MAX_REPORT_DAYS = 400
DEFAULT_SILENT_HOURS = 24


class AdminService(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        writer: WriterLike,
        operators: OperatorKeys,
        device_keys: DeviceKeys,
        lake_dir: Path | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._writer = writer
        self._operators = operators
        self._device_keys = device_keys
        self._lake_dir = lake_dir
        self._clock = clock

    async def CreateEnrollmentToken(
        self,
        request: admin_service_pb2.CreateEnrollmentTokenRequest,
        context: grpc.aio.ServicerContext,
    ) -> admin_service_pb2.CreateEnrollmentTokenResponse:
        operator = await self._operator(context, "create_enrollment_token", ("admin",))
        ownership = _OWNERSHIP_NAME.get(request.ownership, "")
        target = f"{request.org}/{ownership or '?'}" + (
            f"/{request.employee_id}" if request.employee_id else ""
        )

        issued: IssuedToken = await self._audited(
            context,
            operator,
            "create_enrollment_token",
            target,
            create_token,
            org=request.org,
            ownership=ownership,
            employee_id=request.employee_id,
            expires_in_s=request.expires_in_s,
            operator_id=operator.operator_id,
            now_ms=self._clock(),
        )
        return admin_service_pb2.CreateEnrollmentTokenResponse(
            token=issued.token, token_id=issued.token_id, expires_at_ms=issued.expires_at_ms
        )

    async def RevokeDevice(
        self, request: admin_service_pb2.RevokeDeviceRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.RevokeDeviceResponse:
        operator = await self._operator(context, "revoke_device", ("admin",))

        revoked_at: int = await self._audited(
            context,
            operator,
            "revoke_device",
            request.device_id,
            revoke_device,
            detail=request.reason,
            device_id=request.device_id,
            operator_id=operator.operator_id,
            reason=request.reason,
            now_ms=self._clock(),
        )
        self._device_keys.revoke(request.device_id)
        log.info("device %s revoked by %s", request.device_id, operator.operator_id)
        return admin_service_pb2.RevokeDeviceResponse(revoked_at_ms=revoked_at)

    async def ListDevices(
        self, request: admin_service_pb2.ListDevicesRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ListDevicesResponse:
        operator = await self._operator(context, "list_devices", ("admin", "analyst"))
        records: list[DeviceRecord] = await self._audited(
            context, operator, "list_devices", "", list_devices
        )
        return admin_service_pb2.ListDevicesResponse(devices=[_device(r) for r in records])

    async def CreateOperator(
        self, request: admin_service_pb2.CreateOperatorRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.CreateOperatorResponse:
        operator = await self._operator(context, "create_operator", ("admin",))
        target = f"{request.operator_id}/{request.role}" + (
            f"/{request.employee_id}" if request.employee_id else ""
        )
        credential: str = await self._audited(
            context,
            operator,
            "create_operator",
            target,
            add_operator,
            operator_id=request.operator_id,
            role=request.role,
            employee_id=request.employee_id,
            now_ms=self._clock(),
        )
        _, secret = parse(credential, OPERATOR_PREFIX)
        self._operators.add(request.operator_id, digest(secret), request.role, request.employee_id)
        log.info("operator %s (%s) added by %s", request.operator_id, request.role,
                 operator.operator_id)  # fmt: skip
        return admin_service_pb2.CreateOperatorResponse(credential=credential)

    async def ListAudit(
        self, request: admin_service_pb2.ListAuditRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ListAuditResponse:
        operator = await self._operator(context, "list_audit", ("admin",))
        records: list[AuditRecord] = await self._audited(
            context,
            operator,
            "list_audit",
            request.operator_id or request.action,
            list_audit,
            since_ms=request.since_ms,
            limit=request.limit,
            only_operator=request.operator_id,
            only_action=request.action,
        )
        return admin_service_pb2.ListAuditResponse(
            entries=[admin_service_pb2.AuditEntry(**vars(record)) for record in records]
        )

    async def ImportOrgData(
        self, request: admin_service_pb2.ImportOrgDataRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ImportOrgDataResponse:
        operator = await self._operator(context, "import_org_data", ("admin",))
        target = f"{request.kind}:{request.file_name}"
        if request.kind not in KINDS:
            await self._audit(operator, "import_org_data", target, "refused: unknown kind", "")
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                        f"kind: {request.kind!r} is not one of {', '.join(KINDS)}")  # fmt: skip
        if len(request.content) > MAX_FILE_BYTES:
            await self._audit(operator, "import_org_data", target, "refused: too large", "")
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                        f"{request.file_name}: larger than {MAX_FILE_BYTES} bytes")  # fmt: skip
        try:
            summary: ImportSummary = await self._audited(
                context,
                operator,
                "import_org_data",
                target,
                import_org_file,
                kind=request.kind,
                file_name=request.file_name,
                content=request.content,
                imported_by=operator.operator_id,
                now_ms=self._clock(),
            )
        except OrgImportError as exc:
            await self._audit(
                operator, "import_org_data", target, f"refused: {len(exc.errors)} bad rows", ""
            )
            return admin_service_pb2.ImportOrgDataResponse(
                applied=False,
                errors=[
                    admin_service_pb2.RowError(
                        file=e.file, line=e.line, column=e.column, reason=e.reason
                    )
                    for e in exc.errors
                ],
            )
        return admin_service_pb2.ImportOrgDataResponse(
            applied=True,
            import_id=summary.import_id,
            rows_read=summary.rows_read,
            rows_changed=summary.rows_changed,
            unchanged=summary.unchanged,
        )

    async def ListOrgPolicies(
        self, request: admin_service_pb2.ListOrgPoliciesRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ListOrgPoliciesResponse:
        operator = await self._operator(context, "list_org_policies", ("admin", "analyst"))
        records: list[OrgPolicyRecord] = await self._audited(
            context, operator, "list_org_policies", "", list_org_policies
        )
        return _org_policies(records)

    async def SetOrgPolicy(
        self, request: admin_service_pb2.SetOrgPolicyRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ListOrgPoliciesResponse:
        operator = await self._operator(context, "set_org_policy", ("admin",))
        changes = {
            field: getattr(request, field)
            for field in ("training_interval_months", "work_hours", "personal_use_report")
            if request.HasField(field)
        }
        records: list[OrgPolicyRecord] = await self._audited(
            context,
            operator,
            "set_org_policy",
            request.org,
            set_org_policy,
            detail=json.dumps(changes, sort_keys=True),
            org=request.org,
            training_interval_months=changes.get("training_interval_months"),
            work_hours=changes.get("work_hours"),
            personal_use_report=changes.get("personal_use_report"),
        )
        return _org_policies(records)

    async def AddRestriction(
        self, request: admin_service_pb2.AddRestrictionRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.RestrictionResponse:
        action = "add_restriction"
        operator = await self._operator(context, action, ("admin", "director"))
        target = f"{request.workgroup_id}:{request.category or request.app_id}"
        set_by = request.set_by
        if operator.role == "director":
            scope = await self._scope(operator)
            if request.workgroup_id not in (scope or []):
                why = f"{request.workgroup_id!r} is not one of your workgroups"
                await self._deny(context, operator, action, target, why)
            if set_by and set_by != operator.employee_id:
                why = "a director sets restrictions in their own name"
                await self._deny(context, operator, action, target, why)
            set_by = operator.employee_id
        record: RestrictionRecord = await self._audited(
            context,
            operator,
            action,
            target,
            add_restriction,
            detail=request.reason,
            workgroup_id=request.workgroup_id,
            category=request.category,
            app_id=request.app_id,
            effective_from=request.effective_from,
            effective_to=request.effective_to,
            schedule=request.schedule,
            set_by=set_by,
            reason=request.reason,
            operator_id=operator.operator_id,
            now_ms=self._clock(),
        )
        return admin_service_pb2.RestrictionResponse(restriction=_restriction(record))

    async def EndRestriction(
        self, request: admin_service_pb2.EndRestrictionRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.RestrictionResponse:
        operator = await self._operator(context, "end_restriction", ("admin", "director"))
        record: RestrictionRecord = await self._audited(
            context,
            operator,
            "end_restriction",
            request.restriction_id,
            end_restriction,
            detail=request.reason,
            restriction_id=request.restriction_id,
            effective_to=request.effective_to,
            reason=request.reason,
            scope=await self._scope(operator),
            operator_id=operator.operator_id,
            now_ms=self._clock(),
        )
        return admin_service_pb2.RestrictionResponse(restriction=_restriction(record))

    async def ListRestrictions(
        self,
        request: admin_service_pb2.ListRestrictionsRequest,
        context: grpc.aio.ServicerContext,
    ) -> admin_service_pb2.ListRestrictionsResponse:
        operator = await self._operator(
            context, "list_restrictions", ("admin", "analyst", "director")
        )
        records: list[RestrictionRecord] = await self._audited(
            context,
            operator,
            "list_restrictions",
            request.workgroup_id or request.org,
            list_restrictions,
            org=request.org,
            workgroup_id=request.workgroup_id,
            all_versions=request.all_versions,
            scope=await self._scope(operator),
        )
        return admin_service_pb2.ListRestrictionsResponse(
            restrictions=[_restriction(record) for record in records]
        )

    async def RunReport(
        self, request: admin_service_pb2.RunReportRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.RunReportResponse:
        action = "run_report"
        operator = await self._operator(context, action, ("admin", "analyst", "director"))
        target = request.name
        params = {
            "from": _utc(request.from_ms),
            "to": _utc(request.to_ms),
            "org": request.org or None,
            "workgroup": request.workgroup_id or None,
            "device": request.device_id or None,
            "silent_hours": request.silent_hours or DEFAULT_SILENT_HOURS,
        }
        detail = {key: str(value) for key, value in params.items() if value is not None}
        detail["format"] = request.format
        problem = self._report_problem(request)
        if problem:
            await self._audit(operator, action, target, f"refused: {problem}", _json(detail))
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, problem)
        scope = await self._scope(operator)
        if scope is not None:
            detail["scope"] = ",".join(scope)
            if request.workgroup_id and request.workgroup_id not in scope:
                why = f"{request.workgroup_id!r} is not one of your workgroups"
                await self._deny(context, operator, action, target, why)
        if request.name == "personal_use":
            off = await self._personal_use_off(request.org)
            if off:
                await self._audit(operator, action, target, "refused: report off", _json(detail))
                await abort(context, grpc.StatusCode.FAILED_PRECONDITION,
                            f"the personal-use report is off for {', '.join(off)} (§4.1:"
                            " reviewed by appropriate staff only); an admin turns it on with"
                            f" 'commaudit org set {off[0]} --personal-use-report on'")  # fmt: skip
        if self._lake_dir is None:
            await abort(
                context, grpc.StatusCode.FAILED_PRECONDITION, "this collector publishes no lake"
            )
        try:
            result: LakeReport = await asyncio.to_thread(
                run_lake_report, self._lake_dir, request.name, {**params, "scope": scope}
            )
        except LakeNotPublished as exc:
            await self._audit(operator, action, target, f"refused: {exc}", _json(detail))
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        detail.update(rows=str(result.table.num_rows), snapshot=str(result.snapshot_id))
        await self._audit(operator, action, target, "ok", _json(detail))
        report = result.report
        return admin_service_pb2.RunReportResponse(
            name=report.name,
            description=report.description,
            clause=report.clause,
            arrow_ipc=to_ipc(result.table),
            snapshot_id=result.snapshot_id,
            snapshot_at_ms=result.snapshot_at_ms,
            scope=scope or [],
        )

    async def WeeklySummaries(
        self,
        request: admin_service_pb2.WeeklySummariesRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[admin_service_pb2.DirectorSummary]:
        action = "weekly_summary"
        operator = await self._operator(context, action, ("admin",))
        week_start = await self._week_start(context, operator, action, request.week_start_ms)
        if self._lake_dir is None:
            await abort(
                context, grpc.StatusCode.FAILED_PRECONDITION, "this collector publishes no lake"
            )
        lake_dir = self._lake_dir
        try:
            found: list[Recipient] = await asyncio.to_thread(
                recipients, lake_dir, week_start, request.director_id or None
            )
        except LakeNotPublished as exc:
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        if request.director_id and not found:
            why = f"{request.director_id!r} directs no workgroup at the end of that week"
            await self._audit(operator, action, request.director_id, f"refused: {why}", "")
            await abort(context, grpc.StatusCode.NOT_FOUND, why)
        for recipient in found:
            if recipient.director_id in request.except_directors:
                continue
            tables: DirectorTables = await asyncio.to_thread(
                director_tables, lake_dir, week_start, recipient
            )
            detail = {
                "week": f"{week_start:%Y-%m-%d}",
                "scope": ",".join(recipient.scope),
                "rows": str(tables.rows),
                "snapshot": str(tables.snapshot_id),
            }
            await self._audit(operator, action, recipient.director_id, "ok", _json(detail))
            yield summary_message(tables)

    async def ClaimSummary(
        self, request: admin_service_pb2.ClaimSummaryRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ClaimSummaryResponse:
        operator = await self._operator(context, "claim_summary", ("admin",))
        week_start = await self._week_start(
            context, operator, "claim_summary", request.week_start_ms
        )
        if not request.director_id or not request.message_id:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "a claim needs director_id and message_id",
            )
        result: Claim = await asyncio.to_thread(
            self._writer.transaction,
            claim_summary,
            week=week_start.date(),
            director_id=request.director_id,
            recipient=request.recipient,
            message_id=request.message_id,
            operator_id=operator.operator_id,
            now=_utc(self._clock()),
        )
        return admin_service_pb2.ClaimSummaryResponse(
            claimed=result.claimed,
            reason=result.reason,
            attempt=result.attempt,
            latest=_attempt(result.latest) if result.latest else None,
        )

    async def RecordSummary(
        self, request: admin_service_pb2.RecordSummaryRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.SummaryAttempt:
        action = "send_summary"
        operator = await self._operator(context, action, ("admin",))
        week_start = await self._week_start(context, operator, action, request.week_start_ms)
        attempt: Attempt = await self._audited(
            context,
            operator,
            action,
            request.director_id,
            record_summary,
            detail=_json({"week": f"{week_start:%Y-%m-%d}", "status": request.status}),
            week=week_start.date(),
            director_id=request.director_id,
            attempt=request.attempt,
            status=request.status,
            outcome_detail=request.detail,
            now=_utc(self._clock()),
        )
        return _attempt(attempt)

    async def ListSummaries(
        self, request: admin_service_pb2.ListSummariesRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ListSummariesResponse:
        operator = await self._operator(context, "list_summaries", ("admin",))
        week_start = await self._week_start(
            context, operator, "list_summaries", request.week_start_ms
        )
        found: list[Attempt] = await asyncio.to_thread(
            self._writer.transaction, summary_attempts, week_start.date()
        )
        return admin_service_pb2.ListSummariesResponse(attempts=[_attempt(a) for a in found])

    async def PushCentralFile(
        self, request: admin_service_pb2.PushCentralFileRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.CentralFile:
        """Validated by the agent's own validator before anything is stored or served."""
        action = "push_central_file"
        operator = await self._operator(context, action, ("admin",))
        target = f"{request.kind}:{request.file_name}"
        try:
            checked: CheckedFile = await asyncio.to_thread(
                check_file, request.kind, request.file_name, request.content
            )
        except CentralFileError as exc:
            await self._audit(operator, action, target, f"refused: {exc}"[:1000], "")
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        record: CentralFileRecord = await self._audited(
            context,
            operator,
            action,
            target,
            store_file,
            detail=_json({"version": checked.version, "sha256": checked.sha256}),
            checked=checked,
            pushed_by=operator.operator_id,
            now_ms=self._clock(),
        )
        log.info("%s %s pushed by %s", record.kind, record.version, operator.operator_id)
        return admin_service_pb2.CentralFile(**vars(record))

    async def ListCentralFiles(
        self,
        request: admin_service_pb2.ListCentralFilesRequest,
        context: grpc.aio.ServicerContext,
    ) -> admin_service_pb2.ListCentralFilesResponse:
        operator = await self._operator(context, "list_central_files", ("admin", "analyst"))
        records: list[CentralFileRecord] = await self._audited(
            context, operator, "list_central_files", request.kind, list_files, kind=request.kind
        )
        return admin_service_pb2.ListCentralFilesResponse(
            files=[admin_service_pb2.CentralFile(**vars(record)) for record in records]
        )

    async def _week_start(
        self, context: grpc.aio.ServicerContext, operator: Operator, action: str, ms: int
    ) -> datetime:
        """The week a summaries call names: a Monday 00:00 UTC, else INVALID_ARGUMENT."""
        start = _utc(ms)
        if ms % 86_400_000 or start.isoweekday() != 1:
            why = f"week_start_ms {ms} is not a Monday 00:00 UTC"
            await self._audit(operator, action, "", f"refused: {why}", "")
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, why)
        return start

    def _report_problem(self, request: admin_service_pb2.RunReportRequest) -> str:
        """What is wrong with a report request, in the operator's words, or ''."""
        try:
            load_report(request.name)
        except ValueError as exc:
            return str(exc)
        if request.to_ms <= request.from_ms:
            return "the range is empty: 'to' must be after 'from'"
        if request.to_ms - request.from_ms > MAX_REPORT_DAYS * 86_400_000:
            return f"the range is longer than {MAX_REPORT_DAYS} days"
        if request.org and request.org not in ORGS:
            return f"org: {request.org!r} is not city or library"
        if request.format and request.format not in REPORT_FORMATS:
            return f"format: {request.format!r} is not one of {', '.join(REPORT_FORMATS)}"
        return ""

    async def _personal_use_off(self, org: str) -> list[str]:
        """The organisations (of those asked for) whose personal-use report is off."""
        rows = await asyncio.to_thread(
            self._writer.rows, "SELECT org FROM org_policies WHERE NOT personal_use_report"
        )
        return [str(row[0]) for row in rows if not org or row[0] == org]

    async def _scope(self, operator: Operator) -> list[str] | None:
        """The workgroups the operator may see: None for all (admin, analyst); a director
        sees the workgroups they direct now, and nothing else (§4.4, §4.1)."""
        if operator.role != "director":
            return None
        scope: list[str] = await asyncio.to_thread(
            self._writer.transaction, directed_workgroups, operator.employee_id
        )
        return scope

    async def _deny(
        self,
        context: grpc.aio.ServicerContext,
        operator: Operator,
        action: str,
        target: str,
        why: str,
    ) -> None:
        await self._audit(operator, action, target, "denied", why)
        await abort(context, grpc.StatusCode.PERMISSION_DENIED, why)

    async def _operator(
        self, context: grpc.aio.ServicerContext, action: str, roles: tuple[str, ...]
    ) -> Operator:
        """The authenticated caller, if its role may do `action`; audited when it may not."""
        try:
            operator = self._operators.authenticate(context.invocation_metadata())
        except Unauthenticated as exc:
            log.warning("admin call %s from %s refused: %s", action, context.peer(), exc)
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, str(exc))
        if operator.role not in roles:
            await self._audit(operator, action, "", "denied", f"needs role {' or '.join(roles)}")
            await abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{action} needs role {' or '.join(roles)}; {operator.operator_id} is"
                f" {operator.role}",
            )
        return operator

    async def _audited(
        self,
        context: grpc.aio.ServicerContext,
        operator: Operator,
        action: str,
        target: str,
        work: Callable[..., T],
        detail: str = "",
        **arguments: Any,
    ) -> T:
        """Run work(con, **arguments) and its audit row in one transaction (run_audited); a
        refusal is audited on its own."""
        audit = {
            "operator_id": operator.operator_id,
            "role": operator.role,
            "action": action,
            "target": target,
            "outcome": "ok",
            "detail": detail,
            "now_ms": self._clock(),
        }
        try:
            result: T = await asyncio.to_thread(
                self._writer.transaction, run_audited, work, arguments, audit
            )
            return result
        except _REFUSALS as exc:
            await self._audit(operator, action, target, f"refused: {exc}", detail)
            if isinstance(exc, _NOT_FOUND):
                await abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    async def _audit(
        self, operator: Operator, action: str, target: str, outcome: str, detail: str
    ) -> None:
        await asyncio.to_thread(
            self._writer.transaction,
            write_audit,
            operator_id=operator.operator_id,
            role=operator.role,
            action=action,
            target=target,
            outcome=outcome,
            detail=detail,
            now_ms=self._clock(),
        )


def run_audited(
    con: duckdb.DuckDBPyConnection,
    work: Callable[..., T],
    arguments: dict[str, Any],
    audit: dict[str, Any],
) -> T:
    """The call and its audit row, in the caller's transaction; module-level so that it can
    be sent to the writer process by name."""
    result = work(con, **arguments)
    write_audit(con, **audit)
    return result


def _device(record: DeviceRecord) -> admin_service_pb2.Device:
    return admin_service_pb2.Device(
        device_id=record.device_id,
        org=record.org,
        ownership=OWNERSHIP.get(record.ownership, agent_service_pb2.OWNERSHIP_UNSPECIFIED),
        employee_id=record.employee_id,
        hostname=record.hostname,
        os=record.os,
        agent_version=record.agent_version,
        enrolled_at_ms=record.enrolled_at_ms,
        revoked_at_ms=record.revoked_at_ms,
        revoke_reason=record.revoke_reason,
    )


def _restriction(record: RestrictionRecord) -> admin_service_pb2.Restriction:
    return admin_service_pb2.Restriction(**vars(record))


def _org_policies(records: list[OrgPolicyRecord]) -> admin_service_pb2.ListOrgPoliciesResponse:
    return admin_service_pb2.ListOrgPoliciesResponse(
        orgs=[
            admin_service_pb2.OrgPolicy(
                org=r.org,
                organisation=r.organisation,
                policy=r.policy,
                director_title=r.director_title,
                time_zone=r.time_zone,
                training_interval_months=r.training_interval_months,
                work_hours=r.work_hours,
                personal_use_report=r.personal_use_report,
            )
            for r in records
        ]
    )


def _attempt(attempt: Attempt) -> admin_service_pb2.SummaryAttempt:
    monday = datetime.combine(attempt.week, datetime.min.time(), UTC)
    return admin_service_pb2.SummaryAttempt(
        week_start_ms=int(monday.timestamp() * 1000),
        director_id=attempt.director_id,
        attempt=attempt.attempt,
        status=attempt.status,
        recipient=attempt.recipient,
        message_id=attempt.message_id,
        detail=attempt.detail,
        operator_id=attempt.operator_id,
        at_ms=int(attempt.at.replace(tzinfo=UTC).timestamp() * 1000),
    )


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _json(detail: dict[str, str]) -> str:
    return json.dumps(detail, sort_keys=True)
