"""The settings of watching: install_dirs (a list, or os.pathsep-separated in the environment)
and watch (a boolean spelt as people spell them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.config import ConfigError, load_config, load_effective


def test_install_dirs_come_from_a_toml_list_or_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "agent.toml"
    file.write_text('install_dirs = ["/opt", "/home/*/Applications"]\n')
    assert load_config(file, {}, {}).install_dirs == ("/opt", "/home/*/Applications")
    env = {"COMMAUDIT_AGENT_INSTALL_DIRS": os.pathsep.join(["/usr/bin", "~/Applications"])}
    assert load_config(file, env, {}).install_dirs == (
        "/usr/bin",
        os.path.expanduser("~/Applications"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('install_dirs = ["apps"]\n', "install_dirs: 'apps' is not an absolute path"),
        ('install_dirs = "/opt"\n', None),  # one path as a string is a list of one
        ("install_dirs = [1]\n", "install_dirs: [1] is not a list of paths"),
        ('watch = "maybe"\n', "watch: 'maybe' is not a valid bool"),
    ],
)
def test_bad_watching_settings_are_refused_naming_the_file(
    tmp_path: Path, text: str, message: str | None
) -> None:
    file = tmp_path / "agent.toml"
    file.write_text(text)
    if message is None:
        assert load_config(file, {}, {}).install_dirs == ("/opt",)
        return
    with pytest.raises(ConfigError) as caught:
        load_config(file, {}, {})
    assert str(caught.value) == f"{file}: {message}"


@pytest.mark.parametrize(("spelt", "value"), [("off", False), ("no", False), ("1", True)])
def test_watch_takes_the_usual_spellings_of_a_boolean(spelt: str, value: bool) -> None:
    assert load_config(None, {"COMMAUDIT_AGENT_WATCH": spelt}, {}).watch is value


def test_check_config_shows_install_dirs_as_a_toml_array(tmp_path: Path) -> None:
    file = tmp_path / "agent.toml"
    file.write_text('install_dirs = ["/opt", "/usr/bin"]\n')
    lines = load_effective(file, {}, {}).describe().splitlines()
    [line] = [line for line in lines if line.startswith("install_dirs")]
    assert line.split("#")[0].split("=", 1)[1].strip() == '["/opt", "/usr/bin"]'
