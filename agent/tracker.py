"""Turns successive scans into sessions: one per (app, OS user), started and stopped once.

Pure logic, no I/O, so every transition can be tested without processes. Durations come from
the monotonic clock: a wall-clock jump during a session must not stretch or shrink it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from agent.catalog import App
from agent.scan import Running


@dataclass
class Session:
    """One app running for one OS user, first seen by one scan, gone in a later one."""

    session_id: str
    app: App
    os_user: str
    process_count: int
    started_mono: float = field(repr=False)

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
                started = Session(str(uuid.uuid4()), app, key[1], count, now_mono)
                self._open[key] = started
                transitions.append(Started(started))
            else:
                session.process_count = count
        return transitions

    def stop_all(self, now_mono: float) -> list[Transition]:
        """End every open session because the agent itself is stopping."""
        stopped: list[Transition] = [
            Stopped(s, s.duration_ms(now_mono), agent_stopped=True) for s in self._open.values()
        ]
        self._open.clear()
        return stopped
