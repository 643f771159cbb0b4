"""Turns successive scans into sessions: one per (app, OS user), started and stopped once.

Pure logic, no I/O, so every transition can be tested without processes. Durations come from
the monotonic clock: a wall-clock jump during a session must not stretch or shrink it.

A session's CPU time (issue 7 item 4: "in use", not only running) is the sum over its processes
of what each used since it joined the session, plus what the ones that left (exited, or `exec`ed
into something else) had used by the last scan that saw them: a process that exits between two
scans loses at most one scan interval of CPU time. A process that joined by starting since the
previous scan counts from its start, so an app's start-up, often its busiest second, is in;
one that already existed (before the agent started, before a catalog reload, or under another
name before an `exec`) counts from when it joined.

Browser tabs (issue 9) join the same session as the app's processes and app windows for the
same user: a YouTube app window and a YouTube tab of one user are one session, open while
either is. A session records every surface and browser it was seen on, and its foreground time:
how long one of its tabs was the active tab of the focused window, as each scan saw it (what a
scan saw holds until the next one). Foreground time is known for tabs only, so a session that
never had a tab has none; one that never had a process has no CPU time (the browser's CPU is
not the service's), which is "not measured", not 0.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.catalog import App
from agent.scan import ProcessCpu, ProcessKey, Running, SessionKey, Surface


@dataclass
class SessionCpu:
    """CPU milliseconds used by a session's processes while they belonged to it."""

    _counted: dict[ProcessKey, tuple[int, int]] = field(default_factory=dict)  # (from, latest)
    _departed_ms: int = 0

    @property
    def total_ms(self) -> int:
        return self._departed_ms + sum(latest - base for base, latest in self._counted.values())

    def update(self, processes: Mapping[ProcessKey, ProcessCpu]) -> None:
        """Take one scan's readings of the session's processes."""
        for key in self._counted.keys() - processes.keys():  # exited or left the app
            base, latest = self._counted.pop(key)
            self._departed_ms += latest - base
        for key, (cpu_ms, new) in processes.items():
            if cpu_ms is None:  # unreadable this time: keep what is known
                continue
            base = self._counted[key][0] if key in self._counted else 0 if new else cpu_ms
            self._counted[key] = (base, max(base, cpu_ms))


@dataclass(frozen=True)
class OpenTabs:
    """One app's catalog tabs for one OS user, over all their browsers, as one scan saw them."""

    app: App
    browsers: frozenset[str]
    focused: bool
    """One of them is the active tab of a focused window."""


@dataclass
class Focus:
    """Foreground time: what each scan saw holds until the next scan (or the session's end)."""

    _total_s: float = 0.0
    _since: float | None = None
    """When a scan last saw a focused tab, if the latest scan did."""

    @property
    def total_ms(self) -> int:
        return round(self._total_s * 1000)

    def observe(self, focused: bool, now_mono: float) -> None:
        self.close(now_mono)
        self._since = now_mono if focused else None

    def close(self, now_mono: float) -> None:
        """Count the time since the last focused sighting, up to now."""
        if self._since is not None:
            self._total_s += max(0.0, now_mono - self._since)
            self._since = now_mono


@dataclass
class Session:
    """One app running for one OS user, first seen by one scan, gone in a later one."""

    session_id: str
    app: App
    os_user: str
    process_count: int
    started_mono: float = field(repr=False)
    cpu: SessionCpu = field(default_factory=SessionCpu, repr=False)
    surfaces: set[Surface] = field(default_factory=set)
    """Every surface it was seen on so far."""
    browsers: set[str] = field(default_factory=set)
    """Every browser its tabs were open in so far."""
    focus: Focus | None = field(default=None, repr=False)
    """None until it has a tab."""

    @property
    def cpu_ms(self) -> int | None:
        """CPU time its processes used during the session, as of the latest scan; None when
        it never had a process (tabs only)."""
        if not self.surfaces - {Surface.BROWSER_TAB}:
            return None
        return self.cpu.total_ms

    @property
    def foreground_ms(self) -> int | None:
        """Time one of its tabs was focused, as of the latest scan; None: it never had a tab."""
        return self.focus.total_ms if self.focus is not None else None

    def duration_ms(self, now_mono: float) -> int:
        return max(0, round((now_mono - self.started_mono) * 1000))

    def observe(self, running: Running, tabs: OpenTabs | None, now_mono: float) -> None:
        """Take one scan's sighting of the session: its processes, its tabs, or both."""
        key = (self.app.id, self.os_user)
        counted = running.get(key)
        self.process_count = counted[1] if counted is not None else 0
        if counted is not None:
            self.surfaces |= running.surfaces.get(key) or {Surface.PROCESS}
        self.cpu.update(running.processes.get(key, {}))
        if tabs is not None:
            self.surfaces.add(Surface.BROWSER_TAB)
            self.browsers |= tabs.browsers
            self.focus = self.focus or Focus()
        if self.focus is not None:
            self.focus.observe(tabs is not None and tabs.focused, now_mono)

    def end(self, now_mono: float) -> None:
        if self.focus is not None:
            self.focus.close(now_mono)


@dataclass(frozen=True)
class Started:
    session: Session


@dataclass(frozen=True)
class Stopped:
    session: Session
    duration_ms: int
    agent_stopped: bool = False  # True when the agent, not the app, ended it


Transition = Started | Stopped


class SessionTracker:
    """The sessions open now, updated from each scan."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], Session] = {}

    @property
    def running(self) -> list[Session]:
        return list(self._open.values())

    def update(
        self,
        running: Running,
        now_mono: float,
        tabs: Mapping[SessionKey, OpenTabs] | None = None,
    ) -> list[Transition]:
        """Sessions that began or ended since the previous scan (stops first). `tabs`: the
        catalog tabs open now, by (app id, OS user), the same keys as `running`."""
        tabs = tabs or {}
        transitions: list[Transition] = []
        for key in [key for key in self._open if key not in running and key not in tabs]:
            ended = self._open.pop(key)
            ended.end(now_mono)
            transitions.append(Stopped(ended, ended.duration_ms(now_mono)))
        seen = {key: entry[0] for key, entry in running.items()}
        seen |= {key: entry.app for key, entry in tabs.items() if key not in seen}
        for key, app in seen.items():
            session = self._open.get(key)
            if session is None:
                session = Session(str(uuid.uuid4()), app, key[1], 0, now_mono)
                self._open[key] = session
                transitions.append(Started(session))
            session.observe(running, tabs.get(key), now_mono)
        return transitions

    def stop_all(self, now_mono: float) -> list[Transition]:
        """End every open session because the agent itself is stopping."""
        stopped: list[Transition] = []
        for session in self._open.values():
            session.end(now_mono)
            stopped.append(Stopped(session, session.duration_ms(now_mono), agent_stopped=True))
        self._open.clear()
        return stopped
