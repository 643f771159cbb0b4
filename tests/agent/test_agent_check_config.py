"""`commaudit-agent check-config`, and the packaged agent.toml held to the settings there are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from agent.cli import main
from agent.config import AgentConfig, ConfigError, load_config, load_effective
from agent.layered_settings import Origin

AGENT = str(Path(sys.executable).parent / "commaudit-agent")
EXAMPLE = Path(__file__).parents[2] / "packaging" / "config" / "agent.toml"
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("COMMAUDIT_AGENT_")}


def documented(example: Path) -> dict[str, str]:
    """Each documented setting -> the TOML text of its commented-out default."""
    return dict(re.findall(r"^# ([a-z_]+) = (.+)$", example.read_text(), re.MULTILINE))


def rows(output: str) -> dict[str, tuple[str, str]]:
    return {
        match["key"]: (match["value"], match["source"])
        for match in re.finditer(
            r"^(?P<key>\w+) += (?P<value>.+?) +# (?P<source>.+)$", output, re.MULTILINE
        )
    }


def test_check_config_prints_each_setting_with_its_source(tmp_path: Path) -> None:
    file = tmp_path / "agent.toml"
    file.write_text('collector = "collector.city.example:50051"\nbatch_max_events = 200\n')
    env = {**CLEAN_ENV, "COMMAUDIT_AGENT_SPOOL_MAX_BYTES": "1048576"}
    result = subprocess.run(
        [AGENT, "check-config", "--config", str(file), "--scan-interval", "5",
         "--state-dir", "/srv/agent"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout) == {
        "collector": ('"collector.city.example:50051"', f"file {file}"),
        "state_dir": ('"/srv/agent"', "flag --state-dir"),
        "catalog": ('""', "default"),
        "scan_interval_s": ("5.0", "flag --scan-interval"),
        "heartbeat_interval_s": ("60.0", "default"),
        "batch_max_events": ("200", f"file {file}"),
        "batch_max_delay_s": ("1.0", "default"),
        "spool_max_bytes": ("1048576", "env COMMAUDIT_AGENT_SPOOL_MAX_BYTES"),
        "flush_timeout_s": ("5.0", "default"),
        "install_dirs": ("[]", "default"),
        "watch": ("true", "default"),
        "config_poll_interval_s": ("300.0", "default"),
        "browser_incognito": ("false", "default"),
    }
    assert len(result.stdout.splitlines()) == 13


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("scan_intervall_s = 2\n", {}, "{file}: scan_intervall_s: unknown setting (did you mean"
         " scan_interval_s?)"),
        ('scan_interval_s = "often"\n', {}, "{file}: scan_interval_s: 'often' is not a valid"),
        ("", {"COMMAUDIT_AGENT_BATCH_MAX_EVENTS": "5000"},
         "COMMAUDIT_AGENT_BATCH_MAX_EVENTS: must be between 1 and 1000 (the collector's limit)"),
        ("batch_max_events = [\n", {}, "{file}: not valid TOML: "),
    ],
)  # fmt: skip
def test_check_config_exits_2_naming_where_the_wrong_setting_is(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    env: dict[str, str],
    message: str,
) -> None:
    file = tmp_path / "agent.toml"
    file.write_text(text)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", "--config", str(file)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("commaudit-agent: " + message.format(file=file))


def test_a_missing_file_is_refused_by_check_config(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = subprocess.run(
        [AGENT, "check-config", "--config", str(missing)],
        capture_output=True, text=True, timeout=60, env=CLEAN_ENV,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"commaudit-agent: {missing}: cannot read: No such file or directory\n"


def test_the_packaged_example_documents_every_setting_at_its_default(tmp_path: Path) -> None:
    assert list(documented(EXAMPLE)) == [f.name for f in fields(AgentConfig)]
    assert load_effective(EXAMPLE, {}, {}).origins == {
        key: Origin("default") for key in documented(EXAMPLE)
    }
    for key, default_text in documented(EXAMPLE).items():
        uncommented = tmp_path / f"{key}.toml"
        uncommented.write_text(f"{key} = {default_text}\n")
        assert getattr(load_config(uncommented, {}, {}), key) == getattr(AgentConfig(), key), key


def test_an_empty_catalog_means_the_packaged_one() -> None:
    assert load_config(None, {"COMMAUDIT_AGENT_CATALOG": ""}, {}).catalog is None


def test_a_wrong_option_is_named_as_typed_on_the_command_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {}, {"heartbeat_interval_s": 0})
    assert str(caught.value) == "--heartbeat-interval: must be greater than 0, got 0.0"
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"COMMAUDIT_AGENT_COLLECTOR": "a:1"}, {"collector": "x"})
    assert str(caught.value) == "--collector: 'x' is not HOST:PORT"
