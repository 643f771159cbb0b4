"""Which catalog apps are running, and for whom, at the cost of little more than listing pids.

Each scan lists pids and reads one cheap stamp per pid (agent.platform); a process's name, exe,
command line and user are read again only when its stamp changed: a new pid, a reused pid (new
start time) or an `exec` in place (new name). DESIGN.md §3 has the measured costs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import psutil

from agent.catalog import App, Matcher
from agent.platform import ProcessStamp, StampReader, stamp_reader


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


# (app id, OS user) -> (app, number of its processes): one session per app per OS user.
Running = dict[tuple[str, str], tuple[App, int]]


class Scanner:
    """Remembers what each pid was, so that unchanged processes cost one stamp read."""

    def __init__(self, matcher: Matcher, read_stamp: StampReader | None = None) -> None:
        self._matcher = matcher
        self._read_stamp = read_stamp or stamp_reader()
        self._seen: dict[int, _Seen] = {}
        self.full_reads = 0  # processes read in full since start: the cost the cache saves

    def set_matcher(self, matcher: Matcher) -> None:
        """Take a new catalog: every process must be matched again."""
        self._matcher = matcher
        self._seen.clear()

    def scan(self) -> Running:
        """Catalog apps running now, by (app id, OS user), with their process counts."""
        pids = psutil.pids()
        seen: dict[int, _Seen] = {}
        for pid in pids:
            stamp = self._read_stamp(pid)
            if stamp is None:
                continue
            previous = self._seen.get(pid)
            if previous is None or previous.stamp != stamp:
                previous = self._identify(pid, stamp)
            seen[pid] = previous
        self._seen = seen
        return _count(seen.values())

    def _identify(self, pid: int, stamp: ProcessStamp) -> _Seen:
        self.full_reads += 1
        info = read_process(pid)
        if info is None:
            return _Seen(stamp, None, "")
        return _Seen(stamp, self._matcher.match(info.name, info.exe, info.cmdline), info.os_user)


def _count(seen: Iterable[_Seen]) -> Running:
    counts: Counter[tuple[str, str]] = Counter()
    apps: dict[str, App] = {}
    for entry in seen:
        if entry.app is not None:
            counts[(entry.app.id, entry.os_user)] += 1
            apps[entry.app.id] = entry.app
    return {key: (apps[key[0]], count) for key, count in counts.items()}


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
