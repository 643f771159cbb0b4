"""Agent settings: CLI > environment > file > defaults; errors name the source, key and reason."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import AgentConfig, ConfigError, load_config

AGENT = str(Path(sys.executable).parent / "commaudit-agent")
SAFE: dict[str, object] = {}


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_command_line_beats_environment_beats_file(tmp_path: Path) -> None:
    file = _file(tmp_path, 'scan_interval_s = 5.0\ncollector = "file:1"\nbatch_max_events = 7\n')
    env = {"COMMAUDIT_AGENT_COLLECTOR": "env:2", "COMMAUDIT_AGENT_SCAN_INTERVAL_S": "3"}
    config = load_config(file, env, {**SAFE, "scan_interval_s": 1.5})
    assert (config.scan_interval_s, config.collector, config.batch_max_events) == (
        1.5,
        "env:2",
        7,
    )


def test_defaults_apply_where_nothing_is_set() -> None:
    config = load_config(None, {}, SAFE)
    assert config.heartbeat_interval_s == AgentConfig.heartbeat_interval_s == 60.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scan_intervall_s = 2\n", r"agent\.toml: scan_intervall_s: unknown setting"),
        (
            'scan_interval_s = "often"\n',
            r"agent\.toml: scan_interval_s: 'often' is not a valid float",
        ),
        ("scan_interval_s = 0\n", r"scan_interval_s: must be greater than 0"),
        ("batch_max_events = 5000\n", r"batch_max_events: must be between 1 and 1000"),
        ("spool_max_bytes = 1000\n", r"spool_max_bytes: 1000 is below the minimum 65536"),
        ('device_id = "chosen"\n', r"device_id: unknown setting"),
        ('collector = "no-port"\n', r"collector: 'no-port' is not HOST:PORT"),
        ("[oops\n", r"agent\.toml: not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_file(tmp_path, text), {}, SAFE)


def test_the_cli_exits_2_with_the_reason_on_bad_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [AGENT, "run", "--collector", "192.0.2.1", "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "collector: '192.0.2.1' is not HOST:PORT" in result.stderr


def test_run_before_enrollment_exits_1_saying_how_to_enroll(tmp_path: Path) -> None:
    result = subprocess.run(
        [AGENT, "run", "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "this device is not enrolled" in result.stderr
    assert "commaudit-agent enroll --collector HOST:PORT --token TOKEN" in result.stderr


def test_scan_once_reports_a_running_app_without_sending_anything(
    stand_in_app: Callable[[str], subprocess.Popen[bytes]], os_user: str
) -> None:
    stand_in_app("thunderbird")
    result = subprocess.run(
        [AGENT, "scan", "--once", "--json"], capture_output=True, text=True, timeout=60
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"app_id": "thunderbird", "name": "Thunderbird", "category": "email",
            "os_user": os_user, "processes": 1} in rows  # fmt: skip
