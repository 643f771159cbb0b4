"""The services as installed: the console scripts started as subprocesses on 127.0.0.1.

The collector is initialised (`commaudit-collector init`) and serves TLS; each agent is enrolled
the way an admin and a device would do it: `commaudit enroll-token create`, then
`commaudit-agent enroll` with the collector's CA.
"""

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

BIN = Path(sys.executable).parent


class Service:
    """A console script run as a child process, stopped like systemd would (SIGTERM)."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        return self

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Collector(Service):
    def __init__(self, tmp: Path, port: int = 0, extra_args: tuple[str, ...] = ()) -> None:
        self.extra_args = extra_args
        self.state_dir = tmp / "collector"
        self.db = self.state_dir / "commaudit.duckdb"
        self.ca = self.state_dir / "tls" / "ca.pem"
        self.connection = self.state_dir / "admin-connection.json"
        self.port_file = tmp / "collector.port"
        self.requested_port = port
        super().__init__([], tmp / "collector.log")

    def start(self) -> Collector:
        if not self.db.exists():
            run([str(BIN / "commaudit-collector"), "init", "--state-dir", str(self.state_dir)])
        self.port_file.unlink(missing_ok=True)
        self.argv = [
            str(BIN / "commaudit-collector"), "serve", "--state-dir", str(self.state_dir),
            "--listen", f"127.0.0.1:{self.requested_port}", "--port-file", str(self.port_file),
            *self.extra_args,
        ]  # fmt: skip
        super().start()
        deadline = time.monotonic() + 30
        while not self.port_file.exists() or not self.port_file.read_text().strip():
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"collector did not start:\n{self.output()}")
            time.sleep(0.05)
        self.requested_port = int(self.port_file.read_text())
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.requested_port}"


class Agent(Service):
    """An enrolled agent; `device_id` is the id the collector gave it."""

    def __init__(self, argv: list[str], log: Path, state_dir: Path, device_id: str) -> None:
        super().__init__(argv, log)
        self.state_dir = state_dir
        self.spool = state_dir / "spool.sqlite3"
        self.device_id = device_id

    def wait_running(self, timeout: float = 30) -> None:
        """Until the agent has started its loop (it says so once): on a loaded machine the
        interpreter's start alone can outlast a test's pause."""
        deadline = time.monotonic() + timeout
        while " reporting to " not in self.output():
            assert self.process is not None and self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"the agent did not start:\n{self.output()}"
            time.sleep(0.05)

    def wait_drained(self, timeout: float = 30) -> None:
        """Until its spool holds nothing unacknowledged: delivery after a collector restart
        waits out a jittered backoff, so a fixed pause is not enough on a loaded machine."""
        deadline = time.monotonic() + timeout
        while _pending(self.spool):
            assert time.monotonic() < deadline, "the agent's spool did not drain"
            time.sleep(0.1)

    def wait_acked(self, seq: int, timeout: float = 60) -> None:
        """Until the collector has acknowledged the agent's events up to `seq` (the spool keeps
        the newest acknowledged ones): the agent is connected again and delivering."""
        deadline = time.monotonic() + timeout
        while _acked(self.spool) < seq:
            assert time.monotonic() < deadline, f"seq {seq} not acknowledged:\n{self.output()}"
            time.sleep(0.1)


def _acked(spool: Path) -> int:
    with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT max(seq) FROM sent").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _pending(spool: Path) -> int:
    with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])


def run(argv: list[str]) -> str:
    """A one-shot command that must succeed; its stdout."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


def enroll(
    tmp: Path,
    collector: Collector,
    name: str,
    ownership: str = "employer",
    org: str = "city",
    employee: str = "",
) -> Path:
    """An admin makes a token, the device redeems it; the device's state directory."""
    token = run(
        [str(BIN / "commaudit"), "enroll-token", "create", "--org", org,
         "--ownership", ownership, "--expires", "10m", "--connection", str(collector.connection),
         "--collector", collector.address, "--employee", employee]
    ).strip()  # fmt: skip
    state_dir = tmp / name
    run(
        [str(BIN / "commaudit-agent"), "enroll", "--collector", collector.address,
         "--token", token, "--ca-file", str(collector.ca), "--state-dir", str(state_dir)]
    )  # fmt: skip
    return state_dir


def agent_service(
    tmp: Path,
    collector: Collector,
    name: str,
    *,
    via: str | None = None,
    scan: float = 0.2,
    heartbeat: float = 0.3,
    employee: str = "",
) -> Agent:
    """An enrolled agent scanning and beating fast, so a few seconds make many events; `via`
    is another address to reach the collector by (a proxy)."""
    state_dir = enroll(tmp, collector, name, employee=employee)
    device_id = json.loads((state_dir / "enrollment.json").read_text())["device_id"]
    argv = [str(BIN / "commaudit-agent"), "run", "--state-dir", str(state_dir),
            "--scan-interval", str(scan), "--heartbeat-interval", str(heartbeat),
            "--verbose"]  # fmt: skip
    if via is not None:
        argv += ["--collector", via]
    return Agent(argv, tmp / f"{name}.log", state_dir, device_id)


def commaudit(*args: str) -> subprocess.CompletedProcess[str]:
    """The operators' CLI, as an analyst or admin types it."""
    return subprocess.run(
        [str(BIN / "commaudit"), *args], capture_output=True, text=True, timeout=120
    )


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
