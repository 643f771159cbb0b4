"""The macOS and Windows service definitions, as far as this Linux machine can check them: they
parse, keep the agent alive, and give it a command line the agent itself accepts. Whether
launchd and WinSW run them is not tested here (packaging/README.md)."""

from __future__ import annotations

import plistlib
import shlex
import xml.etree.ElementTree as ET

from agent.cli import build_parser
from tests.packaging.conftest import REPO


def test_launchd_plist_starts_the_agent_at_boot_and_keeps_it_alive() -> None:
    with (REPO / "packaging/macos/com.commaudit.agent.plist").open("rb") as file:
        plist = plistlib.load(file)
    assert plist["Label"] == "com.commaudit.agent"
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] is True
    program, *args = plist["ProgramArguments"]
    assert program == "/opt/commaudit/venv/bin/commaudit-agent"
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run"
    assert str(parsed.config) == "/Library/Application Support/commaudit/agent.toml"
    assert str(parsed.state_dir) == "/Library/Application Support/commaudit/agent-state"


def test_winsw_service_runs_the_agent_with_arguments_it_accepts() -> None:
    service = ET.parse(REPO / "packaging/windows/commaudit-agent-service.xml").getroot()
    assert service.findtext("id") == "commaudit-agent"
    assert service.findtext("startmode") == "Automatic"
    assert service.findtext("executable", "").endswith(r"\venv\Scripts\commaudit-agent.exe")
    parsed = build_parser().parse_args(shlex.split(service.findtext("arguments", "")))
    assert parsed.command == "run"
    assert str(parsed.config) == r"C:\ProgramData\commaudit\agent.toml"
    assert str(parsed.state_dir) == r"C:\ProgramData\commaudit\agent-state"
    assert [e.get("action") for e in service.iter("onfailure")] == ["restart"] * 3
