"""AgentService over grpc.aio: protos in, domain calls, protos and status codes out.

Thin on purpose (STYLE.md 4): identity.py says who calls, validate.py what is wrong, ingest.py
stores and acknowledges, enrollment.py turns a token into a device. What is left here is the
status code for each refusal, chosen so the agent knows what to do (agent/sender.py):

- UNAUTHENTICATED: a missing, unknown or revoked device credential; an unknown, used or expired
  enrollment token. An operator must act.
- PERMISSION_DENIED: an event names another device; a device may not speak for another.
- INVALID_ARGUMENT: the validator's message (field path first); trailing metadata
  `commaudit-rejected-seq` names the offending event, so the agent sets that one aside and records
  it instead of retrying it forever.
- RESOURCE_EXHAUSTED: the ingest queue is full, the device is over its rate, or the disk is
  nearly full (admission.py); `grpc-retry-pushback-ms` says when to come back.
- UNAVAILABLE: the commit failed or the collector is stopping; nothing was acknowledged, retry.

Report is registered with a bytes-in handler (`rpc_handlers`) so that a request that is not a
ReportRequest at all gets INVALID_ARGUMENT saying so, not grpc's generic UNKNOWN.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import NoReturn

import grpc
from google.protobuf.message import DecodeError

from collector.admission import Admission
from collector.central_config import ServedFiles
from collector.credentials import Unauthenticated
from collector.enrollment import DeviceGrant, redeem_token
from collector.identity import DeviceKeys
from collector.ingest import CommitFailed, Ingestor, IngestorClosed, Overloaded
from collector.metrics import CollectorMetrics
from collector.validate import (
    ForeignDevice,
    InvalidReport,
    Limits,
    validate_batch,
    validate_spool_id,
)
from collector.writer import WriterLike
from commaudit.v1 import agent_service_pb2, agent_service_pb2_grpc

OWNERSHIP = {
    "employer": agent_service_pb2.OWNERSHIP_EMPLOYER,
    "personal": agent_service_pb2.OWNERSHIP_PERSONAL,
}
MAX_TOKEN_CHARS = 256
MAX_HOSTNAME_CHARS = 253  # DNS
MAX_OS_CHARS = 32
MAX_VERSION_CHARS = 64

log = logging.getLogger(__name__)

REJECTED_SEQ_KEY = "commaudit-rejected-seq"
PUSHBACK_KEY = "grpc-retry-pushback-ms"

Trailers = tuple[tuple[str, str], ...]
_REFUSALS = (Unauthenticated, InvalidReport, Overloaded, CommitFailed, IngestorClosed)


def now_ms() -> int:
    """The collector's clock, which validation judges device timestamps against."""
    return time.time_ns() // 1_000_000


class AgentService(agent_service_pb2_grpc.AgentServiceServicer):
    """Enroll makes a device; Report answers only after the commit; GetConfig serves the newest
    catalog and agent config IMS pushed (collector/central_config.py)."""

    def __init__(
        self,
        ingestor: Ingestor,
        writer: WriterLike,
        device_keys: DeviceKeys,
        limits: Limits | None = None,
        clock: Callable[[], int] = now_ms,
        admission: Admission | None = None,
        metrics: CollectorMetrics | None = None,
    ) -> None:
        self._ingestor = ingestor
        self._metrics = metrics or ingestor.metrics
        self._writer = writer
        self._device_keys = device_keys
        self._limits = limits or Limits()
        self._clock = clock
        self._admission = admission
        self._served = ServedFiles(writer)

    async def Report(
        self,
        request: agent_service_pb2.ReportRequest,
        context: grpc.aio.ServicerContext,
        raw: bytes = b"",
    ) -> agent_service_pb2.ReportResponse:
        events = len(request.events)
        self._metrics.report_received(events)
        try:
            device_id = self._device_keys.authenticate(context.invocation_metadata())
            self._metrics.devices.seen(device_id)
            validate_spool_id(request.spool_id)
            validate_batch(request.events, device_id, self._clock(), self._limits)
            if self._admission is not None:
                admit(self._admission, device_id, events)
            ack = await self._ingestor.submit_async(
                device_id, request.events, request.spool_id, raw
            )
        except _REFUSALS as exc:
            code, trailers = refusal(exc)
            reason = rejection_reason(exc)
            self._metrics.report_refused(reason, events)
            log.info(
                "report from %s refused (%s): %s", context.peer(), code.name, exc,
                extra={"reason": reason},
            )  # fmt: skip
            await abort(context, code, str(exc), trailers)
        self._metrics.report_answered(renumbered=ack.renumber_after != 0)
        return agent_service_pb2.ReportResponse(
            acked_seq=ack.acked_seq, renumber_after=ack.renumber_after
        )

    async def report_bytes(
        self, raw: bytes, context: grpc.aio.ServicerContext
    ) -> agent_service_pb2.ReportResponse:
        """Report, parsing the request here so that undecodable bytes are named as such."""
        try:
            request = agent_service_pb2.ReportRequest.FromString(raw)
        except DecodeError as exc:
            self._metrics.report_refused("undecodable", 0)
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request: not a valid commaudit.v1.ReportRequest ({exc})",
            )
        return await self.Report(request, context, raw)

    async def Enroll(
        self, request: agent_service_pb2.EnrollRequest, context: grpc.aio.ServicerContext
    ) -> agent_service_pb2.EnrollResponse:
        """Spend a one-time token on a new device and hand back its credential (once)."""
        for name, value, most in (
            ("token", request.token, MAX_TOKEN_CHARS),
            ("hostname", request.hostname, MAX_HOSTNAME_CHARS),
            ("os", request.os, MAX_OS_CHARS),
            ("agent_version", request.agent_version, self._limits.max_version_chars),
        ):
            if len(value) > most:
                await abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"{name}: {len(value)} characters, at most {most} allowed",
                )

        try:
            grant: DeviceGrant = await asyncio.to_thread(
                self._writer.transaction,
                redeem_token,
                request.token,
                hostname=request.hostname,
                os=request.os,
                agent_version=request.agent_version,
                now_ms=self._clock(),
            )
        except Unauthenticated as exc:
            log.info("enrollment from %s refused: %s", context.peer(), exc)
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, str(exc))
        self._device_keys.add(grant.device_id, grant.key_sha256)
        log.info(
            "enrolled device %s (%s, %s) from %s",
            grant.device_id,
            grant.org,
            grant.ownership,
            context.peer(),
        )
        return agent_service_pb2.EnrollResponse(
            device_id=grant.device_id,
            device_credential=grant.credential,
            org=grant.org,
            ownership=OWNERSHIP[grant.ownership],
            employee_id=grant.employee_id,
        )

    async def GetConfig(
        self, request: agent_service_pb2.GetConfigRequest, context: grpc.aio.ServicerContext
    ) -> agent_service_pb2.GetConfigResponse:
        """The device authenticates as for Report; a file is sent only when it is newer than
        the version the request names, so an unchanged poll is answered with two versions."""
        try:
            device_id = self._device_keys.authenticate(context.invocation_metadata())
        except Unauthenticated as exc:
            log.info("config request from %s refused: %s", context.peer(), exc)
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, str(exc))
        for name, value in (
            ("config_version", request.config_version),
            ("catalog_version", request.catalog_version),
        ):
            if len(value) > MAX_VERSION_CHARS:
                await abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"{name}: {len(value)} characters, at most {MAX_VERSION_CHARS} allowed",
                )
        answer = await self._served.answer(request.config_version, request.catalog_version)
        if answer.config_toml or answer.catalog_toml:
            log.info(
                "device %s sent agent config %s, catalog %s",
                device_id,
                answer.config_version if answer.config_toml else "-",
                answer.catalog_version if answer.catalog_toml else "-",
            )
        return agent_service_pb2.GetConfigResponse(**vars(answer))


def rpc_handlers(service: AgentService) -> grpc.GenericRpcHandler:
    """The AgentService method table, with Report taking raw bytes (see the module docstring)."""
    pb = agent_service_pb2
    return grpc.method_handlers_generic_handler(
        "commaudit.v1.AgentService",
        {
            "Report": grpc.unary_unary_rpc_method_handler(
                service.report_bytes,
                request_deserializer=None,
                response_serializer=pb.ReportResponse.SerializeToString,
            ),
            "Enroll": grpc.unary_unary_rpc_method_handler(
                service.Enroll,
                request_deserializer=pb.EnrollRequest.FromString,
                response_serializer=pb.EnrollResponse.SerializeToString,
            ),
            "GetConfig": grpc.unary_unary_rpc_method_handler(
                service.GetConfig,
                request_deserializer=pb.GetConfigRequest.FromString,
                response_serializer=pb.GetConfigResponse.SerializeToString,
            ),
        },
    )


async def abort(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, details: str, trailers: Trailers = ()
) -> NoReturn:
    """End the RPC with a status; grpc's abort raises, which this signature tells mypy."""
    await context.abort(code, details, trailing_metadata=trailers)
    raise AssertionError("grpc.aio ServicerContext.abort returned")


def admit(admission: Admission, device_id: str, events: int) -> None:
    """Admission.admit's two checks, in its order, each refusal marked with its kind (the
    metrics tell a full disk from a device over its rate)."""
    try:
        admission.disk.check()
    except Overloaded as exc:
        exc.kind = "disk_full"
        raise
    try:
        admission.rate.take(device_id, events)
    except Overloaded as exc:
        exc.kind = "device_rate"
        raise


def rejection_reason(exc: Exception) -> str:
    """The refusal's reason in the rejected-events metric (metrics.REJECTION_REASONS)."""
    if isinstance(exc, Unauthenticated):
        return "unauthenticated"
    if isinstance(exc, ForeignDevice):
        return "foreign_device"
    if isinstance(exc, InvalidReport):
        return "invalid"
    if isinstance(exc, Overloaded):
        return exc.kind
    return "shutting_down" if isinstance(exc, IngestorClosed) else "commit_failed"


def refusal(exc: Exception) -> tuple[grpc.StatusCode, Trailers]:
    """The status code and trailing metadata that tell the agent what to do about `exc`."""
    if isinstance(exc, Unauthenticated):
        return grpc.StatusCode.UNAUTHENTICATED, ()
    if isinstance(exc, ForeignDevice):
        return grpc.StatusCode.PERMISSION_DENIED, ()
    if isinstance(exc, InvalidReport):
        trailers = ((REJECTED_SEQ_KEY, str(exc.seq)),) if exc.seq is not None else ()
        return grpc.StatusCode.INVALID_ARGUMENT, trailers
    if isinstance(exc, Overloaded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, ((PUSHBACK_KEY, str(exc.retry_after_ms)),)
    return grpc.StatusCode.UNAVAILABLE, ()  # CommitFailed, IngestorClosed
