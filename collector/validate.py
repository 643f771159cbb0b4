"""Checks a Report's events before anything is queued (DESIGN.md §4 "Limits").

Why it runs before the writer: the writer commits many devices' events in one transaction, so an
event the database would refuse would fail everyone's commit, again and again as the agents
retry. Everything the `events` table and the encoder rely on is therefore checked here, and a
refusal names the field (`events[3].occurred_at_ms: ...`) and the event's seq, so that the agent
can set that one event aside (agent_service.proto) instead of retrying it forever.

Plain functions over protobuf messages: no gRPC, no database (STYLE.md 4).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.descriptor import EnumDescriptor

from commaudit.v1 import events_pb2

# The text form agent_service.proto promises, and the one DuckDB's UUID cast takes as it is: one
# regex here spares the encoder a second parse of every UUID (they were a third of ingest time).
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

# 2000-01-01T00:00:00Z: no device clock that reads earlier is telling the time.
EARLIEST_MS = 946_684_800_000
_ECHO_CHARS = 64  # echoed values are cut: the message travels back into the agent's own events
# The browsers the organisation's extension is built for (issue 9 item 1), as the agent names them.
BROWSERS = ("chromium", "chrome", "edge", "firefox")
_SURFACE = events_pb2.Surface.DESCRIPTOR


@dataclass(frozen=True)
class Limits:
    """What one Report may carry. Defaults are generous for real agents, small for abuse."""

    max_events_per_batch: int = 1000
    """Events per Report; the gRPC message size limit (4 MiB) bounds the bytes."""
    max_future_ms: int = 24 * 3600 * 1000
    """How far ahead of the collector's clock `occurred_at_ms` may be (device clock skew)."""
    max_id_chars: int = 128
    """app_id and device_id."""
    max_os_user_chars: int = 256
    """OS user names (Windows `DOMAIN\\user` forms included)."""
    max_path_chars: int = 4096
    """Install paths (Linux PATH_MAX)."""
    max_detail_chars: int = 1024
    """agent_lifecycle detail: a human-readable reason."""
    max_version_chars: int = 128
    """agent_version and catalog_version."""
    max_running_apps: int = 1000
    """Sessions listed in one heartbeat."""


class InvalidReport(Exception):
    """A Report the collector refuses; the message starts with the field path."""

    def __init__(self, field_path: str, reason: str, seq: int | None = None) -> None:
        super().__init__(f"{field_path}: {reason}")
        self.field_path = field_path
        self.reason = reason
        self.seq = seq
        """The seq of the offending event, when there is one the agent can set aside."""


class InvalidEvent(InvalidReport):
    """One event breaks a rule (INVALID_ARGUMENT)."""


class ForeignDevice(InvalidReport):
    """An event names another device: a device may not speak for another (PERMISSION_DENIED)."""

    def __init__(self, field_path: str, named: str, caller: str) -> None:
        super().__init__(field_path, f"names device {_echo(named)!r}, the caller is {caller!r}")


def validate_spool_id(spool_id: str) -> None:
    """Empty (an agent that names no spool) or a canonical UUID."""
    if spool_id and not _CANONICAL_UUID.fullmatch(spool_id):
        raise InvalidEvent("spool_id", f"{_echo(spool_id)!r} is not a UUID in 8-4-4-4-12 hex form")


def validate_batch(
    events: Sequence[events_pb2.Event], device_id: str, now_ms: int, limits: Limits
) -> None:
    """Raise InvalidReport (or a subclass) for the first rule the batch breaks."""
    if not events:
        raise InvalidEvent("events", "empty (a Report carries at least one event)")
    if len(events) > limits.max_events_per_batch:
        raise InvalidEvent(
            "events", f"{len(events)} events, over the limit of {limits.max_events_per_batch}"
        )
    previous = 0
    for index, event in enumerate(events):
        path = f"events[{index}]"
        validate_event(event, path, device_id, now_ms, limits)
        if event.seq <= previous:
            raise InvalidEvent(
                f"{path}.seq",
                f"{event.seq} does not follow {previous} (seqs must strictly ascend)",
                event.seq,
            )
        previous = event.seq


def validate_event(
    event: events_pb2.Event, path: str, device_id: str, now_ms: int, limits: Limits
) -> None:
    """The envelope (identity, seq, time) and then the fields of its kind."""
    if event.device_id and event.device_id != device_id:
        raise ForeignDevice(f"{path}.device_id", event.device_id, device_id)
    seq = event.seq or None
    if seq is None:
        raise InvalidEvent(f"{path}.seq", "0 (seqs start at 1)")
    check_uuid(event.event_id, path, "event_id", seq)
    check_time(event.occurred_at_ms, path, "occurred_at_ms", now_ms, limits, seq)
    kind = event.WhichOneof("kind")
    # A kind added after this collector arrives as unknown fields: WhichOneof says None.
    if kind is None:
        raise InvalidEvent(f"{path}.kind", "not set (missing or unknown event kind)", seq)
    _KIND_CHECKS[kind](getattr(event, kind), f"{path}.{kind}", limits, seq)


# The checks below take the path of the message and the field's name, and join them only when
# they raise: building every field's path up front was a third of validation's cost.


def check_uuid(value: str, path: str, name: str, seq: int, *, required: bool = True) -> None:
    if not value:
        if required:
            raise InvalidEvent(f"{path}.{name}", "empty (a UUID is required)", seq)
        return
    if not _CANONICAL_UUID.fullmatch(value):
        raise InvalidEvent(
            f"{path}.{name}", f"{_echo(value)!r} is not a UUID in 8-4-4-4-12 hex form", seq
        )


def check_time(value: int, path: str, name: str, now_ms: int, limits: Limits, seq: int) -> None:
    if value < EARLIEST_MS:
        raise InvalidEvent(f"{path}.{name}", f"{_iso(value)} is before 2000-01-01", seq)
    if value > now_ms + limits.max_future_ms:
        hours = limits.max_future_ms / 3_600_000
        raise InvalidEvent(
            f"{path}.{name}",
            f"{_iso(value)} is more than {hours:g} h ahead of {_iso(now_ms)}",
            seq,
        )


def check_text(
    value: str, path: str, name: str, limit: int, seq: int, *, required: bool = False
) -> None:
    if required and not value:
        raise InvalidEvent(f"{path}.{name}", "empty", seq)
    if len(value) > limit:
        raise InvalidEvent(
            f"{path}.{name}", f"{len(value)} characters, over the limit of {limit}", seq
        )


def check_enum(value: int, enum: EnumDescriptor, path: str, name: str, seq: int) -> None:
    """Proto3 enums are open: a number this collector does not know arrives as itself."""
    if value == 0:
        raise InvalidEvent(f"{path}.{name}", f"not set ({enum.values_by_number[0].name})", seq)
    if value not in enum.values_by_number:
        raise InvalidEvent(f"{path}.{name}", f"{value} is not a known value", seq)


def _check_app(message: _AppFields, path: str, limits: Limits, seq: int) -> None:
    """The fields every app_* message shares."""
    check_text(message.app_id, path, "app_id", limits.max_id_chars, seq, required=True)
    check_enum(message.category, events_pb2.Category.DESCRIPTOR, path, "category", seq)


def _check_session(message: _SessionFields, path: str, limits: Limits, seq: int) -> None:
    _check_app(message, path, limits, seq)
    check_uuid(message.session_id, path, "session_id", seq)
    check_text(message.os_user, path, "os_user", limits.max_os_user_chars, seq)


def _check_started(message: _RunningFields, path: str, limits: Limits, seq: int) -> None:
    _check_session(message, path, limits, seq)
    # A session seen only in browser tabs has no process of its own (issue 9); any other has.
    if message.process_count < 1 and events_pb2.SURFACE_BROWSER_TAB not in message.surfaces:
        raise InvalidEvent(f"{path}.process_count", "0, and no browser tab among its surfaces", seq)
    _check_surfaces(message, path, seq)


def _check_stopped(message: events_pb2.AppStopped, path: str, limits: Limits, seq: int) -> None:
    _check_session(message, path, limits, seq)
    check_enum(message.reason, events_pb2.AppStopped.Reason.DESCRIPTOR, path, "reason", seq)
    _check_surfaces(message, path, seq)
    # Foreground time is part of the session's time, both on the agent's monotonic clock.
    if message.HasField("foreground_ms") and message.foreground_ms > message.duration_ms:
        raise InvalidEvent(
            f"{path}.foreground_ms",
            f"{message.foreground_ms} ms, longer than the session's duration_ms"
            f" {message.duration_ms}",
            seq,
        )


def _check_surfaces(message: _SessionFields, path: str, seq: int) -> None:
    """Each surface and browser a known one, named once: the sessions table keeps them as a set
    and reports join them into one label (analytics/sql/sessions.sql)."""
    surfaces, browsers = message.surfaces, message.browsers
    _check_count(surfaces, len(_SURFACE.values) - 1, path, "surfaces", seq)  # all but UNSPECIFIED
    for index, value in enumerate(surfaces):
        check_enum(value, _SURFACE, path, f"surfaces[{index}]", seq)
        shown = _SURFACE.values_by_number[value].name
        _check_repeat(surfaces, index, shown, path, "surfaces", seq)
    _check_count(browsers, len(BROWSERS), path, "browsers", seq)
    for index, browser in enumerate(browsers):
        if browser not in BROWSERS:
            raise InvalidEvent(
                f"{path}.browsers[{index}]",
                f"{_echo(browser)!r} is not one of {', '.join(BROWSERS)}",
                seq,
            )
        _check_repeat(browsers, index, repr(browser), path, "browsers", seq)


def _check_count(values: Sequence[object], limit: int, path: str, name: str, seq: int) -> None:
    if len(values) > limit:
        reason = f"{len(values)} values, over the limit of {limit}"
        raise InvalidEvent(f"{path}.{name}", reason, seq)


def _check_repeat(
    values: Sequence[object], index: int, shown: str, path: str, name: str, seq: int
) -> None:
    first = list(values).index(values[index])
    if first < index:
        raise InvalidEvent(f"{path}.{name}[{index}]", f"{shown} repeats {name}[{first}]", seq)


def _check_heartbeat(message: events_pb2.Heartbeat, path: str, limits: Limits, seq: int) -> None:
    if len(message.running) > limits.max_running_apps:
        raise InvalidEvent(
            f"{path}.running",
            f"{len(message.running)} sessions, over the limit of {limits.max_running_apps}",
            seq,
        )
    for index, running in enumerate(message.running):
        _check_started(running, f"{path}.running[{index}]", limits, seq)  # same fields
    check_text(message.agent_version, path, "agent_version", limits.max_version_chars, seq)
    check_text(message.catalog_version, path, "catalog_version", limits.max_version_chars, seq)


def _check_install(message: _InstallFields, path: str, limits: Limits, seq: int) -> None:
    _check_app(message, path, limits, seq)
    check_text(message.path, path, "path", limits.max_path_chars, seq)


def _check_lifecycle(
    message: events_pb2.AgentLifecycle, path: str, limits: Limits, seq: int
) -> None:
    check_enum(message.kind, events_pb2.AgentLifecycle.Kind.DESCRIPTOR, path, "kind", seq)
    check_text(message.agent_version, path, "agent_version", limits.max_version_chars, seq)
    check_text(message.catalog_version, path, "catalog_version", limits.max_version_chars, seq)
    check_text(message.detail, path, "detail", limits.max_detail_chars, seq)


_AppFields = (
    events_pb2.AppStarted
    | events_pb2.AppStopped
    | events_pb2.RunningApp
    | events_pb2.AppInstalled
    | events_pb2.AppRemoved
)
_SessionFields = events_pb2.AppStarted | events_pb2.AppStopped | events_pb2.RunningApp
_InstallFields = events_pb2.AppInstalled | events_pb2.AppRemoved
_RunningFields = events_pb2.AppStarted | events_pb2.RunningApp

# Each check takes its kind's message; Any because the table spans six message types.
_KIND_CHECKS: dict[str, Callable[[Any, str, Limits, int], None]] = {
    "app_started": _check_started,
    "app_stopped": _check_stopped,
    "heartbeat": _check_heartbeat,
    "app_installed": _check_install,
    "app_removed": _check_install,
    "agent_lifecycle": _check_lifecycle,
}


def _iso(ms: int) -> str:
    try:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, ValueError, OSError):
        return f"{ms} ms since 1970"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _echo(value: str) -> str:
    return value if len(value) <= _ECHO_CHARS else value[:_ECHO_CHARS] + "..."
