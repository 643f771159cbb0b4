"""AdminService: what operators do through `commaudit` (enrollment tokens, devices).

Every call is authenticated by an operator credential, checked against the role the call needs,
and written to `audit_log` with its outcome (DESIGN.md §4; policy §4.1: use is reviewed by
appropriate staff only, so who looked at what must itself be on record). A call refused for its
role is audited as `denied` before the caller hears PERMISSION_DENIED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb
import grpc

from collector.credentials import Unauthenticated
from collector.enrollment import (
    DeviceRecord,
    EnrollmentError,
    IssuedToken,
    UnknownDevice,
    create_token,
    list_devices,
    revoke_device,
    write_audit,
)
from collector.identity import DeviceKeys, Operator, OperatorKeys
from collector.service import OWNERSHIP, abort, now_ms
from collector.writer import WriterLike
from commaudit.v1 import admin_service_pb2, admin_service_pb2_grpc, agent_service_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")
_OWNERSHIP_NAME = {value: name for name, value in OWNERSHIP.items()}


class AdminService(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        writer: WriterLike,
        operators: OperatorKeys,
        device_keys: DeviceKeys,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._writer = writer
        self._operators = operators
        self._device_keys = device_keys
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
        except EnrollmentError as exc:
            await self._audit(operator, action, target, f"refused: {exc}", detail)
            if isinstance(exc, UnknownDevice):
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
