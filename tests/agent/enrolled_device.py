"""A real collector over TLS on 127.0.0.1, devices enrolled with it by the real
`commaudit-agent enroll`, and the agent's commands run as the user nobody: for the tests of
what an enrolled agent shows the device's users."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import pytest

from agent.enrollment import Enrollment, load_enrollment
from collector.enrollment import create_token
from collector.tls import create_tls
from tests.collector.collector_harness import RunningCollector

AGENT = str(Path(sys.executable).parent / "commaudit-agent")


def tls_collector(state_dir: Path) -> RunningCollector:
    create_tls(state_dir / "tls", ["localhost", "127.0.0.1"])
    return RunningCollector(state_dir, plaintext=False)


def enroll_device(collector: RunningCollector, state_dir: Path, ownership: str) -> Enrollment:
    """An admin's token for `ownership`, redeemed by the agent's CLI into `state_dir`."""
    issued = collector.server.writer.transaction(
        create_token,
        org="library",
        ownership=ownership,
        employee_id="E5",
        expires_in_s=600,
        operator_id="admin",
        now_ms=time.time_ns() // 10**6,
    )
    ca = collector.state_dir / "tls" / "ca.pem"
    argv = [AGENT, "enroll", "--collector", collector.address, "--token", str(issued.token),
            "--ca-file", str(ca), "--state-dir", str(state_dir)]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return load_enrollment(state_dir)


def catalog_counts() -> tuple[int, int]:
    """(apps a personal device reports, apps in the catalog), read straight from the packaged
    TOML rather than through the catalog code."""
    text = resources.files("agent").joinpath("catalog.toml").read_text(encoding="utf-8")
    uses = [app["use"] for app in tomllib.loads(text)["app"]]
    return sum(use != "personal" for use in uses), len(uses)


@contextmanager
def open_directory() -> Iterator[Path]:
    """A directory every user may enter (pytest's own tmp_path is root's alone)."""
    directory = Path(tempfile.mkdtemp(prefix="commaudit-status-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


AS_NOBODY = r"""
import os, pwd, sys

import encodings.idna, ssl, h2.connection
from agent.catalog import load_catalog
from agent.cli import main

# The interpreter lives where only root may look: load everything first, then become nobody.
load_catalog()
nobody = pwd.getpwnam("nobody")
os.setgroups([])
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)
state = sys.argv[1]
for secret in ("enrollment.json", "spool.sqlite3"):
    try:
        open(os.path.join(state, secret), "rb").close()
    except (PermissionError, FileNotFoundError):
        continue
    sys.exit(f"nobody could read {secret}")
sys.exit(main([*sys.argv[2:], "--state-dir", state]))
"""

as_root_only = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="becoming the user nobody needs root; run the suite as root to prove it",
)


def as_nobody(state_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`commaudit-agent ARGV --state-dir STATE_DIR` as the user nobody, after checking that
    nobody cannot open the credential or the spool there (a file that does not exist passes:
    the spool is made by the agent's first run). Not through runuser: this interpreter may sit
    under a directory only root may enter (a per-user Python install)."""
    pwd.getpwnam("nobody")
    return subprocess.run(
        [sys.executable, "-c", AS_NOBODY, str(state_dir), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
