"""Collector settings: options > environment > file > defaults; errors name where, what and why;
the packaged example documents exactly the settings there are; check-config and serve use them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.layered_settings import Origin
from collector.admission import AdmissionLimits
from collector.cli import app
from collector.config import CollectorConfig, ConfigError, load_config, load_effective
from collector.ingest import IngestLimits

COLLECTOR = str(Path(sys.executable).parent / "commaudit-collector")
EXAMPLE = Path(__file__).parents[2] / "packaging" / "config" / "collector.toml"
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("COMMAUDIT_COLLECTOR_")}


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(text)
    return path


def wait_for(port_file: Path, process: subprocess.Popen[Any]) -> int:
    deadline = time.monotonic() + 20
    while not port_file.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert port_file.exists(), f"collector did not start (exit {process.poll()})"
    return int(port_file.read_text())


def documented(example: Path) -> dict[str, str]:
    """Each documented setting -> the TOML text of its commented-out default."""
    return dict(re.findall(r"^# ([a-z_]+) = (.+)$", example.read_text(), re.MULTILINE))


def test_options_beat_environment_beat_file_beat_defaults(tmp_path: Path) -> None:
    file = _file(
        tmp_path,
        'listen = "127.0.0.1:7000"\ncommit_window_ms = 20\nlog_level = "warning"\n'
        'state_dir = "/srv/from-file"\n',
    )
    env = {"COMMAUDIT_COLLECTOR_LISTEN": "127.0.0.1:8000", "COMMAUDIT_COLLECTOR_LOG_LEVEL": "DEBUG"}
    effective = load_effective(file, env, {"listen": "127.0.0.1:9000", "min_free_mb": None})
    config = effective.config
    assert (config.listen, config.log_level, config.commit_window_ms) == (
        "127.0.0.1:9000",
        "debug",
        20.0,
    )
    assert (config.state_dir, config.min_free_mb, config.publish_interval_s) == (
        Path("/srv/from-file"),
        64,
        60.0,
    )
    assert effective.origins["listen"] == Origin("flag", "--listen")
    assert effective.origins["log_level"] == Origin("env", "COMMAUDIT_COLLECTOR_LOG_LEVEL")
    assert effective.origins["commit_window_ms"] == Origin("file", str(file))
    assert effective.origins["min_free_mb"] == Origin("default")


def test_the_defaults_are_the_ones_serve_had_before_there_was_a_file() -> None:
    config = load_config(None, {}, {})
    assert config == CollectorConfig()
    assert (config.listen, config.plaintext, config.port_file, config.import_dir) == (
        "127.0.0.1:50051",
        False,
        None,
        None,
    )
    assert config.admission_limits() == AdmissionLimits()
    assert config.ingest_limits() == IngestLimits()
    assert (config.metrics_listen, config.log_level, config.log_format) == ("", "info", "text")


def test_settings_become_the_limits_the_server_takes() -> None:
    config = load_config(
        None, {}, {"min_free_mb": 10, "device_events_per_s": 5, "commit_window_ms": 2}
    )
    assert config.admission_limits() == AdmissionLimits(
        device_events_per_s=5.0, min_free_bytes=10 * 2**20
    )
    assert config.ingest_limits() == IngestLimits(max_group_delay_s=0.002)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            'commit_window_ms = "fast"',
            'commit_window_ms: must be a number from 1 to 1000, not "fast"',
        ),
        ("commit_window_ms = 0", "commit_window_ms: must be a number from 1 to 1000, not 0"),
        (
            "commit_window_ms = 1000.5",
            "commit_window_ms: must be a number from 1 to 1000, not 1000.5",
        ),
        ("commit_window_ms = true", "commit_window_ms: must be a number from 1 to 1000, not true"),
        ("commit_window_ms = nan", "commit_window_ms: must be a number from 1 to 1000, not nan"),
        ("min_free_mb = 1.5", "min_free_mb: must be a whole number of at least 0, not 1.5"),
        ("min_free_mb = -1", "min_free_mb: must be a whole number of at least 0, not -1"),
        (
            "device_events_per_s = 0.5",
            "device_events_per_s: must be a number of at least 1, not 0.5",
        ),
        ("publish_interval_s = -1", "publish_interval_s: must be a number of at least 0, not -1"),
        ('plaintext = "maybe"', 'plaintext: must be true or false, not "maybe"'),
        ('log_format = "xml"', 'log_format: must be one of text, json, not "xml"'),
        ('log_level = "loud"', 'log_level: must be one of debug, info, warning, error, not "loud"'),
        ('listen = "nowhere"', 'listen: "nowhere" is not HOST:PORT (e.g. 127.0.0.1:50051)'),
        ('metrics_listen = "localhost"', 'metrics_listen: "localhost" is not HOST:PORT'),
        ("metrics_listen = 9100", "metrics_listen: must be HOST:PORT in quotes, not 9100"),
        ('state_dir = ""', 'state_dir: must be a path, not ""'),
        ("import_dir = 3", "import_dir: must be a path, not 3"),
        (
            'listen = "0.0.0.0:50051"\nplaintext = true',
            "plaintext: plaintext is allowed only on a loopback address",
        ),
        (
            "comit_window_ms = 5",
            "comit_window_ms: unknown setting (did you mean commit_window_ms?)",
        ),
        ("[server]\nport = 1", "server: unknown setting (known: commit_window_ms, "),
    ],
)
def test_a_wrong_value_in_the_file_is_named_by_file_key_and_reason(
    tmp_path: Path, text: str, reason: str
) -> None:
    file = _file(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file, {}, {})
    assert str(caught.value).startswith(f"{file}: {reason}")


def test_every_unknown_key_is_named_not_only_the_first(tmp_path: Path) -> None:
    file = _file(tmp_path, "lissen = 1\nwhatever = 2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file, {"COMMAUDIT_COLLECTOR_PLAINTEXT_PLEASE": "1"}, {})
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{file}: lissen: unknown setting (did you mean listen?)"
    assert lines[1].startswith(f"{file}: whatever: unknown setting (known: commit_window_ms, ")
    assert lines[2].startswith("COMMAUDIT_COLLECTOR_PLAINTEXT_PLEASE: unknown setting")
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read: No such file or directory"),
        ("a directory", "cannot read: Is a directory"),
        (b'log_level = "\xff"\n', "not valid TOML: not UTF-8 text"),
        (
            b'listen = "127.0.0.1:1"\n\nlog_level = \n',
            "not valid TOML: Invalid value (at line 3, column 13)",
        ),
    ],
)
def test_a_file_that_cannot_be_read_or_parsed_is_refused_with_the_reason(
    tmp_path: Path, content: bytes | str | None, reason: str
) -> None:
    path = tmp_path / "collector.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "a directory":
        path.mkdir()
    with pytest.raises(ConfigError) as caught:
        load_config(path, {}, {})
    assert str(caught.value) == f"{path}: {reason}"


def test_environment_values_are_text_converted_like_the_files(tmp_path: Path) -> None:
    env = {
        "COMMAUDIT_COLLECTOR_PLAINTEXT": "yes",
        "COMMAUDIT_COLLECTOR_MIN_FREE_MB": "128",
        "COMMAUDIT_COLLECTOR_IMPORT_DIR": "",
        "COMMAUDIT_COLLECTOR_PORT_FILE": str(tmp_path / "port"),
        "COMMAUDIT_OTHER": "not ours",
    }
    file = _file(tmp_path, f'import_dir = "{tmp_path}"\nplaintext = false\n')
    config = load_config(file, env, {})
    assert (config.plaintext, config.min_free_mb, config.import_dir, config.port_file) == (
        True,
        128,
        None,
        tmp_path / "port",
    )


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        (
            {"COMMAUDIT_COLLECTOR_COMMIT_WINDOW_MS": "fast"},
            {},
            'COMMAUDIT_COLLECTOR_COMMIT_WINDOW_MS: must be a number from 1 to 1000, not "fast"',
        ),
        (
            {"COMMAUDIT_COLLECTOR_COMIT_WINDOW_MS": "5"},
            {},
            "COMMAUDIT_COLLECTOR_COMIT_WINDOW_MS: unknown setting"
            " (did you mean COMMAUDIT_COLLECTOR_COMMIT_WINDOW_MS?)",
        ),
        ({}, {"min_free_mb": -5}, "--min-free-mb: must be a whole number of at least 0, not -5"),
    ],
)
def test_a_wrong_environment_variable_or_option_is_named_as_the_operator_wrote_it(
    tmp_path: Path, env: dict[str, str], overrides: dict[str, object], message: str
) -> None:
    file = _file(tmp_path, "commit_window_ms = 10\nmin_free_mb = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file, env, overrides)
    assert str(caught.value) == message


def test_the_packaged_example_documents_every_setting_at_its_default(tmp_path: Path) -> None:
    assert load_effective(EXAMPLE, {}, {}).origins == {
        key: Origin("default") for key in documented(EXAMPLE)
    }
    defaults = CollectorConfig()
    assert list(documented(EXAMPLE)) == [f.name for f in fields(CollectorConfig)]
    for key, default_text in documented(EXAMPLE).items():
        uncommented = _file(tmp_path, f"{key} = {default_text}\n")
        assert getattr(load_config(uncommented, {}, {}), key) == getattr(defaults, key), key


def test_each_documented_setting_has_its_own_comment(tmp_path: Path) -> None:
    lines = EXAMPLE.read_text().splitlines()
    for key in documented(EXAMPLE):
        above = lines[lines.index(f"# {key} = {documented(EXAMPLE)[key]}") - 1]
        assert above.startswith("# ") and " = " not in above, key


def test_check_config_prints_each_setting_with_its_source(tmp_path: Path) -> None:
    file = _file(tmp_path, 'listen = "0.0.0.0:50051"\ncommit_window_ms = 20\n')
    env = {**CLEAN_ENV, "COMMAUDIT_COLLECTOR_LOG_LEVEL": "debug"}
    result = subprocess.run(
        [COLLECTOR, "check-config", "--config", str(file), "--publish-interval-s", "0",
         "--state-dir", "/srv/collector"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {
        match["key"]: (match["value"], match["source"])
        for match in re.finditer(
            r"^(?P<key>\w+) += (?P<value>.+?) +# (?P<source>.+)$", result.stdout, re.MULTILINE
        )
    }
    assert rows == {
        "state_dir": ('"/srv/collector"', "flag --state-dir"),
        "listen": ('"0.0.0.0:50051"', f"file {file}"),
        "plaintext": ("false", "default"),
        "port_file": ('""', "default"),
        "min_free_mb": ("64", "default"),
        "device_events_per_s": ("2000.0", "default"),
        "commit_window_ms": ("20.0", f"file {file}"),
        "publish_interval_s": ("0.0", "flag --publish-interval-s"),
        "import_dir": ('""', "default"),
        "metrics_listen": ('""', "default"),
        "log_level": ('"debug"', "env COMMAUDIT_COLLECTOR_LOG_LEVEL"),
        "log_format": ('"text"', "default"),
    }
    assert len(result.stdout.splitlines()) == 12
    assert len({line.index(" = ") for line in result.stdout.splitlines()}) == 1  # aligned
    assert tomllib.loads(result.stdout)["commit_window_ms"] == 20.0  # pastes into a file


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--log-format", "xml"], {}, '--log-format: must be one of text, json, not "xml"'),
        (
            ["--listen", "0.0.0.0:1"],
            {"COMMAUDIT_COLLECTOR_PLAINTEXT": "true"},
            "COMMAUDIT_COLLECTOR_PLAINTEXT: plaintext is allowed only on a loopback address",
        ),
        (["--config", "missing.toml"], {}, "missing.toml: cannot read: No such file or directory"),
    ],
)
def test_check_config_exits_2_with_the_error_and_prints_nothing_else(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = CliRunner().invoke(app, ["check-config", *args], env=env)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"commaudit-collector: {message}")


def test_check_config_shows_no_plaintext_as_the_option_that_set_it() -> None:
    result = CliRunner().invoke(
        app, ["check-config", "--no-plaintext"], env={"COMMAUDIT_COLLECTOR_PLAINTEXT": "1"}
    )
    assert result.exit_code == 0, result.stderr
    assert re.search(r"^plaintext += false +# flag --no-plaintext$", result.stdout, re.MULTILINE)


def test_serve_takes_its_settings_from_the_file_with_options_on_top(tmp_path: Path) -> None:
    state, file_port, flag_port = tmp_path / "state", tmp_path / "file-port", tmp_path / "port"
    state.mkdir()
    file = _file(
        tmp_path,
        f'state_dir = "{state}"\nlisten = "127.0.0.1:0"\nplaintext = true\n'
        f'port_file = "{file_port}"\nlog_level = "warning"\npublish_interval_s = 0\n',
    )
    process = subprocess.Popen(
        [COLLECTOR, "serve", "--config", str(file), "--port-file", str(flag_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CLEAN_ENV,
    )  # fmt: skip
    try:
        port = wait_for(flag_port, process)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert (
        stdout
        == f"listening on 127.0.0.1:{port} (plaintext), database {state / 'commaudit.duckdb'}\n"
    )
    assert not file_port.exists()
    # log_level = "warning" from the file, in the writer process too.
    assert " INFO " not in stderr


def test_serve_takes_metrics_listen_and_log_format_from_the_file(tmp_path: Path) -> None:
    state, port_file, log = tmp_path / "state", tmp_path / "port", tmp_path / "stderr"
    state.mkdir()
    file = _file(
        tmp_path,
        f'state_dir = "{state}"\nlisten = "127.0.0.1:0"\nplaintext = true\n'
        f'port_file = "{port_file}"\npublish_interval_s = 0\nlog_format = "json"\n'
        'metrics_listen = "127.0.0.1:0"\n',
    )
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [COLLECTOR, "serve", "--config", str(file)],
            stdout=subprocess.DEVNULL, stderr=stderr, env=CLEAN_ENV,
        )  # fmt: skip
    try:
        wait_for(port_file, process)
        records = [json.loads(line) for line in log.read_text().splitlines() if line[:1] == "{"]
        said = [r["message"] for r in records if r["logger"] == "collector.server"]
        metrics = re.search(r"^metrics on 127\.0\.0\.1 port (\d+)", "\n".join(said), re.M)
        assert metrics, said
        metrics_port = int(metrics[1])
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            assert r.status == 200
            assert b"# TYPE" in r.read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    # Every line is JSON, the writer process's too (it logs as its parent does).
    records = [json.loads(line) for line in lines]
    assert any(r["logger"].startswith("collector.store") for r in records), lines


def test_serve_with_a_wrong_file_exits_2_before_opening_anything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    file = _file(tmp_path, f'state_dir = "{state}"\ncommit_window_ms = "fast"\n')
    result = subprocess.run(
        [COLLECTOR, "serve", "--config", str(file), "--plaintext"],
        capture_output=True, text=True, timeout=60, env=CLEAN_ENV,
    )  # fmt: skip
    assert result.returncode == 2
    reason = 'must be a number from 1 to 1000, not "fast"'
    assert result.stderr == f"commaudit-collector: {file}: commit_window_ms: {reason}\n"
    assert list(state.iterdir()) == []
