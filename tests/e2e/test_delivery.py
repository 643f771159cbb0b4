"""End to end: a real agent sees a real process, the collector stores it once, even across a crash.

The collector is killed with SIGKILL (no drain, no checkpoint) while the agent keeps scanning and
spooling; after the restart every event the agent created must be stored exactly once.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import duckdb

from commaudit.v1 import events_pb2
from tests.e2e.services import Collector, Service, agent_service
from tests.e2e.tcp_proxy import CuttableProxy

StartApp = Callable[[str], subprocess.Popen[bytes]]


def _agent_last_seq(spool: Path) -> int:
    """The agent's seq counter; 0 while the agent has not created its spool yet. Read-only, so
    that polling never creates the file before the agent does."""
    try:
        with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


def _stored(db: Path, device_id: str) -> list[tuple[int, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT seq, kind FROM events WHERE device_id = ? ORDER BY seq", [device_id]
        ).fetchall()


def _wait_spooled(spool: Path, kind: str, after_seq: int = 0, timeout: float = 30) -> int:
    """The seq of the first event of `kind` past `after_seq` in the agent's spool, once there."""
    deadline = time.monotonic() + timeout
    while True:
        with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq",
                              [after_seq]).fetchall()  # fmt: skip
        for seq, body in rows:
            if events_pb2.Event.FromString(body).WhichOneof("kind") == kind:
                return int(seq)
        assert time.monotonic() < deadline, f"the agent spooled no {kind} past seq {after_seq}"
        time.sleep(0.05)


def test_events_survive_a_collector_crash_and_are_stored_exactly_once(
    tmp_path: Path, services: list[Service], stand_in_app: StartApp, os_user: str
) -> None:
    collector = Collector(tmp_path).start()
    services.append(collector)
    agent = agent_service(tmp_path, collector, "laptop-7")
    services.append(agent.start())
    agent.wait_running()

    first = stand_in_app("thunderbird")
    time.sleep(1.5)
    collector.kill9()  # mid-stream: batches may be in flight or half committed
    first.kill()
    first.wait()
    # The agent records the stop while nothing listens (waited for: on a loaded machine a
    # fixed pause can pass without a scan), then the second start.
    stopped_at = _wait_spooled(agent.spool, "app_stopped")
    stand_in_app("thunderbird")
    _wait_spooled(agent.spool, "app_started", after_seq=stopped_at)
    time.sleep(0.5)  # the agent keeps scanning and spooling while nothing listens
    collector.start()
    time.sleep(1.5)
    agent.wait_drained()  # everything spooled so far is acknowledged: stored

    assert agent.terminate() == 0, agent.output()
    assert collector.terminate() == 0, collector.output()

    last_seq = _agent_last_seq(agent.spool)
    stored = _stored(collector.db, agent.device_id)
    seqs = [seq for seq, _ in stored]
    assert seqs == list(range(1, last_seq + 1)), "every event once, none missing"
    kinds = [kind for _, kind in stored]
    assert kinds[0] == "agent_lifecycle"
    assert kinds.count("app_started") >= 2  # thunderbird before the crash and after
    assert kinds.count("app_stopped") >= 2  # exited, then ended by the agent's own stop
    assert kinds.count("heartbeat") >= 3
    with duckdb.connect(str(collector.db), read_only=True) as con:
        users = con.execute(
            "SELECT DISTINCT os_user FROM events WHERE app_id = 'thunderbird'"
        ).fetchall()
        assert users == [(os_user,)]
        assert con.execute("SELECT count(*) FROM seq_gaps").fetchone() == (0,)


def test_a_killed_agent_resumes_its_seq_and_its_orphaned_session_ends_at_the_last_heartbeat(
    tmp_path: Path, services: list[Service], stand_in_app: StartApp
) -> None:
    collector = Collector(tmp_path).start()
    services.append(collector)
    agent = agent_service(tmp_path, collector, "desk-3")
    services.append(agent.start())
    stand_in_app("thunderbird")
    time.sleep(1.5)
    agent.kill9()  # no app_stopped, no flush: the spool may hold unsent events
    services.append(agent.start())  # same state dir: same spool, same seq counter
    time.sleep(1.5)
    assert agent.terminate() == 0, agent.output()
    assert collector.terminate() == 0, collector.output()

    last_seq = _agent_last_seq(agent.spool)
    seqs = [seq for seq, _ in _stored(collector.db, agent.device_id)]
    assert seqs == list(range(1, last_seq + 1)), "every event once, none missing"
    con = duckdb.connect(str(collector.db), read_only=True)
    try:
        # `sessions` is folded from the events by the collector's publish (the last at stop).
        ends = con.execute(
            "SELECT end_reason FROM sessions WHERE app_id = 'thunderbird' ORDER BY started_at"
        ).fetchall()
    finally:
        con.close()
    assert ends == [("last_heartbeat",), ("agent_stopped",)]


def test_a_deleted_spool_is_detected_and_its_new_events_are_stored_not_taken_for_duplicates(
    tmp_path: Path, services: list[Service]
) -> None:
    collector = Collector(tmp_path).start()
    services.append(collector)
    agent = agent_service(tmp_path, collector, "kiosk-1")
    services.append(agent.start())
    time.sleep(1.0)
    assert agent.terminate() == 0, agent.output()
    first_run = _agent_last_seq(agent.spool)
    for leftover in agent.state_dir.glob("spool.sqlite3*"):
        leftover.unlink()  # the spool is gone: the next run starts counting from 1 again
    services.append(agent.start())
    time.sleep(1.5)
    assert agent.terminate() == 0, agent.output()
    assert collector.terminate() == 0, collector.output()

    stored = _stored(collector.db, agent.device_id)
    assert [seq for seq, _ in stored] == list(range(1, len(stored) + 1))
    assert len(stored) > first_run + 2  # the second run's events were stored, not dropped
    with duckdb.connect(str(collector.db), read_only=True) as con:
        resets = con.execute(
            "SELECT first_seq FROM events WHERE lifecycle = 'seq_reset' AND device_id = ?",
            [agent.device_id],
        ).fetchall()
        starts = con.execute(
            "SELECT count(*) FROM events WHERE lifecycle = 'started' AND device_id = ?",
            [agent.device_id],
        ).fetchone()
    assert resets == [(first_run + 1,)]
    assert starts == (2,)


def test_three_agents_lose_nothing_while_the_collector_is_killed_again_and_again(
    tmp_path: Path, services: list[Service], stand_in_app: StartApp
) -> None:
    collector = Collector(tmp_path).start()
    services.append(collector)
    names = ["fleet-1", "fleet-2", "fleet-3"]
    agents = [agent_service(tmp_path, collector, d, scan=0.05, heartbeat=0.05) for d in names]
    for agent in agents:
        services.append(agent.start())
    for agent in agents:
        agent.wait_running()  # the kills must land while all three are reporting
    stand_in_app("thunderbird")
    for uptime in (0.7, 1.3, 0.4):  # irregular: kills land mid-batch, mid-commit, mid-idle
        time.sleep(uptime)
        collector.kill9()
        time.sleep(0.5)
        collector.start()
    # Each reconnects after its own jittered backoff (up to 5 s after three failures): wait
    # until each has delivered what it had made by the last restart, not for a fixed time.
    marks = {agent.device_id: _agent_last_seq(agent.spool) for agent in agents}
    for agent in agents:
        agent.wait_acked(marks[agent.device_id])
    for agent in agents:
        assert agent.terminate() == 0, agent.output()
    assert collector.terminate() == 0, collector.output()

    for agent in agents:
        last_seq = _agent_last_seq(agent.spool)
        seqs = [seq for seq, _ in _stored(collector.db, agent.device_id)]
        assert last_seq > 40, f"{agent.device_id}: too few events to mean anything"
        assert seqs == list(range(1, last_seq + 1)), f"{agent.device_id}: every event once"


def test_a_reset_spool_whose_backlog_passed_the_collectors_mark_offline_loses_nothing(
    tmp_path: Path, services: list[Service]
) -> None:
    collector = Collector(tmp_path).start()
    services.append(collector)
    agent = agent_service(tmp_path, collector, "van-2", scan=0.05, heartbeat=0.05)
    services.append(agent.start())
    time.sleep(0.8)
    assert agent.terminate() == 0, agent.output()
    first_run = _agent_last_seq(agent.spool)
    for leftover in agent.state_dir.glob("spool.sqlite3*"):
        leftover.unlink()
    assert collector.terminate() == 0, collector.output()
    services.append(agent.start())  # offline: the new spool counts from 1 past first_run
    deadline = time.monotonic() + 20
    while _agent_last_seq(agent.spool) <= first_run + 10:
        assert time.monotonic() < deadline, "the agent did not spool while offline"
        time.sleep(0.1)
    collector.start()
    time.sleep(2.0)
    assert agent.terminate() == 0, agent.output()
    assert collector.terminate() == 0, collector.output()

    last_seq = _agent_last_seq(agent.spool)
    stored = _stored(collector.db, agent.device_id)
    assert [seq for seq, _ in stored] == list(range(1, last_seq + 1))
    assert last_seq > 2 * first_run + 10  # both runs' events, the second run's renumbered
    with duckdb.connect(str(collector.db), read_only=True) as con:
        resets = con.execute(
            "SELECT first_seq FROM events WHERE lifecycle = 'seq_reset' AND device_id = ?",
            [agent.device_id],
        ).fetchall()
    assert resets == [(first_run + 1,)]


def test_events_spooled_while_the_network_is_cut_arrive_once_it_is_restored(
    tmp_path: Path, services: list[Service], stand_in_app: StartApp
) -> None:
    collector = Collector(tmp_path).start()
    services.append(collector)
    proxy = CuttableProxy(("127.0.0.1", collector.requested_port))
    try:
        agent = agent_service(
            tmp_path, collector, "branch-4", via=proxy.address, scan=0.05, heartbeat=0.05
        )
        services.append(agent.start())
        stand_in_app("thunderbird")
        time.sleep(1.0)
        proxy.cut()
        spooled_at_cut = _agent_last_seq(agent.spool)
        time.sleep(1.5)
        assert _agent_last_seq(agent.spool) > spooled_at_cut + 5
        proxy.restore()
        time.sleep(3.0)  # reconnect: the agent's backoff is capped and jittered
        assert agent.terminate() == 0, agent.output()
    finally:
        proxy.close()
    assert collector.terminate() == 0, collector.output()
    last_seq = _agent_last_seq(agent.spool)
    assert [seq for seq, _ in _stored(collector.db, agent.device_id)] == list(
        range(1, last_seq + 1)
    )
