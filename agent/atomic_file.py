"""Files written whole or not at all: the agent's credential and pinned CA; the collector's TLS
keys, connection files and port file (the collector imports it from here: the agent imports no
collector code).

Written to a temporary sibling, synced, then renamed over the target, so a reader (or a crash)
never sees half a file; created with their final mode, so a secret is never readable by others,
not even between create and chmod.
"""

from __future__ import annotations

import os
from pathlib import Path

SECRET = 0o600
PUBLIC = 0o644


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(fd, mode)  # the umask (a unit's UMask=0077) narrows os.open's mode; PUBLIC means it
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
