"""Linux: one small read of `/proc/<pid>/stat` tells whether a pid still runs the same image.

`comm` (field 2) changes when a process `exec`s another program in place (the shell wrappers
many Linux apps start from); `starttime` (field 22) changes when the pid is reused. One read of a
~300-byte file is far cheaper than psutil's name/exe/cmdline/user (DESIGN.md §3).
"""

from __future__ import annotations

from agent.platform import ProcessStamp

_STARTTIME_AFTER_COMM = 19  # field 22 counted from field 3, the first one after ") "
# Zombie and dead processes have exited; only their parent has not collected them yet.
_NOT_RUNNING = (b"Z", b"X")


def read_stamp(pid: int) -> ProcessStamp | None:
    """(starttime, comm) of `pid`, or None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            raw = stat.read()
    except OSError:
        return None
    return parse_stat(raw)


def parse_stat(raw: bytes) -> ProcessStamp | None:
    """Parse a stat line (None for an exited process); comm may hold spaces and parentheses,
    so split at the last ')'."""
    open_paren = raw.find(b"(")
    close_paren = raw.rfind(b")")
    if open_paren < 0 or close_paren < open_paren:
        return None
    fields = raw[close_paren + 2 :].split()
    if len(fields) <= _STARTTIME_AFTER_COMM or fields[0] in _NOT_RUNNING:
        return None
    comm = raw[open_paren + 1 : close_paren].decode("utf-8", "replace")
    return int(fields[_STARTTIME_AFTER_COMM]), comm
