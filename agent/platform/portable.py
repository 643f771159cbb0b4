"""macOS and Windows: psutil's create_time and name are single cheap system calls there.

CPU time and state are not part of that look, so they are read (`status`, `cpu_times`) only for
the catalog-matched processes the scanner asks about: a few per device. Their psutil.Process
objects are kept while their stamp holds. Stamps always come from a fresh Process:
psutil caches create_time in the object, and a cached one would hide a reused pid.

Not exercised by this project's CI on macOS or Windows; psutil runs it on Linux in the tests.
"""

from __future__ import annotations

import psutil

from agent.platform import ProcessStamp, Usage

_GONE = Usage(running=False, cpu_ms=None)


def read_stamp(pid: int) -> ProcessStamp | None:
    """(creation time in microseconds, name) of `pid`, or None when it is gone or unreadable."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            return int(process.create_time() * 1_000_000), process.name().encode()
    except (psutil.Error, OSError):
        return None


class PsutilReader:
    """Stamps of every process through psutil; state and CPU time of the matched ones."""

    def __init__(self) -> None:
        self._stamps: dict[int, ProcessStamp] = {}
        self._kept: dict[int, tuple[ProcessStamp, psutil.Process]] = {}

    def read_all(self) -> dict[int, ProcessStamp]:
        stamps: dict[int, ProcessStamp] = {}
        for pid in psutil.pids():
            stamp = read_stamp(pid)
            if stamp is not None:
                stamps[pid] = stamp
        self._stamps = stamps
        self._kept = {pid: kept for pid, kept in self._kept.items() if stamps.get(pid) == kept[0]}
        return stamps

    def usage(self, pid: int) -> Usage:
        stamp = self._stamps.get(pid)
        if stamp is None:
            return _GONE
        try:
            kept = self._kept.get(pid)
            if kept is None:
                kept = self._kept[pid] = (stamp, psutil.Process(pid))
            process = kept[1]
            if process.status() == psutil.STATUS_ZOMBIE:
                return _GONE
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return _GONE
        except (psutil.Error, OSError):  # AccessDenied: another user's, running, CPU time hidden
            return Usage(running=True, cpu_ms=None)
        return Usage(running=True, cpu_ms=round((times.user + times.system) * 1000))

    def close(self) -> None:
        self._kept.clear()
