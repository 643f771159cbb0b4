"""Background work in the writer's process yields the CPU to the work an ack waits for.

Why: publishing the lake (publish_loop.py) takes a core for about a second each interval
(20,000 agents: 140,000 events and 63,000 sessions folded and written in 1.0-1.2 s). On 2 cores
that already carry the RPC process and the writer, that second left the acks without a core: p99
of the Reports sent in it 168-295 ms against 35-70 ms in the seconds around it. Publishing is
DuckDB's work (SQL, the interpreter lock released, `SET threads = 1` so on the calling thread),
so a thread of lower priority gives way to the ack path at once and catches up when it is idle.

Linux only: there a thread is a task with a nice value of its own (setpriority on its native
id). Elsewhere the call would renice the whole process, so it does nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10
"""How much lower than its process a background thread runs (Linux weights: ~1/10 the CPU
share of a default thread when both want it; all of the idle CPU when nothing else does)."""


def lower_current_thread(steps: int = BACKGROUND_NICE) -> bool:
    """Run the calling thread `steps` nice levels below its process (at most 19); True when
    done. Raising a nice value needs no privilege, so this fails only off Linux."""
    if not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + steps))
    except OSError:
        log.warning("could not lower the priority of thread %s", threading.current_thread().name)
        return False
    return True
