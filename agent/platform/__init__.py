"""OS-specific process reading behind one dispatcher, imported lazily on `sys.platform`.

Why: the scan's cheap "has this pid changed?" check reads different things per OS (on Linux
`/proc/<pid>/stat`); everything above this package stays the same on every OS.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

# (start time in OS-specific ticks, process name as raw bytes): equal stamps mean the same
# program image. Bytes, because decoding every name on every scan is cost for nothing.
ProcessStamp = tuple[int, bytes]
StampReader = Callable[[int], ProcessStamp | None]


def stamp_reader() -> StampReader:
    """The cheapest reader of a process's stamp on this OS."""
    if sys.platform.startswith("linux"):
        from agent.platform import linux

        return linux.read_stamp
    from agent.platform import portable

    return portable.read_stamp


__all__ = ["ProcessStamp", "StampReader", "stamp_reader"]
