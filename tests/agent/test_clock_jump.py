"""Clock jumps: at each scan the daemon compares the wall clock's progress with a steady clock's.

The wall clock here is a stand-in the test moves (`MovableWallClock`), handed to the daemon as
its `wall_clock`: a test cannot set the real system clock (that needs root and would disturb
everything else on the machine). All else is real: the daemon, its scans, its spool.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.catalog import load_catalog
from agent.collector_channel import CollectorChannel
from agent.daemon import AgentDaemon, loss_notice_for
from agent.sender import Sender
from agent.spool import Spool
from tests.agent.agent_harness import Lifecycle, lifecycles, refusing_address


class MovableWallClock:
    """The real wall clock plus an offset the test sets, as `date -s` would."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[AgentDaemon, MovableWallClock]]:
    wall = MovableWallClock()
    spool = Spool(tmp_path / "spool.sqlite3", 1_000_000, loss_notice_for("dev-1"))
    with refusing_address() as address:
        sender = Sender(spool, CollectorChannel(address, None), ())
        yield (
            AgentDaemon(
                "dev-1",
                load_catalog(),
                spool,
                sender,
                scan_interval_s=0.05,
                heartbeat_interval_s=60,
                wall_clock=wall,
            ),
            wall,
        )
    spool.close()


def jumps_ms(daemon: AgentDaemon) -> list[int]:
    """Each recorded jump as a signed number of ms, read back from its detail."""
    found = []
    for jump in lifecycles(daemon.spool.pending(1000), Lifecycle.KIND_CLOCK_JUMP):
        match = re.fullmatch(r"(forward|backward) (\d+) ms", jump.detail)
        assert match, jump.detail
        found.append(int(match[2]) * (1 if match[1] == "forward" else -1))
    return found


def test_a_clock_set_forward_then_back_is_recorded_with_the_jump_in_ms(
    daemon: tuple[AgentDaemon, MovableWallClock],
) -> None:
    agent, wall = daemon
    agent.tick()  # the first scan only takes the clocks' readings
    wall.offset_s = 3600.0
    agent.tick()
    agent.tick()  # the clock runs on from its new time: no further jump
    wall.offset_s = 3600.0 - 120.0
    agent.tick()
    forward, backward = jumps_ms(agent)
    assert abs(forward - 3_600_000) <= 5
    assert abs(backward + 120_000) <= 5


def test_a_step_below_two_seconds_is_not_a_jump(
    daemon: tuple[AgentDaemon, MovableWallClock],
) -> None:
    agent, wall = daemon
    agent.tick()
    wall.offset_s = 1.5  # what an NTP step at boot can do; no report changes by it
    agent.tick()
    time.sleep(0.1)  # real time passing moves both clocks alike
    agent.tick()
    assert jumps_ms(agent) == []
