"""`commaudit-collector init` and `serve` as an operator runs them: subprocesses, TLS, signals,
exit codes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import grpc
import psutil
import pytest

from collector.enrollment import create_token
from collector.store import Store
from commaudit.v1 import agent_service_pb2, agent_service_pb2_grpc
from tests.collector.collector_harness import make_batch, metadata


def collector_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "collector.cli", *args]


def run_collector(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        collector_command(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def wait_for_port(port_file: Path, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        if process.poll() is not None:
            pytest.fail(f"collector exited {process.returncode}: {process.communicate()}")
        time.sleep(0.05)
    pytest.fail("collector did not write its port file")


SHELL_SOFT_LIMIT = 1024
"""The soft limit on open files a process started from a shell usually gets."""


def shell_file_limit() -> None:
    """In the child: the soft limit a shell would give it, the hard one kept."""
    import resource  # POSIX, as is this test's process group

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, SHELL_SOFT_LIMIT), hard))


def one_line(text: str) -> str:
    """typer boxes its errors; compare their words."""
    return " ".join(text.replace("│", " ").split())


def test_init_creates_the_database_tls_and_an_owner_only_admin_connection(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = run_collector("init", "--state-dir", str(state), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"CA for agents to pin:  {state / 'tls' / 'ca.pem'}" in result.stdout
    for secret in (state / "tls" / "ca.key", state / "tls" / "server.key"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    connection_file = state / "admin-connection.json"
    assert stat.S_IMODE(connection_file.stat().st_mode) == 0o600
    connection = json.loads(connection_file.read_text())
    assert connection["collector"] == "localhost:50051"
    assert connection["credential"].startswith("cao1.admin.")
    assert connection["ca_pem"] == (state / "tls" / "ca.pem").read_text()
    with duckdb.connect(str(state / "commaudit.duckdb"), read_only=True) as con:
        assert con.execute("SELECT operator_id, role FROM operators").fetchall() == [
            ("admin", "admin")
        ]

    again = run_collector("init", "--state-dir", str(state), cwd=tmp_path)
    assert again.returncode == 2
    assert "is already initialised; nothing was changed" in again.stderr
    assert json.loads(connection_file.read_text()) == connection


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_enrolls_and_stores_over_tls_and_stops_cleanly_on_a_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    state, port_file = tmp_path / "state", tmp_path / "port"
    assert run_collector("init", "--state-dir", str(state), cwd=tmp_path).returncode == 0
    store = Store(state / "commaudit.duckdb")
    token = store.transaction(
        lambda con: create_token(
            con,
            org="library",
            ownership="employer",
            employee_id="E7",
            expires_in_s=600,
            operator_id="admin",
            now_ms=time.time_ns() // 10**6,
        )
    ).token
    store.close()
    process = subprocess.Popen(
        collector_command(
            "serve",
            "--state-dir",
            str(state),
            "--listen",
            "127.0.0.1:0",
            "--port-file",
            str(port_file),
        ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=shell_file_limit,
    )
    try:
        port = wait_for_port(port_file, process)
        file_limits = psutil.Process(process.pid).rlimit(psutil.RLIMIT_NOFILE)  # Linux
        ca = grpc.ssl_channel_credentials((state / "tls" / "ca.pem").read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{port}", ca) as channel:
            stub = agent_service_pb2_grpc.AgentServiceStub(channel)
            grant = stub.Enroll(
                agent_service_pb2.EnrollRequest(token=token, hostname="desk 12"), timeout=20
            )
            assert (grant.org, grant.employee_id) == ("library", "E7")
            assert grant.ownership == agent_service_pb2.OWNERSHIP_EMPLOYER
            assert grant.device_id.startswith("desk-12-")
            request = agent_service_pb2.ReportRequest(events=make_batch([1, 2]))
            answer = stub.Report(request, metadata=metadata(grant.device_credential), timeout=20)
            assert answer.acked_seq == 2
        # To the whole process group, as Ctrl-C and systemd's stop deliver it: the writer
        # process must wait for the collector to drain, not die first.
        os.killpg(process.pid, signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    db = state / "commaudit.duckdb"
    assert stdout == f"listening on 127.0.0.1:{port} (TLS), database {db}\n"
    assert "event loop: uvloop" in stderr  # collector/event_loop.py; signals still stop it
    soft, hard = file_limits  # collector/open_files.py: raised from the shell's to the hard one
    assert soft == hard
    if hard > SHELL_SOFT_LIMIT:
        assert f"open files: soft limit raised from {SHELL_SOFT_LIMIT} to {hard}" in stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT device_id, seq FROM events ORDER BY seq").fetchall() == [
            (grant.device_id, 1),
            (grant.device_id, 2),
        ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "0.0.0.0:50051", "--plaintext"], "plaintext is allowed only on a loopback"),
        (["--listen", "127.0.0.1:0"], "no TLS material"),
        (["--listen", "127.0.0.1", "--plaintext"], "is not HOST:PORT"),
        (["--listen", "127.0.0.1:0", "--plaintext", "--state-dir", "missing"], "does not exist"),
    ],
)
def test_serve_refuses_settings_it_cannot_start_with_and_exits_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "state").mkdir()
    if "--state-dir" not in args:
        args = [*args, "--state-dir", str(tmp_path / "state")]
    result = run_collector("serve", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in one_line(result.stderr)
    assert not (tmp_path / "state" / "commaudit.duckdb").exists()


def test_init_refuses_half_of_an_organisations_tls_material(tmp_path: Path) -> None:
    result = run_collector(
        "init", "--state-dir", str(tmp_path / "s"), "--ca-cert", "ca.pem", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "give all three of --ca-cert, --server-cert and --server-key" in one_line(result.stderr)
    assert not (tmp_path / "s").exists()
