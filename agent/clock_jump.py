"""Wall-clock jumps, seen by comparing the wall clock's progress with a steady clock's.

Events carry wall-clock times (`occurred_at_ms`) while sessions are timed on the monotonic clock
(agent/tracker.py), so a clock set by hand, a bad NTP step or a dead CMOS battery shifts the
times the collector stores without changing any duration. Recording the jump (issue 7 item 8)
lets a report tell a real gap from a shifted clock.

Both clocks are read once per scan; between two reads they must advance alike. NTP slewing
moves the wall clock by at most 0.5 ms per second, so anything past `THRESHOLD_S` is a step.
The steady clock is CLOCK_BOOTTIME where there is one (Linux): it counts a suspend as the wall
clock does, so a laptop that slept for an hour is not reported as a clock an hour fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable

THRESHOLD_S = 2.0
"""Smaller steps are NTP's routine corrections and change no report."""


def steady_clock() -> float:
    """Seconds on a clock no one can set, suspend included where the OS offers that."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


class ClockWatch:
    """Compares each reading with the previous one; the first reading only sets the reference."""

    def __init__(
        self,
        wall_clock: Callable[[], float] = time.time,
        steady: Callable[[], float] = steady_clock,
        threshold_s: float = THRESHOLD_S,
    ) -> None:
        self._wall, self._steady, self._threshold_s = wall_clock, steady, threshold_s
        self._last: tuple[float, float] | None = None

    def check(self) -> int | None:
        """The wall clock's jump since the last check in ms (negative: set back), or None."""
        now = (self._wall(), self._steady())
        last, self._last = self._last, now
        if last is None:
            return None
        jump_s = (now[0] - last[0]) - (now[1] - last[1])
        return round(jump_s * 1000) if abs(jump_s) > self._threshold_s else None


def describe_jump(jump_ms: int) -> str:
    """`forward 3600000 ms` / `backward 120000 ms`: the agent_lifecycle detail."""
    return f"{'forward' if jump_ms > 0 else 'backward'} {abs(jump_ms)} ms"
