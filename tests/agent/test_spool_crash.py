"""The spool survives kill -9 at any instant: a child process appends and acknowledges as fast
as it can and is killed at random moments; after each kill the file must be intact, every seq
the child saw committed must still be there or acknowledged, and no seq is handed out twice."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from commaudit.v1 import events_pb2

CHILD = r"""
import sys
from pathlib import Path

from commaudit.v1 import events_pb2
from agent.daemon import loss_notice_for
from agent.events import lifecycle_event
from agent.spool import Spool
from commaudit.v1 import events_pb2

spool = Spool(Path(sys.argv[1]), 256 * 1024, loss_notice_for("crash-1"))
kind = events_pb2.AgentLifecycle.KIND_CONFIG_RELOADED
print("ready", flush=True)
n = 0
while True:
    seqs = spool.append([lifecycle_event("crash-1", kind, detail="x" * 200) for _ in range(5)])
    print("appended", seqs[-1], flush=True)  # printed only after the commit returned
    n += 1
    if n % 7 == 0:
        print("acking", seqs[-1] - 2000, flush=True)  # before: the kill may land right after
        spool.ack(seqs[-1] - 2000)  # lagging: the spool overflows too
"""


def spool_state(path: Path) -> tuple[str, int, list[int], set[int]]:
    """integrity_check, last_seq, pending seqs, and every seq a drop notice accounts for."""
    with closing(sqlite3.connect(path)) as db:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        last = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0]
        rows = db.execute("SELECT seq, body FROM outbox ORDER BY seq").fetchall()
    dropped: set[int] = set()
    for _, body in rows:
        event = events_pb2.Event.FromString(body)
        if event.agent_lifecycle.kind == events_pb2.AgentLifecycle.KIND_EVENTS_DROPPED:
            dropped.update(
                range(event.agent_lifecycle.first_seq, event.agent_lifecycle.last_seq + 1)
            )
    return check, int(last), [seq for seq, _ in rows], dropped


def test_the_spool_is_intact_after_kill_9_at_random_instants(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    rng = random.Random(11)
    highest_seen, acked, previous_last = 0, 0, 0
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        child.kill()  # SIGKILL: no cleanup, possibly mid-transaction
        output, _ = child.communicate()
        # The kill can land mid-line: only newline-terminated lines were printed whole.
        for line in output.split("\n")[:-1]:
            word, _, number = line.partition(" ")
            if word == "appended":
                highest_seen = max(highest_seen, int(number))
            elif word == "acking":
                acked = max(acked, int(number))

        check, last_seq, seqs, dropped = spool_state(path)
        assert check == "ok"
        assert last_seq >= highest_seen, "a committed seq was lost"
        assert last_seq > previous_last, "the child made no progress"
        assert seqs == sorted(set(seqs)) and all(s <= last_seq for s in seqs)
        # Every seq the child saw committed is still spooled, or acknowledged, or recorded as
        # dropped by an overflow notice (the spool is only 256 KiB, so overflows happen).
        unaccounted = set(range(acked + 1, highest_seen + 1)) - set(seqs) - dropped
        assert not unaccounted, f"lost without a record: {sorted(unaccounted)[:10]}"
        previous_last = last_seq
    assert dropped, "the spool never overflowed: the drop path was not exercised"
