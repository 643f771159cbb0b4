"""`commaudit-collector serve` as an operator runs it: a subprocess, signals, exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import grpc
import pytest

from commaudit.v1 import agent_service_pb2, agent_service_pb2_grpc
from tests.collector.collector_harness import DEVICE, make_batch, metadata


def collector_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "collector.cli", *args]


def wait_for_port(port_file: Path, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        if process.poll() is not None:
            pytest.fail(f"collector exited {process.returncode}: {process.communicate()}")
        time.sleep(0.05)
    pytest.fail("collector did not write its port file")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stores_reports_and_stops_cleanly_on_a_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    db, port_file = tmp_path / "collector.duckdb", tmp_path / "port"
    process = subprocess.Popen(
        collector_command(
            "serve",
            "--db",
            str(db),
            "--listen",
            "127.0.0.1:0",
            "--plaintext",
            "--port-file",
            str(port_file),
        ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = wait_for_port(port_file, process)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = agent_service_pb2_grpc.AgentServiceStub(channel)
            request = agent_service_pb2.ReportRequest(events=make_batch([1, 2]))
            assert stub.Report(request, metadata=metadata(DEVICE), timeout=20).acked_seq == 2
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert stdout == f"listening on 127.0.0.1:{port}, database {db}\n"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT device_id, seq FROM events ORDER BY seq").fetchall() == [
            (DEVICE, 1),
            (DEVICE, 2),
        ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "0.0.0.0:50051", "--plaintext"], "plaintext is allowed only on a loopback"),
        (["--listen", "127.0.0.1:50051"], "TLS is not configured yet: pass --plaintext on a"),
        (["--listen", "127.0.0.1", "--plaintext"], "is not HOST:PORT"),
        (["--listen", "127.0.0.1:0", "--plaintext", "--db", "missing/x.duckdb"], "does not exist"),
    ],
)
def test_serve_refuses_settings_it_cannot_start_with_and_exits_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    if "--db" not in args:
        args = [*args, "--db", str(tmp_path / "collector.duckdb")]
    result = subprocess.run(
        collector_command("serve", *args),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert not (tmp_path / "collector.duckdb").exists()
