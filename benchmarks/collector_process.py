"""The installed `commaudit-collector`, started on 127.0.0.1 for a benchmark, as in production."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def start_collector(db: Path, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """Serve `db` on a free loopback port; returns the process and its HOST:PORT."""
    port_file = db.with_suffix(".port")
    process = subprocess.Popen(
        [str(BIN / "commaudit-collector"), "serve", "--db", str(db), "--listen", "127.0.0.1:0",
         "--plaintext", "--port-file", str(port_file), *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the collector did not start")
        time.sleep(0.05)
    return process, f"127.0.0.1:{port_file.read_text().strip()}"
