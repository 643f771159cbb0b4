"""The spool's record of what was sent: a summary of each of the last 20 acknowledged events,
written in the ack's own transaction (so kill -9 never leaves it out of step with the outbox),
and a spool file only its owner may read."""

from __future__ import annotations

import os
import random
import sqlite3
import stat
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from agent.daemon import loss_notice_for
from agent.event_summary import EventSummary
from agent.events import category_enum, lifecycle_event, new_event
from agent.spool import SENT_KEPT, Spool
from commaudit.v1 import events_pb2


def _spool(path: Path) -> Spool:
    return Spool(path / "spool.sqlite3", 1_000_000, loss_notice_for("dev-1"))


def _started(app_id: str, category: str, at_ms: int) -> events_pb2.Event:
    event = new_event("dev-1", at_ms)
    event.app_started.CopyFrom(
        events_pb2.AppStarted(
            session_id="s-1",
            app_id=app_id,
            category=category_enum(category),
            os_user="alice",
            process_count=2,
        )
    )
    return event


def _heartbeat(at_ms: int, *app_ids: str) -> events_pb2.Event:
    event = new_event("dev-1", at_ms)
    for app_id in app_ids:
        event.heartbeat.running.add(app_id=app_id, os_user="alice", process_count=1)
    return event


def test_an_ack_keeps_a_summary_of_the_last_20_events_sent_newest_first(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    events = [_started("slack", "instant_messaging", 1_000 + n) for n in range(24)]
    events.append(_heartbeat(2_000, "zoom", "slack"))
    spool.append(events)
    assert spool.recently_sent() == []  # nothing acknowledged yet
    spool.ack(25)
    sent = spool.recently_sent()
    assert [s.seq for s in sent] == list(range(25, 5, -1))
    assert sent[0] == EventSummary(25, "heartbeat", "", "", 2_000, "running: slack, zoom")
    assert sent[1] == EventSummary(24, "app_started", "slack", "instant_messaging", 1_023, "")


def test_only_acknowledged_events_are_summarised_across_acks_and_a_reopen(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.append([_started("zoom", "teleconferencing", n) for n in range(5)])
    spool.ack(2)
    assert [s.seq for s in spool.recently_sent()] == [2, 1]
    spool.ack(4)
    spool.close()
    reopened = _spool(tmp_path)
    assert [s.seq for s in reopened.recently_sent()] == [4, 3, 2, 1]
    assert [s.seq for s in reopened.recently_sent(limit=2)] == [4, 3]
    assert [e.seq for e in reopened.pending(10)] == [5]


def test_a_lifecycle_event_and_a_stop_are_summarised_by_their_kind(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    stopped = new_event("dev-1", 5)
    stopped.app_stopped.app_id = "slack"
    stopped.app_stopped.reason = events_pb2.AppStopped.REASON_AGENT_STOPPED
    started = lifecycle_event("dev-1", events_pb2.AgentLifecycle.KIND_STARTED)
    spool.append([started, stopped])
    spool.ack(2)
    newest, oldest = spool.recently_sent()
    assert (newest.kind, newest.app_id, newest.detail) == ("app_stopped", "slack", "agent stopped")
    assert (oldest.kind, oldest.detail) == ("agent_lifecycle", "started")


def test_a_summary_holds_no_os_user(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.append([_started("slack", "instant_messaging", 1), _heartbeat(2, "slack")])
    spool.ack(2)
    with closing(sqlite3.connect(tmp_path / "spool.sqlite3")) as db:
        rows = db.execute("SELECT * FROM sent").fetchall()
    assert len(rows) == 2
    assert "alice" not in repr(rows)


def test_the_spool_is_owner_only_and_an_open_one_is_made_so(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    old_umask = os.umask(0o022)
    try:
        spool = _spool(tmp_path)
        spool.append([_heartbeat(1)])
    finally:
        os.umask(old_umask)
    for name in ("spool.sqlite3", "spool.sqlite3-wal", "spool.sqlite3-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    spool.close()
    path.chmod(0o644)
    _spool(tmp_path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


CHILD = r"""
import sys
from pathlib import Path

from agent.daemon import loss_notice_for
from agent.events import lifecycle_event
from agent.spool import Spool
from commaudit.v1 import events_pb2

spool = Spool(Path(sys.argv[1]), 64 * 2**20, loss_notice_for("crash-1"))
kind = events_pb2.AgentLifecycle.KIND_CONFIG_RELOADED
print("ready", flush=True)
while True:
    seqs = spool.append([lifecycle_event("crash-1", kind) for _ in range(7)])
    spool.ack(seqs[-1] - 3)
"""


def test_the_record_of_sent_events_stays_in_step_with_acks_through_kill_9(tmp_path: Path) -> None:
    """Acks delete from the outbox and write `sent` together: after a kill at any instant,
    the newest summary is exactly the event before the oldest one still waiting."""
    path = tmp_path / "spool.sqlite3"
    rng = random.Random(7)
    for _ in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.3))
        child.kill()
        child.communicate()
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            waiting = [seq for (seq,) in db.execute("SELECT seq FROM outbox ORDER BY seq")]
            sent = [seq for (seq,) in db.execute("SELECT seq FROM sent ORDER BY id")]
        assert sent, "nothing was acknowledged: the ack path was not exercised"
        assert len(sent) <= SENT_KEPT
        assert sent == list(range(sent[0], sent[-1] + 1))
        assert waiting[0] == sent[-1] + 1
