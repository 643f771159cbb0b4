"""The services as installed: the console scripts started as subprocesses on 127.0.0.1."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
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
    def __init__(self, tmp: Path, port: int = 0) -> None:
        self.db = tmp / "collector.duckdb"
        self.port_file = tmp / "collector.port"
        self.requested_port = port
        super().__init__([], tmp / "collector.log")

    def start(self) -> Collector:
        self.port_file.unlink(missing_ok=True)
        self.argv = [
            str(BIN / "commaudit-collector"), "serve", "--db", str(self.db),
            "--listen", f"127.0.0.1:{self.requested_port}", "--plaintext",
            "--port-file", str(self.port_file),
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


def agent_service(
    tmp: Path, collector: str, device_id: str, *, scan: float = 0.2, heartbeat: float = 0.3
) -> Service:
    """An agent scanning and beating fast, so a few seconds make many events."""
    argv = [str(BIN / "commaudit-agent"), "run", "--collector", collector, "--plaintext",
            "--device-id", device_id, "--state-dir", str(tmp / device_id),
            "--scan-interval", str(scan), "--heartbeat-interval", str(heartbeat),
            "--verbose"]  # fmt: skip
    return Service(argv, tmp / f"{device_id}.log")
