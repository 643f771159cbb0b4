"""Headless Firefox ESR for the browser extension's tests: a profile that keeps every request on
this machine, and Marionette, Firefox's own remote protocol, to open, focus and close tabs.

Firefox is found on PATH (`firefox-esr`, then `firefox`); on a bare Debian host run as root,
Debian's `firefox-esr` is installed once, otherwise the test is skipped with the reason.

Loopback only: Firefox has no `--host-resolver-rules`, so the profile sets
`network.dns.forceResolve`, which answers every name lookup with 127.0.0.1 while URLs keep their
real hostnames. It covers Firefox's own background requests too (telemetry, remote settings,
safe browsing), which then find nothing listening; a proxy (`network.proxy.*`) would send only
proxied requests to loopback and leave the rest to the real DNS. DNS over HTTPS is off, and the
HSTS preload list and HTTPS-First are off so that http://mail.google.com:<port>/ stays plain
HTTP to the test's server.

Marionette rather than WebDriver BiDi or the DevTools protocol: it is a plain TCP protocol of
length-prefixed JSON (`<length>:[0, id, command, params]`), so the standard library suffices,
and with `marionette.port` 0 Firefox picks a free port and writes it to the profile's
MarionetteActivePort file.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.debian_browser import find_or_install

NAMES = ("firefox-esr", "firefox")
PACKAGE = "firefox-esr"
START_TIMEOUT = 30.0

LOOPBACK_PREFS: dict[str, str | int | bool] = {
    "network.dns.forceResolve": "127.0.0.1",
    "network.trr.mode": 5,  # DNS over HTTPS off, by choice
    "network.stricttransportsecurity.preloadlist": False,
    "dom.security.https_first": False,
    "dom.security.https_first_schemeless": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "app.normandy.enabled": False,
    "extensions.update.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "marionette.port": 0,
}
"""Every test profile's prefs: nothing leaves the machine, no first-run pages."""

_outcome: Path | str | None = None
"""The binary, or why there is none: looked up (and installed) once per test session."""


def firefox_binary() -> Path:
    """Firefox's path; installs Debian's firefox-esr once when possible, else skips the test."""
    global _outcome
    if _outcome is None:
        _outcome = find_or_install(NAMES, PACKAGE)
    if isinstance(_outcome, str):
        pytest.skip(_outcome)
    return _outcome


def write_profile(profile: Path, **extra: str | int | bool) -> Path:
    """A new profile directory whose user.js holds the loopback prefs and `extra`."""
    profile.mkdir(parents=True, exist_ok=True)
    prefs = {**LOOPBACK_PREFS, **extra}
    lines = (
        f"user_pref({json.dumps(name)}, {json.dumps(value)});\n" for name, value in prefs.items()
    )
    (profile / "user.js").write_text("".join(lines))
    return profile


def firefox_argv(binary: Path, profile: Path, first_page: str, *flags: str) -> list[str]:
    """`--remote-allow-system-access` among the flags lets Marionette run chrome scripts."""
    return [
        str(binary),
        "--headless",
        "--no-remote",  # never hand the URL to another running Firefox
        "--marionette",
        *flags,
        "--profile",
        str(profile),
        first_page,
    ]


def firefox_environment(home: Path) -> dict[str, str]:
    """This process's environment with a HOME of the test's own: Firefox looks for per-user
    native messaging hosts in ~/.mozilla/native-messaging-hosts, and must find no real ones."""
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "HOME": str(home), "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1"}


class MarionetteError(RuntimeError):
    """A command Firefox answered with an error."""


class Marionette:
    """One Marionette session: commands in order, each waiting for its answer."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self._buffer = b""
        self._ids = itertools.count(1)
        self._packet()  # the server's greeting: {"applicationType": "gecko", ...}
        self.command("WebDriver:NewSession", {"capabilities": {}})

    def command(self, name: str, params: dict[str, Any] | None = None) -> Any:
        number = next(self._ids)
        body = json.dumps([0, number, name, params or {}]).encode()
        self._sock.sendall(b"%d:%s" % (len(body), body))
        while True:
            reply = self._packet()
            if isinstance(reply, list) and reply[:2] == [1, number]:
                break
        error, result = reply[2], reply[3]
        if error:
            raise MarionetteError(f"{name}: {error.get('error')}: {error.get('message')}")
        return result

    def close(self) -> None:
        self._sock.close()

    def _packet(self) -> Any:
        while b":" not in self._buffer:
            self._receive()
        size, _, rest = self._buffer.partition(b":")
        length = int(size)
        while len(rest) < length:
            self._receive()
            rest = self._buffer.partition(b":")[2]
        self._buffer = rest[length:]
        return json.loads(rest[:length])

    def _receive(self) -> None:
        data = self._sock.recv(65536)
        if not data:
            raise MarionetteError("Firefox closed the Marionette connection")
        self._buffer += data


class Firefox:
    """A headless Firefox in its own process group, driven through Marionette."""

    def __init__(self, argv: list[str], profile: Path, environment: dict[str, str]) -> None:
        self.profile = profile
        self.log = profile.parent / f"{profile.name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True
            )
        self._marionette: Marionette | None = None

    @property
    def marionette(self) -> Marionette:
        if self._marionette is None:
            self._marionette = Marionette(self._port())
        return self._marionette

    def _port(self) -> int:
        port_file = self.profile / "MarionetteActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"firefox opened no Marionette port; its log: {self.output()}")
            time.sleep(0.05)
        return int(port_file.read_text().split()[0])

    def current(self) -> str:
        """The handle of the tab commands go to (at first, the tab of the first page)."""
        return str(self.marionette.command("WebDriver:GetWindowHandle")["value"])

    def open(self, url: str) -> str:
        """A new tab in front, loaded; returns its handle."""
        made = self.marionette.command("WebDriver:NewWindow", {"type": "tab", "focus": True})
        handle = str(made["handle"])
        self.activate(handle)
        self.marionette.command("WebDriver:Navigate", {"url": url})
        return handle

    def activate(self, handle: str) -> None:
        """Bring the tab to the front of its window, as a click on it would."""
        self.marionette.command("WebDriver:SwitchToWindow", {"handle": handle, "focus": True})

    def close(self, handle: str) -> None:
        """Close the tab; the tab in front stays there unless it is this one."""
        self.marionette.command("WebDriver:SwitchToWindow", {"handle": handle, "focus": False})
        self.marionette.command("WebDriver:CloseWindow")

    def chrome_script(self, script: str, *args: Any) -> Any:
        """An async script in the browser's own (chrome) context, which can ask the add-on
        manager what the user may do; it ends by calling its last argument with the result.
        Needs `--remote-allow-system-access`."""
        self.marionette.command("Marionette:SetContext", {"value": "chrome"})
        try:
            done = self.marionette.command(
                "WebDriver:ExecuteAsyncScript", {"script": script, "args": list(args)}
            )
        finally:
            self.marionette.command("Marionette:SetContext", {"value": "content"})
        return done["value"]

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGTERM to the group, then SIGKILL to whatever is left of it: Firefox shuts down
        cleanly, and nothing of the browser outlives the test."""
        if self._marionette is not None:
            self._marionette.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
