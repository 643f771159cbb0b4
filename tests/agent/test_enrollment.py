"""The agent's side of enrollment against a real collector over TLS: the credential and pinned CA
are stored owner-only, a token is spent only by a successful enrollment, and every refusal says
what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.collector_channel import agent_method
from agent.config import ConfigError
from agent.enrollment import (
    CA_FILE,
    ENROLLMENT_FILE,
    EnrollmentError,
    channel_for,
    enroll,
    load_enrollment,
)
from collector.enrollment import create_token
from collector.tls import create_tls
from commaudit.v1 import agent_service_pb2
from tests.collector.collector_harness import RunningCollector, make_batch

AGENT = str(Path(sys.executable).parent / "commaudit-agent")


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    create_tls(tmp_path / "collector" / "tls", ["localhost", "127.0.0.1"])
    running = RunningCollector(tmp_path / "collector", plaintext=False)
    yield running
    running.stop()


def token(collector: RunningCollector, ownership: str = "personal") -> str:
    issued = collector.server.writer.transaction(
        create_token,
        org="library",
        ownership=ownership,
        employee_id="E5",
        expires_in_s=600,
        operator_id="admin",
        now_ms=time.time_ns() // 10**6,
    )
    return str(issued.token)


def test_enrollment_stores_an_owner_only_credential_and_pins_the_ca(
    tmp_path: Path, collector: RunningCollector
) -> None:
    state = tmp_path / "agent"
    ca = tmp_path / "collector" / "tls" / "ca.pem"
    enrolled = enroll(state, collector.address, token(collector), ca, hostname="reading-room")
    assert enrolled.device_id.startswith("reading-room-")
    assert (enrolled.org, enrolled.ownership, enrolled.employee_id) == ("library", "personal", "E5")
    assert (state / ENROLLMENT_FILE).stat().st_mode & 0o777 == 0o600
    assert (state / CA_FILE).read_bytes() == ca.read_bytes()
    assert load_enrollment(state) == enrolled
    stored = json.loads((state / ENROLLMENT_FILE).read_text())
    assert stored["credential"].startswith(f"cad1.{enrolled.device_id}.")

    events = make_batch([1])
    events[0].device_id = enrolled.device_id
    with channel_for(state, enrolled) as channel:
        answer = channel.call(
            agent_method("Report"),
            agent_service_pb2.ReportRequest(events=events),
            agent_service_pb2.ReportResponse,
            metadata=enrolled.metadata,
            timeout=10,
        )
    assert answer.acked_seq == 1

    with pytest.raises(EnrollmentError, match=f"already enrolled as {enrolled.device_id}"):
        enroll(state, collector.address, token(collector), ca)


def test_a_wrong_ca_fails_the_handshake_and_does_not_spend_the_token(
    tmp_path: Path, collector: RunningCollector
) -> None:
    create_tls(tmp_path / "impostor", ["127.0.0.1"])
    one_time = token(collector)
    with pytest.raises(EnrollmentError, match=r"cannot reach the collector at .* over TLS"):
        enroll(tmp_path / "a", collector.address, one_time, tmp_path / "impostor" / "ca.pem")
    assert not (tmp_path / "a" / ENROLLMENT_FILE).exists()
    ca = tmp_path / "collector" / "tls" / "ca.pem"
    assert enroll(tmp_path / "a", collector.address, one_time, ca).device_id


def test_unsafe_or_incomplete_transport_settings_are_refused_before_connecting(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="plaintext is allowed only to a loopback"):
        enroll(tmp_path, "10.1.2.3:50051", "t", None, plaintext=True)
    with pytest.raises(ConfigError, match="--ca-file: the collector's CA certificate"):
        enroll(tmp_path, "127.0.0.1:50051", "t", None)
    (tmp_path / "not.pem").write_text("hello")
    with pytest.raises(ConfigError, match=r"not\.pem is not a PEM certificate"):
        enroll(tmp_path, "127.0.0.1:50051", "t", tmp_path / "not.pem")
    with pytest.raises(ConfigError, match="cannot read"):
        enroll(tmp_path, "127.0.0.1:50051", "t", tmp_path / "missing.pem")


def test_a_credential_file_others_can_read_is_refused(
    tmp_path: Path, collector: RunningCollector
) -> None:
    state = tmp_path / "agent"
    enroll(state, collector.address, token(collector), tmp_path / "collector" / "tls" / "ca.pem")
    os.chmod(state / ENROLLMENT_FILE, 0o644)
    with pytest.raises(EnrollmentError, match=r"readable by others .* chmod 600"):
        load_enrollment(state)


def test_the_cli_reports_a_spent_token_and_exits_1(
    tmp_path: Path, collector: RunningCollector
) -> None:
    ca = tmp_path / "collector" / "tls" / "ca.pem"
    one_time = token(collector, ownership="employer")
    argv = [AGENT, "enroll", "--collector", collector.address, "--token", one_time,
            "--ca-file", str(ca)]  # fmt: skip
    first = subprocess.run(
        [*argv, "--state-dir", str(tmp_path / "a")], capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    assert "(library, employer device, employee E5)" in first.stdout
    second = subprocess.run(
        [*argv, "--state-dir", str(tmp_path / "b")], capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 1
    assert "the collector refused enrollment (UNAUTHENTICATED): enrollment token" in second.stderr
    assert "was already used" in second.stderr
