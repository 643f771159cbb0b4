"""Revocation end to end: an admin revokes a running agent's device with `commaudit device
revoke`; from then on the collector refuses it, and the agent keeps what it records, so nothing
is lost: every seq is stored or still spooled on the device."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import duckdb

from tests.e2e.services import BIN, Collector, Service, agent_service, run

StartApp = Callable[[str], subprocess.Popen[bytes]]


def spooled(spool: Path) -> tuple[int, list[int]]:
    with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as db:
        last = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0]
        seqs = [row[0] for row in db.execute("SELECT seq FROM outbox ORDER BY seq")]
    return int(last), seqs


def test_a_revoked_agent_is_refused_and_keeps_its_events(
    tmp_path: Path, services: list[Service], stand_in_app: StartApp
) -> None:
    collector = Collector(tmp_path).start()
    services.append(collector)
    agent = agent_service(tmp_path, collector, "lost-laptop", scan=0.1, heartbeat=0.2)
    services.append(agent.start())
    stand_in_app("thunderbird")
    time.sleep(1.5)
    admin = ["--connection", str(collector.connection), "--collector", collector.address]
    out = run([str(BIN / "commaudit"), "device", "revoke", agent.device_id,
               "--reason", "reported stolen", *admin])  # fmt: skip
    assert out.startswith(f"device {agent.device_id} revoked at ")
    time.sleep(1.5)  # the agent keeps scanning and tries to send
    assert agent.terminate() == 0, agent.output()
    listed = [json.loads(line) for line in run(
        [str(BIN / "commaudit"), "device", "list", "--json", *admin]).splitlines()]  # fmt: skip
    assert collector.terminate() == 0, collector.output()

    assert f"device {agent.device_id} has been revoked" in agent.output()
    last_seq, pending = spooled(agent.spool)
    with duckdb.connect(str(collector.db), read_only=True) as con:
        rows = con.execute(
            "SELECT seq FROM events WHERE device_id = ? ORDER BY seq", [agent.device_id]
        ).fetchall()
        stored = [row[0] for row in rows]
        audit = con.execute(
            "SELECT operator_id, action, target, outcome, detail FROM audit_log"
            " WHERE action = 'revoke_device'"
        ).fetchall()
    assert stored, "the agent delivered before it was revoked"
    assert pending, "events recorded after the revocation stay on the device"
    assert sorted(stored + pending) == list(range(1, last_seq + 1)), "every seq stored or kept"
    assert audit == [("admin", "revoke_device", agent.device_id, "ok", "reported stolen")]
    assert [d["revoked_at"] is not None for d in listed] == [True]
