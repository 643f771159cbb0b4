"""The installed `commaudit-collector`, initialised and started on 127.0.0.1 for a benchmark,
serving TLS with its own CA, as in production; devices are registered before it starts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from collector.enrollment import create_token, register_device
from collector.store import Store

BIN = Path(sys.executable).parent


def init_collector(state_dir: Path) -> None:
    subprocess.run(
        [str(BIN / "commaudit-collector"), "init", "--state-dir", str(state_dir)],
        check=True, capture_output=True,
    )  # fmt: skip


def register_devices(state_dir: Path, device_ids: list[str]) -> dict[str, str]:
    """device id -> credential, registered as Enroll would (one transaction, collector stopped).
    Enroll itself costs one transaction per device; a fleet is registered in bulk here so that
    the benchmark's time goes to what it measures, reporting."""
    store = Store(state_dir / "commaudit.duckdb")
    now_ms = time.time_ns() // 1_000_000
    try:
        grants = store.transaction(
            lambda con: [
                register_device(con, device_id, org="city", ownership="employer", now_ms=now_ms)
                for device_id in device_ids
            ]
        )
    finally:
        store.close()
    return {grant.device_id: grant.credential for grant in grants}


def enrollment_token(state_dir: Path) -> str:
    """A one-time token, for a benchmark that enrolls a real agent."""
    store = Store(state_dir / "commaudit.duckdb")
    try:
        return store.transaction(
            lambda con: create_token(
                con, org="city", ownership="employer", employee_id="", expires_in_s=3600,
                operator_id="admin", now_ms=time.time_ns() // 1_000_000,
            )
        ).token  # fmt: skip
    finally:
        store.close()


def start_collector(state_dir: Path, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """Serve an initialised state directory over TLS on a free loopback port; returns the
    process and its HOST:PORT."""
    port_file = state_dir / "port"
    port_file.unlink(missing_ok=True)
    process = subprocess.Popen(
        [str(BIN / "commaudit-collector"), "serve", "--state-dir", str(state_dir),
         "--listen", "127.0.0.1:0", "--port-file", str(port_file), *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the collector did not start")
        time.sleep(0.05)
    return process, f"127.0.0.1:{port_file.read_text().strip()}"


def ca_credentials(state_dir: Path) -> bytes:
    """The CA agents pin, for channels to this collector."""
    return (state_dir / "tls" / "ca.pem").read_bytes()
