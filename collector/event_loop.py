"""The RPC process's event loop: uvloop where it is installed (Linux, macOS), asyncio's own loop
elsewhere (Windows, which uvloop does not support).

Why (issue 3): one loop thread carries gRPC's completion callbacks, every handler and every ack.
With 20,000 agents it used ~0.75 of a core, and the two cores were nearly full with the load
generator beside it; the accept loops (server_group.py) get their next call only on a later turn
of this loop, so when its turns slowed, calls queued inside gRPC core for up to a second while
the loop itself never stalled more than ~50 ms. uvloop's turns cost less: with 16 accept loops,
the collector used 94-112% of a core on asyncio's loop (p99 over 250 ms in 4 of 12 runs) and
84-94% on uvloop (p99 47-89 ms in 4 runs), both with a call-counting interceptor added for the
measurement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it can be imported."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def loop_name() -> str:
    """Which loop runs the calling coroutine (for the start-up log line)."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]
