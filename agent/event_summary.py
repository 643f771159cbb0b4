"""One line about an event the collector acknowledged, for the device's user to read.

`commaudit-agent status` shows the last events sent (DESIGN.md §3): their kind, app and time.
A summary never holds the OS user or anything else an event carried beyond that: the status
file is readable by every user of the device, and on a shared machine one user's sessions are
not another's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from commaudit.v1 import events_pb2

V = TypeVar("V", bound=int)
APP_KINDS = ("app_started", "app_stopped", "app_installed", "app_removed")


@dataclass(frozen=True)
class EventSummary:
    seq: int
    kind: str
    """The event's kind as the wire names it: app_started, heartbeat, agent_lifecycle, ..."""
    app_id: str
    """The catalog app of an app_* event; empty for the others."""
    category: str
    """The app's policy category (email, instant_messaging, ...); empty when no app."""
    occurred_at_ms: int
    detail: str
    """A few words more: the apps a heartbeat listed, a lifecycle event's kind, how a
    session ended, where an app was seen (process, app window, browser tab and browser)."""


def summarize(event: events_pb2.Event) -> EventSummary:
    kind = event.WhichOneof("kind") or "unknown"
    app_id, category = "", ""
    if kind in APP_KINDS:
        body = getattr(event, kind)
        app_id, category = body.app_id, category_name(body.category)
    return EventSummary(event.seq, kind, app_id, category, event.occurred_at_ms, _detail(event))


def _detail(event: events_pb2.Event) -> str:
    kind = event.WhichOneof("kind")
    if kind == "heartbeat":
        running = sorted({app.app_id for app in event.heartbeat.running})
        return "running: " + (", ".join(running) or "none")
    if kind == "agent_lifecycle":
        return _name(events_pb2.AgentLifecycle.Kind.Name, event.agent_lifecycle.kind, "KIND_")
    if kind == "app_started":
        return _seen_on(event.app_started)
    if kind == "app_stopped":
        reason = _name(events_pb2.AppStopped.Reason.Name, event.app_stopped.reason, "REASON_")
        return " ".join(
            part for part in (reason.replace("_", " "), _seen_on(event.app_stopped)) if part
        )
    return ""


def _seen_on(body: events_pb2.AppStarted | events_pb2.AppStopped) -> str:
    """'as browser tab in chromium', 'as process, app window': where the app was seen (issue 9);
    empty from agents that do not say."""
    names = [_name(events_pb2.Surface.Name, s, "SURFACE_").replace("_", " ") for s in body.surfaces]
    if not names:
        return ""
    browsers = f" in {', '.join(body.browsers)}" if body.browsers else ""
    return f"as {', '.join(names)}{browsers}"


def category_name(category: events_pb2.Category.ValueType) -> str:
    """Wire enum -> catalog name (CATEGORY_EMAIL -> email); empty when unspecified."""
    if category == events_pb2.CATEGORY_UNSPECIFIED:
        return ""
    return _name(events_pb2.Category.Name, category, "CATEGORY_")


def _name(name_of: Callable[[V], str], value: V, prefix: str) -> str:
    """A value's name, lower-case and without its prefix; the number when a newer agent or
    collector knows a value this one does not (proto3 enums are open)."""
    try:
        return name_of(value).removeprefix(prefix).lower()
    except ValueError:
        return str(value)


__all__ = ["EventSummary", "category_name", "summarize"]
