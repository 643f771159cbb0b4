"""The extension in Debian's Firefox ESR, headless, reporting through the real native host
(`commaudit-browser-host`, the installed console script) to the agent's real socket server
(agent/browser/agent_socket.py), run in this process with the real catalog's hosts.

Two ways in, as a device gets it: the built .xpi in the profile (the per-user native host
manifest under a HOME of the test's own), and the packaged Linux files laid over /etc,
/usr/share, /usr/lib and /opt in a mount namespace of the test, with the Firefox policy the
build writes for the organisation (the .xpi force-installed from file://, the host found in
/usr/lib/mozilla/native-messaging-hosts). Pages are served on 127.0.0.1 under their real
hostnames (the profile's `network.dns.forceResolve`: tests/firefox.py); nothing leaves the
machine.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.browser.agent_socket import BrowserSocket
from agent.browser.messages import BrowserConfig, Tab
from agent.browser.socket_path import SOCKET_ENV
from agent.browser.tab_state import BrowserTabs, TabUse
from agent.catalog import load_catalog
from tests.firefox import Firefox, firefox_argv, firefox_binary, firefox_environment, write_profile
from tests.loopback_pages import Served, serve_pages
from tests.packaging.conftest import build_script

BIN = Path(sys.executable).parent
GECKO_ID = "browser-extension@commaudit.org"
HOST_MANIFEST = "org.commaudit.agent.json"
deployment = build_script.deployment
ADDON_RIGHTS = """
const [id, done] = arguments;
const { AddonManager } = ChromeUtils.importESModule("resource://gre/modules/AddonManager.sys.mjs");
AddonManager.getAddonByID(id).then((addon) => done({
  active: addon.isActive,
  version: addon.version,
  can_disable: Boolean(addon.permissions & AddonManager.PERM_CAN_DISABLE),
  can_uninstall: Boolean(addon.permissions & AddonManager.PERM_CAN_UNINSTALL),
}));
"""

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the agent's browser socket is built for Linux"
)


@pytest.fixture
def pages() -> Iterator[Served]:
    with serve_pages() as served:
        yield served


class RecordedTabs(BrowserTabs):
    """The agent's tab state, keeping every tabs message it admitted and every hello's browser."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: list[tuple[Tab, ...]] = []
        self.browsers: list[str] = []

    def connect(self, connection: int, os_user: str, browser: str) -> None:
        self.browsers.append(browser)
        super().connect(connection, os_user, browser)

    def report(self, connection: int, tabs: Iterable[Tab], *, alive: bool = True) -> None:
        tabs = tuple(tabs)
        self.reports.append(tabs)
        super().report(connection, tabs, alive=alive)


@dataclass
class Agent:
    socket: BrowserSocket
    tabs: RecordedTabs

    def now(self) -> dict[str, bool]:
        """App id -> in use, of the tabs open now."""
        return {use.app_id: use.focused for use in self.tabs.current()}

    def uses(self) -> list[TabUse]:
        return self.tabs.current()


@pytest.fixture
def agent(browser_socket: Path) -> Iterator[Agent]:
    """The agent's socket server with the shipped catalog's hosts, collecting (an employer
    device), as the daemon runs it."""
    tabs = RecordedTabs()
    hosts = load_catalog().web_hosts()
    server = BrowserSocket(browser_socket, tabs, lambda: BrowserConfig(True, False, hosts))
    server.start()
    yield Agent(server, tabs)
    server.close()


def wait_for(what: str, ready: Callable[[], bool], browser: Firefox, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; firefox's log: {browser.output()}")
        time.sleep(0.05)


def host_processes(socket_path: Path) -> dict[int, list[str]]:
    """pid -> argv of the live native hosts this test's browser started (they, and only they,
    carry this test's socket in their environment)."""
    marker = f"{SOCKET_ENV}={socket_path}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
            environment = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and marker in environment and b"commaudit-browser-host" in b" ".join(argv):
            found[int(entry.name)] = [arg.decode() for arg in argv]
    return found


def test_catalog_tabs_reach_the_agent_as_firefox_and_end_with_the_browser(
    tmp_path: Path, agent: Agent, pages: Served, browser_socket: Path, os_user: str
) -> None:
    binary = firefox_binary()
    built = build_script.build_extension()
    unpacked = {"extensions.autoDisableScopes": 0, "xpinstall.signatures.required": False}
    profile = write_profile(tmp_path / "profile", **unpacked)
    # The packaged .xpi, dropped in the profile under its add-on id: Firefox installs it at
    # start (autoDisableScopes 0: enabled without asking; unsigned: Mozilla has not signed it).
    (profile / "extensions").mkdir()
    (profile / "extensions" / f"{built.gecko_id}.xpi").write_bytes(built.xpi)
    home = tmp_path / "home"
    hosts = home / ".mozilla" / "native-messaging-hosts"
    hosts.mkdir(parents=True)
    host = str(BIN / "commaudit-browser-host")
    manifest = hosts / HOST_MANIFEST
    manifest.write_text(json.dumps(deployment.firefox_host_manifest(built, host)))

    port = pages.port
    browser = Firefox(
        firefox_argv(binary, profile, f"http://mail.google.com:{port}/mail/u/0/?q=kq7-query"),
        profile,
        firefox_environment(home),
    )
    try:
        wait_for("the webmail tab", lambda: agent.now() == {"gmail": True}, browser)
        [use] = agent.uses()
        assert (use.browser, use.os_user, use.tabs) == ("firefox", os_user, 1)
        [started] = host_processes(browser_socket).values()
        # Firefox starts the manifest's path with the manifest and the add-on's id.
        assert started[1:] == [host, str(manifest), GECKO_ID]
        mail = browser.current()

        news = browser.open(f"http://www.bbc.co.uk:{port}/news/pz4-story")
        video = browser.open(f"http://www.youtube.com:{port}/watch?v=vz9-video")
        wait_for("the video tab, in front",
                 lambda: agent.now() == {"gmail": False, "youtube": True}, browser)  # fmt: skip
        assert "www.bbc.co.uk" in pages.hosts  # the news tab did load

        browser.activate(mail)
        wait_for("focus back on the webmail tab",
                 lambda: agent.now() == {"gmail": True, "youtube": False}, browser)  # fmt: skip

        browser.close(video)  # behind the webmail tab, which stays in front
        wait_for("the closed video tab to go", lambda: agent.now() == {"gmail": True}, browser)
        reports = len(agent.tabs.reports)
        browser.close(news)  # a tab outside the catalog: nothing to report
        time.sleep(0.5)
        assert agent.now() == {"gmail": True}
        assert len(agent.tabs.reports) == reports

        # Only catalog apps ever arrived: the news site not even as a name, nothing refused.
        assert {tab.app for report in agent.tabs.reports for tab in report} == {"gmail", "youtube"}
        assert agent.socket.refusals == 0
        assert agent.tabs.browsers == ["firefox"]

        # Killed, not closed: the main process alone, as a crash would. The host sees its
        # stdin close and exits; the agent's connection, and with it the tabs, ends.
        [host_pid] = host_processes(browser_socket)
        os.kill(browser.process.pid, signal.SIGKILL)
        browser.process.wait()
        wait_for("the host to exit", lambda: host_pid not in host_processes(browser_socket),
                 browser)  # fmt: skip
        wait_for("the tabs to end", lambda: agent.now() == {}, browser, timeout=5)
    finally:
        browser.stop()


def test_the_packaged_files_and_the_firefox_policy_install_it_system_wide(
    tmp_path: Path, agent: Agent, pages: Served, browser_socket: Path
) -> None:
    """The Linux files exactly as the agent's package installs them, and the policy the build
    writes for the organisation's /etc/firefox/policies/policies.json, laid over /etc,
    /usr/share, /usr/lib and /opt in a mount namespace of this test only (overlayfs). The
    profile holds nothing of the extension: the policy installs the unsigned .xpi from
    file://, and Firefox finds the host in /usr/lib/mozilla/native-messaging-hosts."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to lay the package's files over / in a namespace")
    binary = firefox_binary()
    built = build_script.build_extension()
    upper = tmp_path / "upper"
    build_script.write_files(deployment.linux_files(built), upper)
    policy = deployment.other_platform_files(built, "https://unused.example/")
    build_script.write_files(
        {deployment.FIREFOX_POLICIES: policy["linux/firefox-policies.json"]}, upper
    )
    # The package's host path, a stand-in that runs this checkout's installed console script.
    packaged_host = upper / deployment.HOST_PATH.lstrip("/")
    packaged_host.parent.mkdir(parents=True)
    packaged_host.write_text(f'#!/bin/sh\nexec {BIN / "commaudit-browser-host"} "$@"\n')
    packaged_host.chmod(0o755)
    mounts = " && ".join(
        f"mkdir -p {upper}/{d} {tmp_path}/overlay-scratch/{d} && mount -t overlay overlay "
        f"-o lowerdir=/{d},upperdir={upper}/{d},workdir={tmp_path}/overlay-scratch/{d} /{d}"
        for d in ("etc", "usr/share", "usr/lib", "opt")
    )
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"{mounts} && true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"overlay mounts are not possible here: {probe.stderr.decode()[-300:]}")
    profile = write_profile(tmp_path / "profile")
    argv = firefox_argv(
        binary, profile, f"http://mail.google.com:{pages.port}/", "--remote-allow-system-access"
    )
    script = f"{mounts} && exec {' '.join(shlex.quote(a) for a in argv)}"
    browser = Firefox(
        ["unshare", "-m", "sh", "-c", script], profile, firefox_environment(tmp_path / "home")
    )
    try:
        wait_for("the policy-installed extension's report",
                 lambda: agent.now() == {"gmail": True}, browser, timeout=25)  # fmt: skip
        [started] = host_processes(browser_socket).values()
        system_manifest = f"{deployment.FIREFOX_HOSTS}/{HOST_MANIFEST}"
        assert started[-2:] == [system_manifest, GECKO_ID]
        assert agent.tabs.browsers == ["firefox"]
        # The user can neither disable nor remove it: the policy says so, not the profile.
        assert browser.chrome_script(ADDON_RIGHTS, GECKO_ID) == {
            "active": True,
            "version": built.version,
            "can_disable": False,
            "can_uninstall": False,
        }
    finally:
        browser.stop()
