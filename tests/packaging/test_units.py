"""The systemd units as systemd reads them: `systemd-analyze verify` on copies whose ExecStart
points at this environment's console scripts (verify checks that the binary exists), the timer's
calendar, and the settings the packaging promises (so deleting a hardening line fails a test).

No unit is started: this machine's PID 1 is not systemd. packaging/README.md says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.conftest import REPO

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is missing here"
)

UNITS = REPO / "packaging" / "systemd"
INSTALLED_BIN = "/opt/commaudit/venv/bin/"
HARDENING = {
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "SystemCallFilter": "@system-service",
}


def settings(unit: Path) -> dict[str, list[str]]:
    """`Key=value` lines by key (systemd allows a key more than once); comments skipped."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def verify(tmp_path: Path, *names: str) -> subprocess.CompletedProcess[str]:
    """verify on copies of `names` whose ExecStart runs this environment's console scripts."""
    for name in names:
        text = (UNITS / name).read_text()
        assert name.endswith(".timer") or INSTALLED_BIN in text
        (tmp_path / name).write_text(text.replace(INSTALLED_BIN, f"{Path(sys.executable).parent}/"))
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "Failed to initialize manager" in result.stderr or "not been booted" in result.stderr:
        pytest.skip(f"systemd-analyze verify cannot run here: {result.stderr.strip()[:200]}")
    return result


def about(result: subprocess.CompletedProcess[str], names: tuple[str, ...]) -> list[str]:
    """verify's complaints about our units (it may also grumble about this machine's own)."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if any(name in line for name in names)]


@pytest.mark.parametrize(
    "names",
    [
        ("commaudit-collector.service",),
        ("commaudit-agent.service",),
        ("commaudit-summaries.service", "commaudit-summaries.timer"),
    ],
)
def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(
    tmp_path: Path, names: tuple[str, ...]
) -> None:
    result = verify(tmp_path, *names)
    assert result.returncode == 0, result.stderr
    assert about(result, names) == []


def test_verify_does_reject_a_unit_whose_binary_is_missing(tmp_path: Path) -> None:
    """The check above can fail: the same unit, ExecStart left at a path that is not here."""
    if Path(INSTALLED_BIN).exists():
        pytest.skip("commaudit is installed on this machine at its packaged path")
    shutil.copy(UNITS / "commaudit-agent.service", tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "commaudit-agent.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "is not executable" in result.stderr


def test_collector_runs_notify_type_as_its_own_user_with_no_capabilities() -> None:
    unit = settings(UNITS / "commaudit-collector.service")
    assert unit["Type"] == ["notify"] and unit["WatchdogSec"] == ["30"]
    assert unit["User"] == ["commaudit"] and unit["Group"] == ["commaudit"]
    assert unit["StateDirectory"] == ["commaudit"]
    assert unit["ConfigurationDirectory"] == ["commaudit"]
    assert unit["CapabilityBoundingSet"] == [""]
    assert unit["ProtectHome"] == ["yes"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["ExecStart"] == [
        "/opt/commaudit/venv/bin/commaudit-collector serve --config /etc/commaudit/collector.toml"
    ]
    for key, value in HARDENING.items():
        assert value in unit[key], key


def test_agent_runs_as_root_keeping_only_ptrace_read_and_the_process_events() -> None:
    unit = settings(UNITS / "commaudit-agent.service")
    assert unit["Type"] == ["notify"] and unit["WatchdogSec"] == ["30"]
    assert unit["User"] == ["root"]
    assert unit["CapabilityBoundingSet"] == ["CAP_SYS_PTRACE CAP_NET_ADMIN"]
    assert unit["StateDirectory"] == ["commaudit-agent"]
    assert unit["RuntimeDirectory"] == ["commaudit-agent"]  # the browsers' socket
    assert unit["RuntimeDirectoryMode"] == ["0755"]
    assert unit["ProtectHome"] == ["read-only"]
    assert unit["ExecStart"] == [
        "/opt/commaudit/venv/bin/commaudit-agent run --config /etc/commaudit/agent.toml"
    ]
    agent_hardening = HARDENING | {
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK"  # process events
    }
    for key, value in agent_hardening.items():
        assert value in unit[key], key


def test_summaries_timer_fires_mondays_at_seven_local_and_catches_up() -> None:
    timer = settings(UNITS / "commaudit-summaries.timer")
    assert timer["Persistent"] == ["true"]
    assert timer["Unit"] == ["commaudit-summaries.service"]
    (calendar,) = timer["OnCalendar"]
    result = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=3", calendar],
        capture_output=True,
        text=True,
        check=True,
    )
    # "Next elapse: Mon 2026-11-30 07:00:00 UTC", then "Iter. #2: ..." (local time, as here)
    elapses = re.findall(r"(?:Next elapse|Iter\. #\d): (\w+) \S+ (\S+)", result.stdout)
    assert elapses == [("Mon", "07:00:00")] * 3, result.stdout


def test_summaries_service_runs_the_weekly_send_as_the_collector_user() -> None:
    unit = settings(UNITS / "commaudit-summaries.service")
    assert unit["Type"] == ["oneshot"]
    assert unit["User"] == ["commaudit"]
    assert unit["ExecStart"] == ["/opt/commaudit/venv/bin/commaudit summaries send --week last"]
    # the SMTP password from a root-only file systemd reads before dropping to the user
    assert unit["EnvironmentFile"] == ["-/etc/commaudit/summaries.env"]
    assert unit["CacheDirectory"] == ["commaudit-summaries"]
