"""Encodes what the agent observed as `commaudit.v1.Event` messages (DESIGN.md §2).

Kept apart from the tracker and the spool so that the wire format has one home on the device.
The spool assigns `seq` when it stores an event; everything else is set here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from agent.scan import Surface
from agent.tracker import Session, Started, Stopped, Transition
from commaudit.v1 import events_pb2

AGENT_VERSION = "0.1.0"

Lifecycle = events_pb2.AgentLifecycle


def category_enum(category: str) -> events_pb2.Category.ValueType:
    """Catalog category name -> wire enum (`email` -> CATEGORY_EMAIL)."""
    return events_pb2.Category.Value(f"CATEGORY_{category.upper()}")


def surface_enum(surface: Surface) -> events_pb2.Surface.ValueType:
    """Surface -> wire enum (`browser_tab` -> SURFACE_BROWSER_TAB)."""
    return events_pb2.Surface.Value(f"SURFACE_{surface.upper()}")


def _who_and_what(session: Session) -> dict[str, Any]:
    """The fields every app_* message of a session repeats: which session, app and user."""
    return {
        "session_id": session.session_id,
        "app_id": session.app.id,
        "category": category_enum(session.app.category),
        "os_user": session.os_user,
    }


def _seen_on(
    message: events_pb2.AppStarted | events_pb2.AppStopped | events_pb2.RunningApp,
    session: Session,
) -> None:
    """Surfaces (in the enum's order) and browsers (sorted): the same session, the same bytes."""
    message.surfaces.extend(sorted(surface_enum(s) for s in session.surfaces))
    message.browsers.extend(sorted(session.browsers))


def _measured(message: events_pb2.AppStopped | events_pb2.RunningApp, session: Session) -> None:
    """CPU and foreground time where measured: an absent field is "not measured", not 0."""
    if session.cpu_ms is not None:
        message.cpu_ms = session.cpu_ms
    if session.foreground_ms is not None:
        message.foreground_ms = session.foreground_ms


def new_event(device_id: str, occurred_at_ms: int | None = None) -> events_pb2.Event:
    """An envelope with identity and time; the caller sets exactly one kind."""
    if occurred_at_ms is None:
        occurred_at_ms = time.time_ns() // 1_000_000
    return events_pb2.Event(
        device_id=device_id, event_id=str(uuid.uuid4()), occurred_at_ms=occurred_at_ms
    )


def transition_event(
    device_id: str, transition: Transition, occurred_at_ms: int | None = None
) -> events_pb2.Event:
    """app_started / app_stopped for one session."""
    event = new_event(device_id, occurred_at_ms)
    session = transition.session
    if isinstance(transition, Started):
        started = events_pb2.AppStarted(
            **_who_and_what(session), process_count=session.process_count
        )
        _seen_on(started, session)
        event.app_started.CopyFrom(started)
    else:
        event.app_stopped.CopyFrom(_stopped(transition))
    return event


def _stopped(transition: Stopped) -> events_pb2.AppStopped:
    session = transition.session
    reason = (
        events_pb2.AppStopped.REASON_AGENT_STOPPED
        if transition.agent_stopped
        else events_pb2.AppStopped.REASON_EXITED
    )
    stopped = events_pb2.AppStopped(
        **_who_and_what(session), duration_ms=transition.duration_ms, reason=reason
    )
    _seen_on(stopped, session)
    _measured(stopped, session)
    if stopped.HasField("foreground_ms"):  # a part of the duration, each rounded on its own
        stopped.foreground_ms = min(stopped.foreground_ms, transition.duration_ms)
    return stopped


def heartbeat_event(
    device_id: str,
    running: Iterable[Session],
    *,
    catalog_version: str,
    spool_depth: int,
    events_dropped: int,
    uptime_ms: int,
) -> events_pb2.Event:
    """The set of sessions running now, and the agent's health."""
    event = new_event(device_id)
    event.heartbeat.CopyFrom(
        events_pb2.Heartbeat(
            running=[_running_app(session) for session in running],
            agent_version=AGENT_VERSION,
            catalog_version=catalog_version,
            spool_depth=spool_depth,
            events_dropped=events_dropped,
            uptime_ms=uptime_ms,
        )
    )
    return event


def _running_app(session: Session) -> events_pb2.RunningApp:
    running = events_pb2.RunningApp(**_who_and_what(session), process_count=session.process_count)
    _seen_on(running, session)
    _measured(running, session)
    return running


def lifecycle_event(
    device_id: str,
    kind: events_pb2.AgentLifecycle.Kind.ValueType,
    *,
    catalog_version: str = "",
    detail: str = "",
    first_seq: int = 0,
    last_seq: int = 0,
    count: int = 0,
) -> events_pb2.Event:
    """Agent start/stop, reloads, and recorded losses (drops, rejections) with their seq range."""
    event = new_event(device_id)
    event.agent_lifecycle.CopyFrom(
        events_pb2.AgentLifecycle(
            kind=kind,
            agent_version=AGENT_VERSION,
            catalog_version=catalog_version,
            detail=detail,
            first_seq=first_seq,
            last_seq=last_seq,
            count=count,
        )
    )
    return event


__all__ = [
    "AGENT_VERSION",
    "Lifecycle",
    "category_enum",
    "heartbeat_event",
    "lifecycle_event",
    "new_event",
    "surface_enum",
    "transition_event",
]
