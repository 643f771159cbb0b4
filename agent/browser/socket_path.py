"""Where the agent listens for the browsers' native hosts, on each OS.

Linux: /run/commaudit-agent/browser.sock, in the agent's systemd RuntimeDirectory (0755: every
user's browser must reach the socket, which is 0666; who connects comes from the socket's peer
credentials, never from a message). macOS: /var/run/commaudit-agent/browser.sock, made by the
launchd service the same way (not built here). Windows would use the named pipe
WINDOWS_PIPE, created by the service with a security descriptor letting Authenticated Users
connect, the caller's identity read with GetNamedPipeClientProcessId and the client's token
(ImpersonateNamedPipeClient); not built here, as nothing on this side runs Windows.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

SOCKET_ENV = "COMMAUDIT_BROWSER_SOCKET"
"""Overrides the path for the host and the agent alike (tests, a second agent on one device)."""
WINDOWS_PIPE = r"\\.\pipe\commaudit-agent-browser"
LINUX_SOCKET = Path("/run/commaudit-agent/browser.sock")
MACOS_SOCKET = Path("/var/run/commaudit-agent/browser.sock")


def browser_socket_path(environ: Mapping[str, str] = os.environ) -> Path:
    """COMMAUDIT_BROWSER_SOCKET when set, else this OS's default."""
    configured = environ.get(SOCKET_ENV)
    if configured:
        return Path(configured)
    return default_socket_path(sys.platform)


def default_socket_path(platform: str) -> Path:
    if platform.startswith("win"):
        raise OSError(
            f"the browser connection on Windows is the named pipe {WINDOWS_PIPE} (not built)"
        )
    return MACOS_SOCKET if platform == "darwin" else LINUX_SOCKET
