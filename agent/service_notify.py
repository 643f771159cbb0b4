"""Tell systemd how a service is doing (sd_notify), for units with Type=notify and WatchdogSec.

systemd passes the socket to write to in `$NOTIFY_SOCKET` (a path, or an abstract name written
with a leading '@') and, when the unit has WatchdogSec, the watchdog period in `$WATCHDOG_USEC`.
The protocol is one datagram of `KEY=value` lines per message (sd_notify(3)); it is small enough
to speak here with the standard library, so neither the agent nor the collector needs libsystemd.
Without `$NOTIFY_SOCKET` (another service manager, a terminal, Windows, macOS) every call is a
no-op, so callers never ask which manager runs them.

Shared by the agent and the collector; stdlib only, since the agent must stay free of server code.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

READY = "READY=1"
WATCHDOG = "WATCHDOG=1"
STOPPING = "STOPPING=1"


def notify(state: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send `state` (e.g. READY=1) to the service manager; False when there is none to tell.

    A failed send is logged, never raised: a service must not die because its manager's socket
    went away (systemd then restarts or stops it on its own terms).
    """
    address = environ.get("NOTIFY_SOCKET", "")
    if not address or not hasattr(socket, "AF_UNIX"):
        return False
    if address.startswith("@"):  # abstract namespace (Linux): the name starts with a NUL byte
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as error:
        log.warning("cannot notify the service manager (%s): %s", state, error)
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] = os.environ) -> float | None:
    """How often to send WATCHDOG=1: half the unit's WatchdogSec, as sd_watchdog_enabled(3)
    advises, so one late ping is not yet a timeout; None when no watchdog is asked of this process.

    `$WATCHDOG_PID`, when set, names the process the watchdog is meant for; a child that
    inherited the variables is not it.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2 / 1_000_000 if value > 0 else None


class Watchdog:
    """WATCHDOG=1 at most once per interval, however often `ping()` is called (a loop's pace is
    its own business); does nothing when no watchdog is asked of this process."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.environ = environ
        self.interval_s = watchdog_interval_s(environ)
        self._next = 0.0

    def ping(self) -> None:
        if self.interval_s is None:
            return
        now = time.monotonic()
        if now >= self._next:
            notify(WATCHDOG, self.environ)
            self._next = now + self.interval_s


async def feed_watchdog(environ: Mapping[str, str] = os.environ) -> None:
    """WATCHDOG=1 every interval until cancelled, for a service built on an asyncio loop: a loop
    blocked by anything stops the pings, which is what the watchdog is there to notice."""
    import asyncio  # here, not at the top: the agent has no loop, and asyncio costs it 1 MiB

    interval_s = watchdog_interval_s(environ)
    if interval_s is None:
        return
    while True:
        notify(WATCHDOG, environ)
        await asyncio.sleep(interval_s)
