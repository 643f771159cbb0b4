"""Linux: the kernel tells which processes started, `exec`ed, renamed themselves or ended.

Why: polling every process's comm file each scan costs ~4 ms per 500 processes, about 0.2% of a
core at a 2 s interval, even when nothing changed. The process-events connector (netlink,
NETLINK_CONNECTOR / CN_IDX_PROC) sends a message for each fork, exec, comm change and exit
instead; a scan then reads only the processes named since the last one. A classic BPF filter on
the socket keeps only what a scan needs (new processes, not threads; exec; the main thread's
comm and exit), so the agent is not woken, nor its buffer filled, by thread churn. The filter
runs in the kernel, in the context of the process that forked or exited.

Limits, and what the reader does about them (agent/platform/linux.py):
- It needs CAP_NET_ADMIN in the initial user namespace, and the agent in the initial pid
  namespace (the kernel reports pids as seen from there). The kernel acknowledges a subscription
  it accepted; without that acknowledgement within a second the connector is not used.
- Events are lost when the socket's buffer overflows (ENOBUFS on the next read). drain() then
  says so and the reader reads every process again.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import select
import socket
import struct
import time

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
NLMSG_DONE = 3
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33

PROC_EVENT_NONE = 0x00000000
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_COMM = 0x00000200
PROC_EVENT_EXIT = 0x80000000

# Offsets in one message: nlmsghdr (16 bytes), cn_msg (20), then proc_event: what (4), cpu (4),
# timestamp_ns (8), event_data. Every event but fork starts event_data with (pid, tgid); fork
# with the parent's (pid, tgid), then the child's.
_WHAT = 36
_DATA = 52
_FORK_CHILD = _DATA + 8
_ACK_ERR = _DATA

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_CN_MSG = struct.Struct("=IIIIHH")  # cn_msg: idx, val, seq, ack, len, flags
_PAIR = struct.Struct("=ii")
_U32 = struct.Struct("=I")
_RECV_BYTES = 256  # a proc_event message is 76-92 bytes
_BUFFER_BYTES = 4 << 20  # ~4,000 events between two scans before any is lost
_ACK_TIMEOUT_S = 1.0

# Classic BPF (linux/filter.h): opcodes used by the filter below.
_LD_W_ABS = 0x20
_LD_MEM = 0x60
_LDX_MEM = 0x61
_ST = 0x02
_JEQ_K = 0x15
_JEQ_X = 0x1D
_RET_K = 0x06
_KEEP = 0xFFFFFFFF


def _word(value: int) -> int:
    """A host-order u32 as BPF's absolute loads see it: they read the packet big-endian."""
    return int.from_bytes(_U32.pack(value), "big")


def _program() -> list[tuple[int, int, int, int]]:
    """Keep a fork that made a process (child pid == child tgid, not a thread), any exec, and
    the comm change or exit of a main thread (pid == tgid); drop the rest: thread forks and
    exits, uid/gid/sid/ptrace/coredump events, other listeners' acknowledgements. Jumps are
    relative (target = next instruction + offset) and only forward, so each pid == tgid test
    has its own copy."""
    return [
        (_LD_W_ABS, 0, 0, _WHAT),  # 0: A = what
        (_JEQ_K, 15, 0, _word(PROC_EVENT_EXEC)),  # 1: exec -> 17 keep
        (_JEQ_K, 0, 5, _word(PROC_EVENT_FORK)),  # 2: fork -> 3, else -> 8
        (_LD_W_ABS, 0, 0, _FORK_CHILD + 4),  # 3: A = child tgid
        (_ST, 0, 0, 0),  # 4: M[0] = A
        (_LD_W_ABS, 0, 0, _FORK_CHILD),  # 5: A = child pid
        (_LDX_MEM, 0, 0, 0),  # 6: X = M[0]
        (_JEQ_X, 9, 8, 0),  # 7: pid == tgid -> 17 keep, else -> 16 drop
        (_JEQ_K, 2, 0, _word(PROC_EVENT_COMM)),  # 8: comm -> 11
        (_JEQ_K, 1, 0, _word(PROC_EVENT_EXIT)),  # 9: exit -> 11
        (_RET_K, 0, 0, 0),  # 10: drop
        (_LD_W_ABS, 0, 0, _DATA + 4),  # 11: A = tgid
        (_ST, 0, 0, 0),  # 12: M[0] = A
        (_LD_W_ABS, 0, 0, _DATA),  # 13: A = pid
        (_LDX_MEM, 0, 0, 0),  # 14: X = M[0]
        (_JEQ_X, 1, 0, 0),  # 15: pid == tgid -> 17 keep, else -> 16 drop
        (_RET_K, 0, 0, 0),  # 16: drop
        (_RET_K, 0, 0, _KEEP),  # 17: keep
    ]


def in_initial_pid_namespace() -> bool:
    """The connector reports pids as the initial pid namespace numbers them; a nested one
    lists more than one pid on its NSpid line."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"NSpid:"):
                    return len(line.split()) == 2
    except OSError:
        return False
    return True  # kernels before 4.1 have no NSpid line, nor pid namespaces to speak of here


class ProcConnector:
    """A subscription to the kernel's process events, read without blocking at each scan."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray(_RECV_BYTES)

    @classmethod
    def open(cls) -> ProcConnector | None:
        """Subscribe, or None where the kernel will not report to this process (not Linux, no
        CAP_NET_ADMIN, a nested namespace, a kernel without the connector)."""
        if not hasattr(socket, "AF_NETLINK") or not in_initial_pid_namespace():
            return None
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except OSError:
            return None
        try:
            sock.bind((0, CN_IDX_PROC))
            _grow_buffer(sock)
            sock.send(_control(PROC_CN_MCAST_LISTEN))
            if not _acknowledged(sock):
                sock.close()
                return None
            _attach(sock, _program())
        except OSError:
            sock.close()
            return None
        return cls(sock)

    def drain(self) -> set[int] | None:
        """The pids of processes that started, `exec`ed, renamed themselves or ended since the
        last drain; None when the kernel dropped events (the buffer overflowed): every process
        must then be read again."""
        changed: set[int] = set()
        lost = False
        buffer, recv_into = self._buffer, self._sock.recv_into
        while True:
            try:
                size = recv_into(buffer, _RECV_BYTES, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno != errno.ENOBUFS:
                    raise
                lost = True
                continue
            pid = _changed_pid(buffer, size)
            if pid is not None:
                changed.add(pid)
        return None if lost else changed

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        """Unsubscribe first: the kernel counts listeners and stops making events at zero."""
        if self._sock.fileno() < 0:
            return
        with contextlib.suppress(OSError):
            self._sock.send(_control(PROC_CN_MCAST_IGNORE))
        self._sock.close()


def _changed_pid(message: bytearray, size: int) -> int | None:
    """The process a message names, by the same rule as the kernel-side filter: messages queued
    before the filter was attached are unfiltered."""
    if size < _FORK_CHILD + 8:
        return None
    what = _U32.unpack_from(message, _WHAT)[0]
    if what == PROC_EVENT_FORK:
        pid, tgid = (int(field) for field in _PAIR.unpack_from(message, _FORK_CHILD))
    elif what in (PROC_EVENT_EXEC, PROC_EVENT_COMM, PROC_EVENT_EXIT):
        pid, tgid = (int(field) for field in _PAIR.unpack_from(message, _DATA))
        if what == PROC_EVENT_EXEC:
            return tgid
    else:
        return None
    return pid if pid == tgid else None


def _control(op: int) -> bytes:
    payload = _U32.pack(op)
    message = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    return _HEADER.pack(_HEADER.size + len(message), NLMSG_DONE, 0, 0, 0) + message


def _grow_buffer(sock: socket.socket) -> None:
    """Room for a burst of events between two scans; SO_RCVBUFFORCE passes the system's cap
    with CAP_NET_ADMIN, which the connector needs anyway."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, _BUFFER_BYTES)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER_BYTES)


def _acknowledged(sock: socket.socket) -> bool:
    """Wait for the kernel's answer to our subscription: an event of type NONE whose error is 0.
    Subscriptions from a nested namespace are ignored without an answer."""
    deadline = time.monotonic() + _ACK_TIMEOUT_S
    buffer = bytearray(_RECV_BYTES)
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return False
        size = sock.recv_into(buffer, _RECV_BYTES)
        if size >= _ACK_ERR + 4 and _U32.unpack_from(buffer, _WHAT)[0] == PROC_EVENT_NONE:
            return bool(_U32.unpack_from(buffer, _ACK_ERR)[0] == 0)
    return False


def _attach(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    """SO_ATTACH_FILTER takes a struct sock_fprog: a count and a pointer to the instructions;
    the kernel copies them, so the buffer need live only through the call."""
    code = b"".join(struct.pack("=HBBI", *instruction) for instruction in program)
    instructions = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(program), ctypes.addressof(instructions))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


_refused = False


def open_once() -> ProcConnector | None:
    """ProcConnector.open(), but asking the kernel only until it first refuses: the answer does
    not change within a process, and a subscription it ignores costs a second's wait."""
    global _refused
    if _refused:
        return None
    connector = ProcConnector.open()
    _refused = connector is None
    return connector
