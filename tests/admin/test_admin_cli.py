"""`commaudit enroll-token` and `commaudit device`: the operator's commands against a real
collector over TLS, through typer's CliRunner; refusals by the collector exit 1, bad input here
exits 2, each with one line that says why."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from analytics.cli import app
from collector.state_dir import write_connection_file
from commaudit.v1 import agent_service_pb2
from tests.admin.operators import collector_with_operators
from tests.collector.collector_harness import RunningCollector


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    running = collector_with_operators(tmp_path)
    yield running
    running.stop()


def commaudit(
    tmp_path: Path, collector: RunningCollector, *args: str, who: str = "admin"
) -> Result:
    connection = ["--connection", str(tmp_path / f"{who}.json"), "--collector", collector.address]
    return CliRunner().invoke(app, [*args, *connection])


def test_an_admin_makes_a_token_a_device_redeems_it_and_the_admin_revokes_the_device(
    tmp_path: Path, collector: RunningCollector
) -> None:
    made = commaudit(
        tmp_path, collector, "enroll-token", "create", "--org", "library",
        "--ownership", "personal", "--employee", "E42", "--expires", "30m",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("cat1.")
    assert "library, personal, employee E42; one use, expires" in made.stderr
    grant = collector.stub.Enroll(agent_service_pb2.EnrollRequest(token=token), timeout=10)

    listed = commaudit(tmp_path, collector, "device", "list", "--json", who="ana")
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["device_id"], row["org"], row["ownership"], row["employee_id"]) == (
        grant.device_id, "library", "personal", "E42",
    )  # fmt: skip
    assert row["revoked_at"] is None

    revoked = commaudit(tmp_path, collector, "device", "revoke", grant.device_id,
                        "--reason", "left the library")  # fmt: skip
    assert revoked.exit_code == 0, revoked.output
    assert revoked.stdout.startswith(f"device {grant.device_id} revoked at ")
    table = commaudit(tmp_path, collector, "device", "list")
    assert "revoked 20" in table.stdout


@pytest.mark.parametrize(
    ("args", "who", "code", "message"),
    [
        (["enroll-token", "create", "--org", "city", "--ownership", "employer"], "ana", 1,
         "collector said PERMISSION_DENIED: create_enrollment_token needs role admin"),
        (["device", "revoke", "ghost", "--reason", "x"], "admin", 1,
         "collector said NOT_FOUND: device_id: no device 'ghost' has enrolled"),
        (["enroll-token", "create", "--org", "county", "--ownership", "employer"], "admin", 2,
         "'county' is not city or library"),
        (["enroll-token", "create", "--org", "city", "--ownership", "employer",
          "--expires", "a week"], "admin", 2, "'a week' is not a duration like 7d"),
        (["enroll-token", "create", "--org", "city", "--ownership", "employer",
          "--expires", "91d"], "admin", 1, "expires_in_s: 7862400 is outside 60 s to 90 days"),
    ],
)  # fmt: skip
def test_refusals_name_their_reason(
    tmp_path: Path,
    collector: RunningCollector,
    args: list[str],
    who: str,
    code: int,
    message: str,
) -> None:
    result = commaudit(tmp_path, collector, *args, who=who)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.replace("│", " ").split())


def test_a_connection_file_others_can_read_or_with_a_stranger_credential_is_refused(
    tmp_path: Path, collector: RunningCollector
) -> None:
    os.chmod(tmp_path / "admin.json", 0o644)
    loose = commaudit(tmp_path, collector, "device", "list")
    assert loose.exit_code == 2
    assert "readable by others (mode -rw-r--r--); it holds a secret" in loose.stderr

    body = json.loads((tmp_path / "ana.json").read_text())
    body["credential"] = "cao1.ana." + "A" * 43
    write_connection_file(tmp_path / "forged.json", collector="x:1", ca_pem=body["ca_pem"],
                          credential=body["credential"])  # fmt: skip
    forged = commaudit(tmp_path, collector, "device", "list", who="forged")
    assert forged.exit_code == 1
    assert "collector said UNAUTHENTICATED: unknown operator credential" in forged.stderr

    write_connection_file(tmp_path / "plain.json", collector="10.0.0.9:50051", ca_pem=None,
                          credential=body["credential"])  # fmt: skip
    plain = CliRunner().invoke(
        app, ["device", "list", "--connection", str(tmp_path / "plain.json")]
    )
    assert plain.exit_code == 2
    assert "plaintext (no ca_pem in the connection file) is allowed only to a loopback" in (
        plain.stderr
    )
