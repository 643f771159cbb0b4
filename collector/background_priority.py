"""Background work in the writer's process yields the CPU to the work an ack waits for.

Why: publishing the lake (publish_loop.py) takes a core for about a second each interval
(20,000 agents: 140,000 events and 63,000 sessions folded and written in 1.0-1.2 s). On 2 cores
that already carry the RPC process and the writer, that second left the acks without a core: p99
of the Reports sent in it 168-295 ms against 35-70 ms in the seconds around it. Publishing is
DuckDB's work (SQL, the interpreter lock released, `SET threads = 1` so on the calling thread),
so a thread of lower priority gives way to the ack path at once and catches up when it is idle.

How low: SCHED_IDLE, not a nice value. At nice +10 the seconds of the first publish still held
the worst acks of a run (p99 of those seconds 300-570 ms): under the kernel's EEVDF scheduler a
nice thread keeps its slice, and a woken RPC thread waits for it. A SCHED_IDLE thread is
preempted by any normal thread that wakes, and still gets every idle cycle (and a minimal share
when there are none, so a publish under overload is late, not lost). Switching to it needs no
privilege; switching back would, which nothing here does.

Linux only: there a thread is a task with a policy of its own (sched_setscheduler on its native
id). Elsewhere the call would change the whole process, so it does nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)


def lower_current_thread() -> bool:
    """Run the calling thread under SCHED_IDLE; True when done (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        log.warning("could not lower the priority of thread %s", threading.current_thread().name)
        return False
    return True
