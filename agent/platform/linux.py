"""Linux: one small read of `/proc/<pid>/stat` tells whether a pid still runs the same image.

`comm` (field 2) changes when a process `exec`s another program in place (the shell wrappers
many Linux apps start from); `starttime` (field 22) changes when the pid is reused. One read of a
~300-byte file is far cheaper than psutil's name/exe/cmdline/user (DESIGN.md §3). Raw `os.open`
and a bounded split, because this runs for every pid on every scan: it halves the per-pid cost
against `open()` and a full split (measured: about 9 us against 17 us a pid).
"""

from __future__ import annotations

import os

from agent.platform import ProcessStamp

_STARTTIME_AFTER_COMM = 19  # field 22 counted from field 3, the first one after ") "
# Zombie and dead processes have exited; only their parent has not collected them yet.
_NOT_RUNNING = (b"Z", b"X")


def read_stamp(pid: int) -> ProcessStamp | None:
    """(starttime, comm) of `pid`, or None when it is gone, unreadable or exited."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        raw = os.read(fd, 1024)
    except OSError:
        return None
    finally:
        os.close(fd)
    return parse_stat(raw)


def parse_stat(raw: bytes) -> ProcessStamp | None:
    """Parse a stat line; comm may hold spaces and parentheses, so split at the last ')'."""
    head, paren, rest = raw.rpartition(b")")
    open_paren = head.find(b"(")
    if not paren or open_paren < 0:
        return None
    fields = rest.split(None, _STARTTIME_AFTER_COMM + 1)
    if len(fields) <= _STARTTIME_AFTER_COMM or fields[0] in _NOT_RUNNING:
        return None
    return int(fields[_STARTTIME_AFTER_COMM]), head[open_paren + 1 :]
