"""`commaudit-agent status`: a device enrolled by the real CLI with a real collector over TLS; the
events it shows went through the real sender and were acknowledged by that collector. Run by
root, then by `nobody`, who may read status.json and the pinned CA but not the credential or the
spool, and finally against a collector that is gone."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.catalog import load_catalog
from agent.daemon import loss_notice_for
from agent.enrollment import Enrollment, channel_for
from agent.events import Lifecycle, category_enum, lifecycle_event, new_event
from agent.privacy_profile import GatedSpool, Profile
from agent.sender import Sender
from agent.status_file import STATUS_FILE, DeviceFacts, StatusFile
from commaudit.v1 import events_pb2
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

PERSONAL = Profile.for_ownership("personal")
SESSION = "6a1f0a56-8f7c-4a38-9a43-0c1d2e3f4a5b"


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    running = tls_collector(tmp_path / "collector")
    yield running
    running.stop()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    with open_directory() as directory:
        yield directory


def _app_started(device_id: str, app_id: str, category: str) -> events_pb2.Event:
    event = new_event(device_id)
    event.app_started.CopyFrom(
        events_pb2.AppStarted(
            session_id=SESSION,
            app_id=app_id,
            category=category_enum(category),
            os_user="alice",
            process_count=1,
        )
    )
    return event


def _run_like_the_agent(state_dir: Path, enrollment: Enrollment) -> None:
    """What the running agent does: spool through the privacy gate, deliver, write its status."""
    catalog = load_catalog()
    device_id = enrollment.device_id
    spool = GatedSpool(
        state_dir / "spool.sqlite3",
        1_000_000,
        loss_notice_for(device_id),
        profile=PERSONAL,
        catalog=catalog,
    )
    heartbeat = new_event(device_id)
    heartbeat.heartbeat.running.add(
        session_id=SESSION,
        app_id="slack",
        category=category_enum("instant_messaging"),
        os_user="alice",
        process_count=1,
    )
    spool.append(
        [
            lifecycle_event(device_id, Lifecycle.KIND_STARTED),
            _app_started(device_id, "slack", "instant_messaging"),
            _app_started(device_id, "freetube", "video_sharing"),  # personal use: refused
            heartbeat,
        ]
    )
    with channel_for(state_dir, enrollment) as channel:
        assert Sender(spool, channel, enrollment.metadata).drain() == 0.0  # all acknowledged
    StatusFile(state_dir, DeviceFacts.of(enrollment), 60.0).write(spool, "running", "2026.11.2")
    spool.close()


def _status(state_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENT, "status", "--state-dir", str(state_dir), *options],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _expected_json(enrollment: Enrollment, collector: RunningCollector) -> dict[str, object]:
    return {
        "enrolled": True,
        "device": {
            "device_id": enrollment.device_id,
            "org": "library",
            "ownership": "personal",
            "collector": collector.address,
            "plaintext": False,
        },
        "profile": "personal",
        "collects": PERSONAL.describe(),
        "tracked_apps": list(catalog_counts()),
        "collector": {"address": collector.address, "reachable": True, "detail": "SERVING"},
        "spool": {"depth": 0, "events_dropped": 0},
        "problems": [],
    }


def _sent(output: dict[str, object]) -> list[tuple[int, str, str, str]]:
    rows = output["last_sent"]
    assert isinstance(rows, list)
    return [(r["seq"], r["kind"], r["app_id"], r["detail"]) for r in rows]


SENT = [
    (3, "heartbeat", "", "running: slack"),
    (2, "app_started", "slack", ""),
    (1, "agent_lifecycle", "", "started"),
]


def test_status_shows_the_device_a_reachable_collector_and_the_last_events_sent(
    tmp_path: Path, collector: RunningCollector
) -> None:
    state = tmp_path / "device"
    enrollment = enroll_device(collector, state, "personal")
    _run_like_the_agent(state, enrollment)

    result = _status(state, "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert {key: output[key] for key in _expected_json(enrollment, collector)} == _expected_json(
        enrollment, collector
    )
    assert _sent(output) == SENT
    assert output["agent"]["state"] == "running" and output["agent"]["stale"] is False
    assert enrollment.credential not in result.stdout
    public = (state / STATUS_FILE).read_text()
    assert enrollment.credential not in public and "alice" not in public
    assert stat.S_IMODE((state / STATUS_FILE).stat().st_mode) == 0o644

    text = _status(state).stdout
    assert f"Enrolled:  yes: device {enrollment.device_id} (library), personal" in text
    assert f"Collector: {collector.address}: reachable (SERVING)" in text
    assert "What this device reports (personal profile):" in text
    assert "  - Never collected: apps the catalog marks for personal use;" in text
    assert "#2       app_started      slack (instant_messaging)" in text
    assert "freetube" not in text


def test_status_says_the_collector_is_unreachable_once_it_is_gone(
    tmp_path: Path, collector: RunningCollector
) -> None:
    state = tmp_path / "device"
    enroll_device(collector, state, "personal")
    collector.stop()
    result = _status(state, "--json")
    assert result.returncode == 1
    reachability = json.loads(result.stdout)["collector"]
    assert reachability["reachable"] is False
    assert reachability["detail"].startswith("UNAVAILABLE: ")
    assert "NOT reachable (UNAVAILABLE: " in _status(state).stdout


def test_right_after_enrollment_status_says_the_agent_has_not_run(
    tmp_path: Path, collector: RunningCollector
) -> None:
    state = tmp_path / "device"
    enroll_device(collector, state, "employer")
    output = json.loads(_status(state, "--json").stdout)
    assert output["agent"]["state"] == "enrolled"
    assert (output["profile"], output["collects"]) == (
        "employer",
        Profile.for_ownership("employer").describe(),
    )
    assert output["last_sent"] == [] and output["spool"] == {"depth": 0, "events_dropped": 0}
    assert "Agent:     has not run since enrollment" in _status(state).stdout


def test_a_device_not_enrolled_says_so_and_exits_1(tmp_path: Path) -> None:
    result = _status(tmp_path, "--json")
    assert result.returncode == 1
    output = json.loads(result.stdout)
    assert (output["enrolled"], output["device"], output["problems"]) == (False, None, [])
    assert "Enrolled:  no (commaudit-agent enroll" in _status(tmp_path).stdout


def test_the_status_file_is_readable_by_all_even_under_the_services_umask(
    tmp_path: Path,
) -> None:
    device = DeviceFacts("d-1", "city", "employer", "127.0.0.1:1", False)
    old = os.umask(0o077)
    try:
        StatusFile(tmp_path, device, 60.0).write(None, "running", "v1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / STATUS_FILE).stat().st_mode) == 0o644


@as_root_only
def test_nobody_sees_the_whole_status_without_reading_the_credential_or_the_spool(
    open_dir: Path, collector: RunningCollector
) -> None:
    state = open_dir / "device"
    enrollment = enroll_device(collector, state, "personal")
    _run_like_the_agent(state, enrollment)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (state, *state.iterdir())}
    assert modes == {
        "device": 0o711,
        "enrollment.json": 0o600,
        "collector-ca.pem": 0o644,
        "spool.sqlite3": 0o600,
        "status.json": 0o644,
    }
    result = as_nobody(state, "status", "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    expected = _expected_json(enrollment, collector)
    assert {key: output[key] for key in expected} == expected
    assert _sent(output) == SENT


@as_root_only
def test_nobody_is_told_what_shuts_them_out_of_a_closed_state_directory(
    open_dir: Path, collector: RunningCollector
) -> None:
    state = open_dir / "device"
    enroll_device(collector, state, "personal")
    state.chmod(0o700)
    result = as_nobody(state, "status", "--json")
    assert result.returncode == 1, result.stderr
    output = json.loads(result.stdout)
    assert output["enrolled"] is None
    assert any(f"{state} is drwx------" in problem for problem in output["problems"])
