"""Where the agent keeps its state and looks for its settings, on each OS.

The service definitions pass both explicitly (packaging/); these defaults serve everything run
by hand on the device: `commaudit-agent status`, `scan --once`, `check-config`, `enroll`. They
are the places those definitions use, so a command typed without options finds the service's
files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePath, PureWindowsPath

from agent.catalog import current_os


def _program_data(environ: Mapping[str, str]) -> PureWindowsPath:
    return PureWindowsPath(environ.get("ProgramData", r"C:\ProgramData")) / "commaudit"


def default_state_dir(os_name: str | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """The enrollment, spool and status file: Linux /var/lib/commaudit-agent (systemd's
    StateDirectory), macOS /Library/Application Support/commaudit/agent-state, Windows
    %ProgramData%\\commaudit\\agent-state."""
    return Path(_state_dir(os_name or current_os(), environ))


def default_config_file(
    os_name: str | None = None, environ: Mapping[str, str] = os.environ
) -> Path | None:
    """The settings file the service reads, when it exists on this device: Linux
    /etc/commaudit/agent.toml, macOS /Library/Application Support/commaudit/agent.toml,
    Windows %ProgramData%\\commaudit\\agent.toml."""
    path = Path(_config_file(os_name or current_os(), environ))
    return path if path.is_file() else None


def _state_dir(os_name: str, environ: Mapping[str, str]) -> PurePath:
    if os_name == "windows":
        return _program_data(environ) / "agent-state"
    if os_name == "macos":
        return PurePath("/Library/Application Support/commaudit/agent-state")
    return PurePath("/var/lib/commaudit-agent")


def _config_file(os_name: str, environ: Mapping[str, str]) -> PurePath:
    if os_name == "windows":
        return _program_data(environ) / "agent.toml"
    if os_name == "macos":
        return PurePath("/Library/Application Support/commaudit/agent.toml")
    return PurePath("/etc/commaudit/agent.toml")
