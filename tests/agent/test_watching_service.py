"""The agent as a service (`commaudit-agent run`, a real process) follows its catalog and the
install directories while it runs, and SIGTERM still stops it promptly and cleanly, watchdog's
threads included."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from commaudit.v1 import events_pb2
from tests.agent.agent_harness import CATALOG_V1, CATALOG_V2, config_text, refusing_address, save

AGENT = str(Path(sys.executable).parent / "commaudit-agent")
Lifecycle = events_pb2.AgentLifecycle


def spooled(spool: Path) -> list[events_pb2.Event]:
    """The spool's events; none while the agent has not yet created it."""
    try:
        with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
    except sqlite3.OperationalError:  # no file, or no table yet
        return []
    return [events_pb2.Event.FromString(body) for (body,) in rows]


def wait_spooled(
    spool: Path, process: subprocess.Popen[bytes], wanted: Callable[[events_pb2.Event], bool]
) -> events_pb2.Event:
    """The first event `wanted` accepts, once the agent has spooled it."""
    deadline = time.monotonic() + 5
    while True:
        found = [e for e in spooled(spool) if wanted(e)]
        if found:
            return found[0]
        assert process.poll() is None, "the agent exited"
        assert time.monotonic() < deadline, "not spooled within 5 s"
        time.sleep(0.05)


def kind(name: str) -> Callable[[events_pb2.Event], bool]:
    return lambda event: event.WhichOneof("kind") == name


def test_the_service_reports_an_install_and_a_catalog_reload_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    watched = tmp_path / "bin"
    watched.mkdir()
    (tmp_path / "etc").mkdir()
    catalog = tmp_path / "etc" / "catalog.toml"
    catalog.write_text(CATALOG_V1)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    with refusing_address() as collector:
        enrollment = {"device_id": "dev-1", "credential": "secret", "collector": collector,
                      "plaintext": True, "org": "city", "ownership": "employer",
                      "employee_id": ""}  # fmt: skip
        (state / "enrollment.json").write_text(json.dumps(enrollment))
        (state / "enrollment.json").chmod(0o600)
        config = tmp_path / "etc" / "agent.toml"
        config.write_text(config_text(tmp_path, collector, install_dirs=[str(watched)]))
        process = subprocess.Popen(
            [AGENT, "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            spool = state / "spool.sqlite3"
            wait_spooled(spool, process, kind("heartbeat"))
            save(catalog, CATALOG_V2)
            reload = wait_spooled(
                spool, process, lambda e: e.agent_lifecycle.kind == Lifecycle.KIND_CATALOG_RELOADED
            )
            assert reload.agent_lifecycle.catalog_version == "test-2"
            (watched / "probe-chat").touch(mode=0o755)
            installed = wait_spooled(spool, process, kind("app_installed"))
            assert installed.app_installed.path == str(watched / "probe-chat")
            process.send_signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            assert process.wait(10) == 0
            assert time.monotonic() - stopped_at < 3.0
        finally:
            if process.poll() is None:
                process.kill()
            output = process.communicate()[0].decode()
    last = spooled(state / "spool.sqlite3")[-1]
    assert last.agent_lifecycle.kind == Lifecycle.KIND_STOPPED, output
    assert json.loads((state / "installs.json").read_text())["apps"] == {
        "probe-chat": {"category": "instant_messaging", "path": str(watched / "probe-chat")}
    }
