"""OS-specific process reading behind one dispatcher, imported lazily on `sys.platform`.

Why: the scan's cheap "has this pid changed?" check reads different things per OS (on Linux the
kernel's process events, or else a `/proc/<pid>/comm` file kept open); everything above this
package stays the same on every OS.
"""

from __future__ import annotations

import sys
from typing import NamedTuple, Protocol

# (start time in OS-specific ticks, process name as raw bytes): equal stamps mean the same
# program image. Bytes, because decoding every name on every scan is cost for nothing.
ProcessStamp = tuple[int, bytes]


class Usage(NamedTuple):
    """What the scanner asks of each catalog-matched process, every scan."""

    running: bool
    """False once it has exited, even while its parent has not collected it (a zombie)."""
    cpu_ms: int | None
    """User + system CPU milliseconds it has used in its life; None when the OS will not say."""


class ProcessReader(Protocol):
    """One cheap look at every process per scan, and a closer one at the few that matter."""

    def read_all(self) -> dict[int, ProcessStamp]:
        """The stamp of every process listed now, by pid. A process that has exited but not been
        collected by its parent may be among them: usage() tells."""
        ...

    def usage(self, pid: int) -> Usage:
        """Whether `pid` (seen by the latest read_all) still runs, and its CPU time. Asked only
        for catalog-matched processes: a few per device."""
        ...

    def close(self) -> None:
        """Release what the reader keeps open between scans."""
        ...


def process_reader() -> ProcessReader:
    """The cheapest reader of processes on this OS."""
    if sys.platform.startswith("linux"):
        from agent.platform import linux, proc_connector

        return linux.ProcFiles(connector=proc_connector.open_once())
    from agent.platform import portable

    return portable.PsutilReader()


__all__ = ["ProcessReader", "ProcessStamp", "Usage", "process_reader"]
