"""status.json: what the agent tells every user of the device, written by the agent itself.

`commaudit-agent status` must work for the device's user, who may read neither the credential
(enrollment.json, owner-only) nor the spool (owner-only: it holds every user's sessions). So
the agent writes, at enrollment, at start, at every heartbeat and at stop, a small file for
everyone: the device's public facts, the spool's depth, the last events sent, and the catalog
web services open in browser tabs now (issue 9: by app id and browser, never a hostname). No
secret, no OS user: on a shared device one user's tabs are not another's business. Written
whole through agent.atomic_file, so a reader never sees half of it.

The state directory is 0711 (enrollment.py): others may open status.json and collector-ca.pem
by name, but cannot list the directory or open the rest.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.atomic_file import PUBLIC, write_atomically
from agent.enrollment import ENROLLMENT_FILE, Enrollment, EnrollmentError, load_enrollment
from agent.event_summary import EventSummary
from agent.spool import SENT_KEPT, Spool

log = logging.getLogger(__name__)

STATUS_FILE = "status.json"
FORMAT = 1


class StatusUnreadable(Exception):
    """This user may not read what the status needs; the message says which file and why."""


@dataclass(frozen=True)
class DeviceFacts:
    """The enrollment without its secret: what any user of the device may know."""

    device_id: str
    org: str
    ownership: str
    collector: str
    """The address the agent reports to (the enrolled one, or the one configured since)."""
    plaintext: bool

    @classmethod
    def of(cls, enrollment: Enrollment, collector: str = "") -> DeviceFacts:
        return cls(
            enrollment.device_id,
            enrollment.org,
            enrollment.ownership,
            collector or enrollment.collector,
            enrollment.plaintext,
        )


@dataclass(frozen=True)
class TabApp:
    """A catalog web service open in browser tabs now, as the browser extension reports it."""

    app_id: str
    category: str
    browser: str
    tabs: int
    focused: bool
    """One of its tabs is the active tab of a focused window."""


@dataclass(frozen=True)
class BrowserStatus:
    collected: bool
    """The agent hears the browsers: an employer's device whose agent listens for them."""
    detail: str
    """Why it does not; empty when it does."""
    tabs: tuple[TabApp, ...] = ()


@dataclass(frozen=True)
class StatusSnapshot:
    device: DeviceFacts
    agent: str
    """enrolled (has not run since), running, or stopped."""
    written_at_ms: int
    heartbeat_interval_s: float
    """How often a running agent rewrites the file: an older file means it is not running."""
    catalog_version: str
    spool_depth: int
    events_dropped: int
    last_sent: tuple[EventSummary, ...]
    """Newest first."""
    browsers: BrowserStatus | None = None
    """None from an agent that has no browser surface (or has not run yet)."""


class StatusFile:
    """Writes status.json for one device; the daemon calls `write` at start, at each heartbeat
    and at stop."""

    def __init__(self, state_dir: Path, device: DeviceFacts, heartbeat_interval_s: float) -> None:
        self.path = state_dir / STATUS_FILE
        self.device = device
        self.heartbeat_interval_s = heartbeat_interval_s

    def write(
        self,
        spool: Spool | None,
        agent: str,
        catalog_version: str,
        browsers: BrowserStatus | None = None,
    ) -> None:
        """Never raises: the status is a courtesy to the device's user, and a full or read-only
        disk must not stop the agent (the spool says what went wrong, if anything)."""
        snapshot = StatusSnapshot(
            self.device,
            agent,
            time.time_ns() // 1_000_000,
            self.heartbeat_interval_s,
            catalog_version,
            spool.depth() if spool else 0,
            spool.dropped() if spool else 0,
            tuple(spool.recently_sent(SENT_KEPT)) if spool else (),
            browsers,
        )
        try:
            write_status(self.path, snapshot)
        except OSError as error:
            log.warning("%s: cannot write the status for this device's users: %s", self.path, error)


def write_status(path: Path, snapshot: StatusSnapshot) -> None:
    body = json.dumps({"format": FORMAT, **asdict(snapshot)}, indent=2).encode()
    write_atomically(path, body, mode=PUBLIC)
    # The service's umask (UMask=0077) narrows the mode given at creation; the file is for
    # every user, so set it exactly.
    os.chmod(path, PUBLIC)


def read_status(state_dir: Path) -> StatusSnapshot | None:
    """The snapshot the agent wrote; None when it has written none yet."""
    path = state_dir / STATUS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except PermissionError:
        raise StatusUnreadable(f"{path}: not readable by this user ({_why_not(path)})") from None
    except (OSError, ValueError) as error:
        raise StatusUnreadable(f"{path}: unreadable ({error})") from None
    try:
        return _snapshot(data)
    except (KeyError, TypeError, ValueError) as error:
        raise StatusUnreadable(f"{path}: not a status file of this agent ({error!r})") from None


def _snapshot(data: dict[str, Any]) -> StatusSnapshot:
    if data.get("format") != FORMAT:
        raise ValueError(f"format {data.get('format')!r}, this agent reads {FORMAT}")
    return StatusSnapshot(
        device=DeviceFacts(**data["device"]),
        agent=str(data["agent"]),
        written_at_ms=int(data["written_at_ms"]),
        heartbeat_interval_s=float(data["heartbeat_interval_s"]),
        catalog_version=str(data["catalog_version"]),
        spool_depth=int(data["spool_depth"]),
        events_dropped=int(data["events_dropped"]),
        last_sent=tuple(EventSummary(**row) for row in data["last_sent"]),
        browsers=_browsers(data.get("browsers")),  # absent from an agent before issue 9
    )


def _browsers(data: dict[str, Any] | None) -> BrowserStatus | None:
    if data is None:
        return None
    tabs = tuple(TabApp(**row) for row in data["tabs"])
    return BrowserStatus(bool(data["collected"]), str(data["detail"]), tabs)


def read_device(state_dir: Path, snapshot: StatusSnapshot | None) -> DeviceFacts | None:
    """This device's public facts; None when it is not enrolled. From enrollment.json when this
    user may read it (the agent's own user: always current), else from the agent's status."""
    path = state_dir / ENROLLMENT_FILE
    try:
        os.stat(path)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise StatusUnreadable(f"{state_dir}: not open to this user ({_why_not(path)})") from None
    if os.access(path, os.R_OK):
        try:
            return DeviceFacts.of(load_enrollment(state_dir))
        except EnrollmentError as error:
            raise StatusUnreadable(str(error)) from None
    if snapshot is None:
        raise StatusUnreadable(
            f"{path}: enrolled, but only the agent may read the enrollment, and its"
            f" {STATUS_FILE} is missing or unreadable"
        )
    return snapshot.device


def _why_not(path: Path) -> str:
    """Which directory on the way, or the file itself, shuts this user out."""
    for part in (*reversed(path.parents), path):
        try:
            mode = part.stat().st_mode
        except OSError:
            return f"{part} cannot be looked at"
        needed = os.R_OK if part == path else os.X_OK
        if not os.access(part, needed):
            return f"{part} is {stat.filemode(mode)}"
    return "permission denied"


__all__ = [
    "STATUS_FILE",
    "BrowserStatus",
    "DeviceFacts",
    "StatusFile",
    "StatusSnapshot",
    "StatusUnreadable",
    "TabApp",
    "read_device",
    "read_status",
    "write_status",
]
