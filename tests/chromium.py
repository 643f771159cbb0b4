"""Headless Chromium for tests that look at rendered HTML (the weekly summary email) and for the
browser extension's tests (a browser with DevTools, the id Chromium gives an unpacked extension).

Why a real browser: whether an email's inline images show is decided by a renderer, not by the
MIME tree; a test that only parses the message cannot see a chart that fails to decode. Chromium
is found on PATH; on a bare Debian host run as root it is installed once from the distribution
(the `chromium` package), otherwise the test is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.debian_browser import find_or_install

NAMES = ("chromium", "chromium-browser", "google-chrome")
RUN_TIMEOUT = 60.0

_outcome: Path | str | None = None
"""The binary, or why there is none: looked up (and installed) once per test session."""


def chromium_binary() -> Path:
    """Chromium's path; installs it once when possible, else skips the calling test."""
    global _outcome
    if _outcome is None:
        _outcome = find_or_install(NAMES, "chromium")
    if isinstance(_outcome, str):
        pytest.skip(_outcome)
    return _outcome


def headless(page: Path, *flags: str, window: tuple[int, int] = (800, 2400), scale: int = 1) -> str:
    """Open a local page in a fresh headless profile with extra flags; returns stdout.

    --no-sandbox: Chromium refuses to start as root with its sandbox. A profile of its own per
    run, so that runs never share state or a profile lock.
    """
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(
            [
                str(chromium_binary()),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--mute-audio",
                f"--user-data-dir={profile}",
                f"--window-size={window[0]},{window[1]}",
                f"--force-device-scale-factor={scale}",
                *flags,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def screenshot(
    page: Path, out: Path, *, window: tuple[int, int] = (800, 2400), scale: int = 1
) -> Path:
    """A PNG of the page as shown in a window of that size (CSS px) at that device scale."""
    headless(page, f"--screenshot={out}", window=window, scale=scale)
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {out}")
    return out


def dump_dom(page: Path, *, window: tuple[int, int] = (800, 2400), scale: int = 1) -> str:
    """The page's DOM as serialised after its load event (scripts on load have run)."""
    return headless(page, "--dump-dom", window=window, scale=scale)


class Browser:
    """A headless Chromium with DevTools on a port of its choosing, in its own process group."""

    def __init__(self, argv: list[str], profile: Path) -> None:
        self.profile = profile
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def devtools(self, path: str, method: str = "GET") -> Any:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body.startswith((b"{", b"[")) else body

    def open(self, url: str) -> str:
        return str(self.devtools(f"/json/new?{url}", method="PUT")["id"])

    def close(self, target: str) -> None:
        self.devtools(f"/json/close/{target}")

    def workers(self) -> list[str]:
        return [t["url"] for t in self.devtools("/json/list") if t["type"] == "service_worker"]

    def stop(self) -> None:
        """SIGTERM to the group: Chromium shuts down and writes its preferences."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def chromium_argv(binary: Path, profile: Path, first_page: str, *flags: str) -> list[str]:
    """Flags may replace the DevTools port, which keeps the browser running until stopped."""
    devtools = [] if "--dump-dom" in flags else ["--remote-debugging-port=0"]
    return [
        str(binary),
        "--headless",
        "--no-sandbox",  # Chromium refuses to start as root with its sandbox
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *devtools,
        "--host-resolver-rules=MAP * 127.0.0.1",
        *flags,
        first_page,
    ]


def unpacked_id(path: Path) -> str:
    """Chromium's ID of an unpacked extension without a "key": the hash of its absolute path
    (extensions/common/id_util.cc GenerateIdForPath), mapped to a-p like a key's."""
    digest = hashlib.sha256(str(path).encode()).digest()[:16]
    return "".join(chr(ord("a") + int(digit, 16)) for digit in digest.hex())
