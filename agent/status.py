"""`commaudit-agent status`: what this device's agent collects and has sent, for its user.

DESIGN.md §3: the device's user sees exactly what is collected and the last events sent. Run
by any user: it reads only status.json and collector-ca.pem, which the agent leaves open to
everyone (agent.status_file), never the credential or the spool. It says what it could not
read rather than failing. The collector check is the standard gRPC health service, which needs
no credential, over the transport pinned at enrollment.
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf import wrappers_pb2

from agent.catalog import Catalog
from agent.collector_channel import CollectorChannel, RpcError, StatusCode
from agent.config import is_loopback, split_address
from agent.enrollment import CA_FILE
from agent.event_summary import EventSummary
from agent.privacy_profile import Profile, ProfileError
from agent.status_file import (
    BrowserStatus,
    DeviceFacts,
    StatusSnapshot,
    StatusUnreadable,
    read_device,
    read_status,
)
from commaudit.v1 import agent_service_pb2

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
AGENT_SERVICE = agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name
HEALTH_TIMEOUT_S = 3.0
WIDTH = 100
_SERVING = 1
_SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


@dataclass(frozen=True)
class Reachability:
    address: str
    reachable: bool
    """The collector answered and takes Reports (SERVING)."""
    detail: str


@dataclass
class Status:
    state_dir: Path
    enrolled: bool | None
    """None when this user cannot tell."""
    device: DeviceFacts | None = None
    profile: Profile | None = None
    snapshot: StatusSnapshot | None = None
    collector: Reachability | None = None
    tracked_apps: tuple[int, int] | None = None
    """(apps this profile reports, apps in the catalog)."""
    problems: list[str] = field(default_factory=list)
    """What could not be read, and why."""

    @property
    def healthy(self) -> bool:
        """Enrolled, and the collector takes Reports: the exit status of `status`."""
        return bool(self.enrolled and self.collector and self.collector.reachable)


def gather(
    state_dir: Path, catalog: Catalog, collector: str = "", timeout_s: float = HEALTH_TIMEOUT_S
) -> Status:
    """Everything status shows; `collector` overrides the address enrolled with."""
    status = Status(state_dir, enrolled=None)
    try:
        status.snapshot = read_status(state_dir)
    except StatusUnreadable as error:
        status.problems.append(str(error))
    try:
        device = status.device = read_device(state_dir, status.snapshot)
        status.enrolled = device is not None
        if device is None:
            return status
        status.profile = Profile.for_ownership(device.ownership)
    except (StatusUnreadable, ProfileError) as error:
        status.problems.append(str(error))
        return status
    status.tracked_apps = (len(status.profile.catalog(catalog).apps), len(catalog.apps))
    address = collector or device.collector
    ca_pem = None
    if not device.plaintext:
        try:
            ca_pem = (state_dir / CA_FILE).read_bytes()
        except OSError as error:
            status.problems.append(f"{state_dir / CA_FILE}: cannot read ({error.strerror})")
            status.collector = Reachability(address, False, "not checked: no pinned CA")
            return status
    status.collector = check_collector(address, ca_pem, timeout_s)
    return status


def check_collector(
    address: str, ca_pem: bytes | None, timeout_s: float = HEALTH_TIMEOUT_S
) -> Reachability:
    """Ask the collector's gRPC health service about AgentService, over TLS with the pinned CA
    (None: plaintext, loopback only, as enrollment allows).

    The request and answer are encoded as google.protobuf's StringValue and Int32Value: they
    have the wire format of grpc.health.v1's HealthCheckRequest (string service = 1) and
    HealthCheckResponse (enum status = 1), so the agent needs no health-checking package.
    """
    if ca_pem is None and not is_loopback(split_address(address)[0]):
        return Reachability(address, False, "not checked: plaintext is for loopback only")
    with CollectorChannel(address, ca_pem) as channel:
        try:
            answer = channel.call(
                HEALTH_CHECK,
                wrappers_pb2.StringValue(value=AGENT_SERVICE),
                wrappers_pb2.Int32Value,
                timeout=timeout_s,
            )
        except RpcError as error:
            if error.code == StatusCode.UNIMPLEMENTED:
                return Reachability(address, True, "answers (it has no health service)")
            return Reachability(address, False, f"{error.code.name}: {error.details}")
    serving = _SERVING_STATUS.get(answer.value, str(answer.value))
    return Reachability(address, answer.value == _SERVING, serving)


def as_json(status: Status, now_ms: int | None = None) -> dict[str, Any]:
    profile = status.profile
    snapshot = status.snapshot
    return {
        "enrolled": status.enrolled,
        "device": asdict(status.device) if status.device else None,
        "profile": profile.ownership if profile else None,
        "collects": profile.describe() if profile else [],
        "tracked_apps": list(status.tracked_apps) if status.tracked_apps else None,
        "collector": asdict(status.collector) if status.collector else None,
        "agent": _agent_json(snapshot, now_ms) if snapshot else None,
        "spool": {"depth": snapshot.spool_depth, "events_dropped": snapshot.events_dropped}
        if snapshot
        else None,
        "browsers": asdict(snapshot.browsers) if snapshot and snapshot.browsers else None,
        "last_sent": [_sent_json(s) for s in snapshot.last_sent] if snapshot else [],
        "problems": status.problems,
    }


def _agent_json(snapshot: StatusSnapshot, now_ms: int | None) -> dict[str, Any]:
    return {
        "state": snapshot.agent,
        "written_at": _iso(snapshot.written_at_ms),
        "age_s": round(_age_s(snapshot, now_ms), 1),
        "stale": _stale(snapshot, now_ms),
        "catalog_version": snapshot.catalog_version,
    }


def _sent_json(summary: EventSummary) -> dict[str, Any]:
    row = asdict(summary)
    row["occurred_at"] = _iso(row.pop("occurred_at_ms"))
    return row


def render(status: Status, now_ms: int | None = None) -> str:
    """The status as a person reads it."""
    lines = [f"commaudit agent, state directory {status.state_dir}", ""]
    lines += _enrollment_lines(status)
    if status.snapshot:
        lines += _agent_lines(status.snapshot, now_ms)
    if status.profile:
        lines += ["", f"What this device reports ({status.profile.ownership} profile):"]
        said = status.profile.describe()
        if status.tracked_apps:
            said.append(
                "Apps recognised: {} of the {} in the catalog.".format(*status.tracked_apps)
            )
        lines += [_bullet(line) for line in said]
    if status.snapshot and status.snapshot.browsers:
        lines += ["", *_browser_lines(status.snapshot.browsers)]
    if status.snapshot:
        lines += ["", *_sent_lines(status.snapshot.last_sent)]
    if status.problems:
        lines += ["", "Could not read:", *(_bullet(problem) for problem in status.problems)]
    return "\n".join(lines)


def _bullet(text: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent="  - ", subsequent_indent="    ")


def _enrollment_lines(status: Status) -> list[str]:
    device = status.device
    if status.enrolled is None:
        return ["Enrolled:  cannot tell (see below)"]
    if device is None:
        return ["Enrolled:  no (commaudit-agent enroll --collector HOST:PORT --token TOKEN ...)"]
    lines = [f"Enrolled:  yes: device {device.device_id} ({device.org}), {device.ownership}"]
    if status.collector:
        state = "reachable" if status.collector.reachable else "NOT reachable"
        lines.append(f"Collector: {status.collector.address}: {state} ({status.collector.detail})")
    return lines


def _agent_lines(snapshot: StatusSnapshot, now_ms: int | None) -> list[str]:
    age = _age_s(snapshot, now_ms)
    state = {"enrolled": "has not run since enrollment"}.get(snapshot.agent, snapshot.agent)
    if snapshot.agent == "running" and _stale(snapshot, now_ms):
        state = "not running? (it last wrote its status long ago)"
    return [
        f"Agent:     {state}; status written {_iso(snapshot.written_at_ms)} ({age:.0f} s ago)",
        f"Spool:     {snapshot.spool_depth} events waiting to be sent,"
        f" {snapshot.events_dropped} lost to a full spool",
    ]


def _browser_lines(browsers: BrowserStatus) -> list[str]:
    """What the browser extension reports: service names only, never a site's address."""
    if not browsers.collected:
        return [f"Browser tabs: {browsers.detail}"]
    if not browsers.tabs:
        return ["Browser tabs: no catalog web service is open in a browser now"]
    lines = ["Catalog web services open in browser tabs now (reported by name only):"]
    for tab in browsers.tabs:
        count = f"{tab.tabs} tab" + ("s" if tab.tabs != 1 else "")
        use = ", in use" if tab.focused else ""
        lines.append(f"  {tab.app_id} ({tab.category}) in {tab.browser}: {count}{use}")
    return lines


def _sent_lines(sent: tuple[EventSummary, ...]) -> list[str]:
    if not sent:
        return ["Last events sent: none yet"]
    lines = [f"Last {len(sent)} events sent (newest first):"]
    for s in sent:
        lines.append(f"  {_iso(s.occurred_at_ms)}  #{s.seq:<7} {s.kind:<16} {_what(s)}".rstrip())
    return lines


def _what(summary: EventSummary) -> str:
    """The app, if any, then the detail: 'slack (instant_messaging)', 'running: slack'."""
    app = f"{summary.app_id} ({summary.category})" if summary.app_id else ""
    return " ".join(part for part in (app, summary.detail) if part)


def _age_s(snapshot: StatusSnapshot, now_ms: int | None) -> float:
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return max(0.0, (now - snapshot.written_at_ms) / 1000)


def _stale(snapshot: StatusSnapshot, now_ms: int | None) -> bool:
    """A running agent rewrites its status every heartbeat; three missed ones mean it stopped
    without saying so (killed, crashed, or the machine slept)."""
    return snapshot.agent == "running" and (
        _age_s(snapshot, now_ms) > 3 * snapshot.heartbeat_interval_s + 5
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "Reachability",
    "Status",
    "as_json",
    "check_collector",
    "gather",
    "render",
]
