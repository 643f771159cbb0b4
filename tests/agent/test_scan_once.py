"""`commaudit-agent scan --once`: what the agent would report now, under the device's privacy
profile, for IMS staff on the device; it sends nothing. Real processes under catalog apps' names:
`freetube` (use = personal) and `slack` or `ringcentral` (business)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.status_file import STATUS_FILE
from tests.agent.enrolled_device import (
    AGENT,
    as_nobody,
    as_root_only,
    catalog_counts,
    enroll_device,
    open_directory,
    tls_collector,
)
from tests.collector.collector_harness import RunningCollector

StartApp = Callable[[str], subprocess.Popen[bytes]]
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="real-process tests run on Linux (CI)"
)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    running = tls_collector(tmp_path / "collector")
    yield running
    running.stop()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    with open_directory() as directory:
        yield directory


def _scan(state_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [AGENT, "scan", "--once", "--state-dir", str(state_dir), *options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def _apps(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    return {row["app_id"]: row for row in map(json.loads, result.stdout.splitlines())}


def test_a_device_not_enrolled_shows_every_catalog_app(
    tmp_path: Path, stand_in_app: StartApp, os_user: str
) -> None:
    stand_in_app("freetube")
    stand_in_app("ringcentral")  # business; a name no other test starts, so the count is ours
    stand_in_app("ringcentral")
    result = _scan(tmp_path, "--json")
    apps = _apps(result)
    assert apps["ringcentral"] == {
        "app_id": "ringcentral",
        "name": "RingCentral",
        "category": "teleconferencing",
        "os_user": os_user,
        "processes": 2,
    }
    assert apps["freetube"]["category"] == "video_sharing"
    _, known = catalog_counts()
    assert result.stderr.startswith(f"not enrolled: every catalog app ({known} of {known} apps")


def test_a_personal_device_shows_only_what_its_profile_reports(
    tmp_path: Path, collector: RunningCollector, stand_in_app: StartApp
) -> None:
    state = tmp_path / "device"
    enrollment = enroll_device(collector, state, "personal")
    stand_in_app("freetube")
    stand_in_app("slack")
    result = _scan(state, "--json")
    assert "slack" in _apps(result) and "freetube" not in _apps(result)
    tracked, known = catalog_counts()
    profile = f"device {enrollment.device_id}: personal profile ({tracked} of {known} apps"
    assert profile in result.stderr

    table = _scan(state).stdout
    assert table.startswith(f"device {enrollment.device_id}: personal profile")
    assert "slack " in table and "freetube" not in table


def test_an_employer_device_shows_every_catalog_app(
    tmp_path: Path, collector: RunningCollector, stand_in_app: StartApp
) -> None:
    state = tmp_path / "device"
    enroll_device(collector, state, "employer")
    stand_in_app("freetube")
    result = _scan(state, "--json")
    assert "freetube" in _apps(result)
    _, known = catalog_counts()
    assert f"employer profile ({known} of {known} apps" in result.stderr


@as_root_only
def test_a_user_who_cannot_read_the_enrollment_gets_the_profile_from_the_status_file(
    open_dir: Path, collector: RunningCollector, stand_in_app: StartApp
) -> None:
    state = open_dir / "device"
    enroll_device(collector, state, "personal")
    assert (state / STATUS_FILE).exists()  # written by enroll, for every user
    stand_in_app("freetube")
    stand_in_app("slack")
    result = as_nobody(state, "scan", "--once", "--json")
    assert result.returncode == 0, result.stderr
    assert "slack" in _apps(result) and "freetube" not in _apps(result)
    assert "personal profile" in result.stderr
