"""macOS and Windows: psutil's create_time and name are single cheap system calls there.

Not exercised by this project's CI (Linux only); the logic above it is shared and tested.
"""

from __future__ import annotations

import psutil

from agent.platform import ProcessStamp


def read_stamp(pid: int) -> ProcessStamp | None:
    """(creation time in microseconds, name) of `pid`, or None when it is gone or unreadable."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            return int(process.create_time() * 1_000_000), process.name().encode()
    except (psutil.Error, OSError):
        return None
