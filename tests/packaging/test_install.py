"""The packages installed and purged by dpkg into a throwaway root, maintainer scripts included.

`dpkg --root=ROOT --force-script-chrootless` runs the scripts on this machine with $DPKG_ROOT
set, and they put every path under it: the user goes into ROOT/etc/passwd (`useradd --prefix`),
the virtual environment into ROOT/opt/commaudit/venv, made offline from the shipped wheels by
/usr/bin/python3. systemctl is never called ($DPKG_ROOT set). Each test checks that this machine
itself was left as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is missing"),
    pytest.mark.skipif(
        not Path("/usr/bin/python3").exists(),
        reason="postinst makes the venv with /usr/bin/python3, which this machine lacks",
    ),
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="postinst gives the state directory to the commaudit user (chown needs root)",
    ),
]

FORCE = ["--force-not-root", "--force-script-chrootless", "--force-depends", "--log=/dev/null"]


def host_state() -> tuple[bool, bool]:
    """What a leak out of the throwaway root would change on this machine."""
    user = subprocess.run(["getent", "passwd", "commaudit"], capture_output=True).returncode == 0
    return Path("/opt/commaudit").exists(), user


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """An empty system for dpkg: its database, and the account files useradd edits."""
    root = tmp_path / "root"
    (root / "var/lib/dpkg/updates").mkdir(parents=True)
    (root / "var/lib/dpkg/info").mkdir()
    (root / "var/lib/dpkg/status").touch()
    (root / "var/lib/dpkg/available").touch()
    etc = root / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("root:*::\n")
    before = host_state()
    yield root
    assert host_state() == before, "the maintainer scripts changed this machine"


def dpkg(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["dpkg", f"--root={root}", *FORCE, *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def venv_has(root: Path, module: str) -> bool:
    python = root / "opt/commaudit/venv/bin/python"
    return subprocess.run([str(python), "-c", f"import {module}"]).returncode == 0


def test_agent_installs_a_working_venv_offline_and_purge_leaves_nothing(
    root: Path, debs: dict[str, Path]
) -> None:
    dpkg(root, "--install", str(debs["commaudit-agent"]))

    venv = root / "opt/commaudit/venv"
    help_text = subprocess.run(
        [str(venv / "bin/commaudit-agent"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "enroll" in help_text
    assert not venv_has(root, "duckdb")  # a device gets no database code
    state = root / "var/lib/commaudit-agent"
    assert oct(state.stat().st_mode & 0o777) == "0o711"  # status.json readable by name
    assert "commaudit" not in (root / "etc/passwd").read_text()  # the agent runs as root

    dpkg(root, "--purge", "commaudit-agent")
    assert not (root / "opt/commaudit").exists()
    assert not state.exists()  # the credential is a secret: purge takes it
    assert not (root / "etc/commaudit").exists()


def test_collector_makes_its_user_and_server_venv_and_hands_back_to_the_agent(
    root: Path, debs: dict[str, Path]
) -> None:
    dpkg(root, "--install", str(debs["commaudit-agent"]), str(debs["commaudit-collector"]))

    passwd = (root / "etc/passwd").read_text().splitlines()
    (user,) = [line for line in passwd if line.startswith("commaudit:")]
    _, _, uid, gid, _, home, shell = user.split(":")
    assert (home, shell) == ("/var/lib/commaudit", "/usr/sbin/nologin")
    assert int(uid) < 1000  # a system user
    state = (root / "var/lib/commaudit").stat()
    assert (str(state.st_uid), str(state.st_gid), oct(state.st_mode & 0o777)) == (
        uid,
        gid,
        "0o750",
    )
    collector = root / "opt/commaudit/venv/bin/commaudit-collector"
    help_text = subprocess.run(
        [str(collector), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "serve" in help_text  # every server dependency was shipped and installed
    assert venv_has(root, "agent.cli")

    # The collector leaves, the agent stays: its environment is the agent's own set again.
    dpkg(root, "--purge", "commaudit-collector")
    assert not venv_has(root, "duckdb")
    assert venv_has(root, "agent.cli")
    assert "commaudit:" not in (root / "etc/passwd").read_text()
    assert (root / "var/lib/commaudit").exists()  # the audit database is never removed
    assert (root / "etc/commaudit/agent.toml").exists()
