"""Who is at the other end of the agent's socket, from the kernel rather than from a message.

SO_PEERCRED gives the uid and pid of the process that connected, fixed at connect() time; a
host cannot claim to be another user. Linux only: macOS would use getpeereid/LOCAL_PEERPID
(not built here).
"""

from __future__ import annotations

import pwd
import socket
import struct
from dataclasses import dataclass

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    user: str
    """Login name of uid (the uid in digits when the user database has none)."""


def peer_of(connection: socket.socket) -> Peer:
    raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, _ = _UCRED.unpack(raw)
    return Peer(pid, uid, user_name(uid))


def user_name(uid: int) -> str:
    """The login name of uid, as both the host and the agent spell it: from the user database
    by uid, never from $USER or $LOGNAME, which any process sets as it likes."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
