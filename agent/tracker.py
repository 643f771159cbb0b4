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
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.catalog import App
from agent.scan import ProcessCpu, ProcessKey, Running


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


@dataclass
class Session:
    """One app running for one OS user, first seen by one scan, gone in a later one."""

    session_id: str
    app: App
    os_user: str
    process_count: int
    started_mono: float = field(repr=False)
    cpu: SessionCpu = field(default_factory=SessionCpu, repr=False)

    @property
    def cpu_ms(self) -> int:
        """CPU time its processes used during the session, as of the latest scan."""
        return self.cpu.total_ms

    def duration_ms(self, now_mono: float) -> int:
        return max(0, round((now_mono - self.started_mono) * 1000))


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

    def update(self, running: Running, now_mono: float) -> list[Transition]:
        """Sessions that began or ended since the previous scan (stops first)."""
        transitions: list[Transition] = []
        for key in [key for key in self._open if key not in running]:
            ended = self._open.pop(key)
            transitions.append(Stopped(ended, ended.duration_ms(now_mono)))
        for key, (app, count) in running.items():
            session = self._open.get(key)
            if session is None:
                session = Session(str(uuid.uuid4()), app, key[1], count, now_mono)
                self._open[key] = session
                transitions.append(Started(session))
            else:
                session.process_count = count
            session.cpu.update(running.processes.get(key, {}))
        return transitions

    def stop_all(self, now_mono: float) -> list[Transition]:
        """End every open session because the agent itself is stopping."""
        stopped: list[Transition] = [
            Stopped(s, s.duration_ms(now_mono), agent_stopped=True) for s in self._open.values()
        ]
        self._open.clear()
        return stopped
