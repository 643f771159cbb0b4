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
from typing import TypeVar

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
from collector.store import Store
from commaudit.v1 import admin_service_pb2, admin_service_pb2_grpc, agent_service_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")
_OWNERSHIP_NAME = {value: name for name, value in OWNERSHIP.items()}


class AdminService(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        store: Store,
        operators: OperatorKeys,
        device_keys: DeviceKeys,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
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

        def create(con: duckdb.DuckDBPyConnection) -> IssuedToken:
            return create_token(
                con,
                org=request.org,
                ownership=ownership,
                employee_id=request.employee_id,
                expires_in_s=request.expires_in_s,
                operator_id=operator.operator_id,
                now_ms=self._clock(),
            )

        issued = await self._audited(context, operator, "create_enrollment_token", target, create)
        return admin_service_pb2.CreateEnrollmentTokenResponse(
            token=issued.token, token_id=issued.token_id, expires_at_ms=issued.expires_at_ms
        )

    async def RevokeDevice(
        self, request: admin_service_pb2.RevokeDeviceRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.RevokeDeviceResponse:
        operator = await self._operator(context, "revoke_device", ("admin",))

        def revoke(con: duckdb.DuckDBPyConnection) -> int:
            return revoke_device(
                con,
                request.device_id,
                operator_id=operator.operator_id,
                reason=request.reason,
                now_ms=self._clock(),
            )

        revoked_at = await self._audited(
            context, operator, "revoke_device", request.device_id, revoke, request.reason
        )
        self._device_keys.revoke(request.device_id)
        log.info("device %s revoked by %s", request.device_id, operator.operator_id)
        return admin_service_pb2.RevokeDeviceResponse(revoked_at_ms=revoked_at)

    async def ListDevices(
        self, request: admin_service_pb2.ListDevicesRequest, context: grpc.aio.ServicerContext
    ) -> admin_service_pb2.ListDevicesResponse:
        operator = await self._operator(context, "list_devices", ("admin", "analyst"))
        records = await self._audited(context, operator, "list_devices", "", list_devices)
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
        work: Callable[[duckdb.DuckDBPyConnection], T],
        detail: str = "",
    ) -> T:
        """Run `work` and its audit row in one transaction; a refusal is audited on its own."""

        def audited(con: duckdb.DuckDBPyConnection) -> T:
            result = work(con)
            write_audit(
                con,
                operator_id=operator.operator_id,
                role=operator.role,
                action=action,
                target=target,
                outcome="ok",
                detail=detail,
                now_ms=self._clock(),
            )
            return result

        try:
            return await asyncio.to_thread(self._store.transaction, audited)
        except EnrollmentError as exc:
            await self._audit(operator, action, target, f"refused: {exc}", detail)
            if isinstance(exc, UnknownDevice):
                await abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    async def _audit(
        self, operator: Operator, action: str, target: str, outcome: str, detail: str
    ) -> None:
        def write(con: duckdb.DuckDBPyConnection) -> None:
            write_audit(
                con,
                operator_id=operator.operator_id,
                role=operator.role,
                action=action,
                target=target,
                outcome=outcome,
                detail=detail,
                now_ms=self._clock(),
            )

        await asyncio.to_thread(self._store.transaction, write)


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
