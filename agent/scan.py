"""Which catalog apps are running, for whom, and how much CPU time they use, at the cost of
little more than listing pids.

Each scan lists pids and reads one cheap stamp per pid (agent.platform); a process's name, exe,
command line and user are read again only when its stamp changed: a new pid, a reused pid (new
start time) or an `exec` in place (new name). Whether a catalog-matched process still runs, and
the CPU time it has used (issue 7 item 4: "in use, not only running"), are read for those few
processes only. benchmarks/agent_scan.py measures the costs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, TypeVar

import psutil

from agent.catalog import App, Matcher
from agent.platform import ProcessReader, ProcessStamp, process_reader

SessionKey = tuple[str, str]
"""(app id, OS user): one session per app per OS user."""
ProcessKey = tuple[int, int]
"""(pid, start time): one process over its whole life, across an `exec` in place."""


class Surface(StrEnum):
    """Where an app was seen (issue 9); the wire's enum Surface, SURFACE_<NAME>."""

    PROCESS = "process"
    """A desktop client's own processes."""
    APP_WINDOW = "app_window"
    """A browser showing the service as an app window or installed web app (`--app=`)."""
    BROWSER_TAB = "browser_tab"
    """An ordinary browser tab, as the browser extension reports it (agent/browser/)."""


class ProcessCpu(NamedTuple):
    """One matched process's CPU time, as one scan read it."""

    cpu_ms: int | None
    """User + system milliseconds used in its life so far; None when the OS would not say."""
    new: bool
    """It started since the previous scan, so all of that time lies within the agent's view."""


class Running(dict[SessionKey, tuple[App, int]]):
    """Catalog apps running now: (app id, OS user) -> (app, number of its processes).

    `processes` holds, under the same keys, each of those processes with its CPU time: what the
    tracker adds up into a session's CPU time. Running built from counts alone (as tests do)
    simply has none. `surfaces` holds what the processes were: an app's own, or a browser's
    app window; a key it lacks counts as PROCESS.
    """

    def __init__(
        self,
        counts: Mapping[SessionKey, tuple[App, int]] | None = None,
        processes: Mapping[SessionKey, dict[ProcessKey, ProcessCpu]] | None = None,
        surfaces: Mapping[SessionKey, set[Surface]] | None = None,
    ) -> None:
        super().__init__(counts or {})
        self.processes: dict[SessionKey, dict[ProcessKey, ProcessCpu]] = dict(processes or {})
        self.surfaces: dict[SessionKey, set[Surface]] = dict(surfaces or {})


@dataclass(frozen=True)
class ProcessInfo:
    """What the catalog matches on, read once per program image."""

    pid: int
    name: str
    exe: str
    cmdline: tuple[str, ...]
    os_user: str


@dataclass(frozen=True)
class _Seen:
    stamp: ProcessStamp
    app: App | None
    os_user: str
    surface: Surface = Surface.PROCESS


class Scanner:
    """Remembers what each pid was, so that unchanged processes cost one stamp read."""

    def __init__(self, matcher: Matcher, reader: ProcessReader | None = None) -> None:
        self._matcher = matcher
        self._reader = reader or process_reader()
        self._seen: dict[int, _Seen] = {}
        self._rematch = False
        self._first = True
        self.full_reads = 0  # processes read in full since start: the cost the cache saves

    @property
    def reader(self) -> ProcessReader:
        """How this scanner reads processes (the cheapest this OS and host allow)."""
        return self._reader

    def set_matcher(self, matcher: Matcher) -> None:
        """Take a new catalog: every process is matched again at the next scan. Which processes
        existed is kept, so that apps the new catalog adds do not count their past CPU time."""
        self._matcher = matcher
        self._rematch = True

    def scan(self) -> Running:
        """Catalog apps running now, by (app id, OS user), with their processes."""
        stamps = self._reader.read_all()
        before, rematch, first = self._seen, self._rematch, self._first
        seen: dict[int, _Seen] = {}
        matched: list[tuple[int, App, _Seen, bool]] = []
        for pid, stamp in stamps.items():
            previous = before.get(pid)
            entry = previous
            if entry is None or entry.stamp != stamp or rematch:
                entry = self._identify(pid, stamp)
            seen[pid] = entry
            if entry.app is not None:
                # At the first scan nothing is known of the past: every process is old.
                new = not first and (previous is None or previous.stamp[0] != stamp[0])
                matched.append((pid, entry.app, entry, new))
        self._seen, self._rematch, self._first = seen, False, False
        return self._running(matched)

    def close(self) -> None:
        """Release what the reader keeps open between scans."""
        self._reader.close()

    def _identify(self, pid: int, stamp: ProcessStamp) -> _Seen:
        self.full_reads += 1
        info = read_process(pid)
        if info is None:
            return _Seen(stamp, None, "")
        app = self._matcher.match(info.name, info.exe, info.cmdline)
        browser = app is not None and self._matcher.is_browser(info.name, info.exe)
        surface = Surface.APP_WINDOW if browser else Surface.PROCESS
        return _Seen(stamp, app, info.os_user, surface)

    def _running(self, matched: list[tuple[int, App, _Seen, bool]]) -> Running:
        """Group the matched processes by session key, leaving out those that have exited but
        not been collected by their parent; state and CPU time are read for these only."""
        running = Running()
        for pid, app, entry, new in matched:
            usage = self._reader.usage(pid)
            if not usage.running:
                continue
            key = (app.id, entry.os_user)
            processes = running.processes.setdefault(key, {})
            processes[(pid, entry.stamp[0])] = ProcessCpu(usage.cpu_ms, new)
            running[key] = (app, len(processes))
            running.surfaces.setdefault(key, set()).add(entry.surface)
        return running


def read_process(pid: int) -> ProcessInfo | None:
    """Name, exe, command line and user; fields the OS refuses to show are left empty."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            name = process.name()
            exe = _or_default(process.exe, "")
            cmdline = tuple(_or_default(process.cmdline, list[str]()))
            os_user = _or_default(process.username, "")
    except psutil.Error:  # gone (NoSuchProcess) or its name hidden: nothing to match on
        return None
    return ProcessInfo(pid, name, exe, cmdline, os_user)


T = TypeVar("T")


def _or_default(read: Callable[[], T], default: T) -> T:
    """Another user's exe or command line can be hidden from us; that is not an error."""
    try:
        return read()
    except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return default
