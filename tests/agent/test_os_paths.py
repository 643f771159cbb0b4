"""Each OS's default places, as the packaged service definitions use them (packaging/). The
paths are computed, not touched, so the macOS and Windows cases run here too; only Linux's
default settings file is also looked up on this machine."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

import pytest

from agent.config import AgentConfig
from agent.os_paths import default_config_file, default_state_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("os_name", "expected"),
    [
        ("linux", "/var/lib/commaudit-agent"),
        ("macos", "/Library/Application Support/commaudit/agent-state"),
        ("windows", r"D:\Data\commaudit\agent-state"),
    ],
)
def test_the_state_directory_is_where_each_service_definition_keeps_it(
    os_name: str, expected: str
) -> None:
    found = default_state_dir(os_name, {"ProgramData": r"D:\Data"})
    if os_name == "windows":
        assert PureWindowsPath(str(found)) == PureWindowsPath(expected)
    else:
        assert str(found) == expected
    # the service definitions pass the same places explicitly
    definitions = {
        "macos": REPO / "packaging/macos/com.commaudit.agent.plist",
        "windows": REPO / "packaging/windows/commaudit-agent-service.xml",
        "linux": REPO / "packaging/systemd/commaudit-agent.service",
    }
    text = definitions[os_name].read_text()
    assert (expected.replace(r"D:\Data", r"C:\ProgramData") in text) or (
        os_name == "linux" and "StateDirectory=commaudit-agent" in text
    )


def test_a_settings_file_is_used_only_where_it_exists(tmp_path: Path) -> None:
    assert default_config_file("windows", {"ProgramData": str(tmp_path)}) is None
    assert default_config_file("macos") is None  # no /Library here
    linux = default_config_file("linux")
    assert linux is None or linux == Path("/etc/commaudit/agent.toml")


def test_the_agents_default_state_directory_is_this_oss() -> None:
    assert AgentConfig().state_dir == default_state_dir()
