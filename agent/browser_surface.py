"""The daemon's side of the browser surface (issue 9): the socket the browsers' native hosts
report to, the config they are given, and the tabs each scan adds to the sessions.

What the extension may report is decided here, once per catalog: on an employer's device (City
4.01.06 §3.1) the hostnames of the catalog in use; on a personal one (§3.2) nothing at all, so
the config says `collect: false` with no hostname, and no tab is ever read. The socket still
listens there, so that the extension learns to stay idle instead of reconnecting for ever.

The socket needs the kernel to say who connects (agent/browser/peer.py: SO_PEERCRED, Linux). A
device without it, or an agent that cannot bind the socket (not root, another agent there),
runs on without browsers and says why in its start event and its status.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from agent.browser.agent_socket import BrowserSocket
from agent.browser.messages import BrowserConfig
from agent.browser.socket_path import browser_socket_path
from agent.browser.tab_state import BrowserTabs, TabUse
from agent.catalog import Catalog
from agent.privacy_profile import Profile
from agent.scan import SessionKey
from agent.status_file import BrowserStatus, TabApp
from agent.tracker import OpenTabs

log = logging.getLogger(__name__)

PERSONAL = "not collected: this is a personal device (City 4.01.06 §3.2, Library CS3.3.2)"


class BrowserSurface:
    """The browser socket and the tab state behind it, for one daemon."""

    def __init__(
        self,
        catalog: Catalog,
        profile: Profile,
        *,
        report_incognito: bool = False,
        path: Path | None = None,
    ) -> None:
        """catalog: the one the scanner uses (the profile's). path: where to listen; None:
        browser_socket_path() at start (COMMAUDIT_BROWSER_SOCKET, else this OS's place)."""
        self.tabs = BrowserTabs()
        self.path = path
        self.collect = not profile.personal
        self.report_incognito = report_incognito
        self._config = self._config_for(catalog)
        self._socket: BrowserSocket | None = None
        self._seen: tuple[TabUse, ...] = ()
        self.problem = "" if self.collect else PERSONAL
        """Why no tab is heard, in words for the device's user; empty while tabs are."""

    def config(self) -> BrowserConfig:
        """What the extension may report now; called by the socket's thread for each message,
        so it is built once per change and handed out frozen."""
        return self._config

    def start(self) -> str:
        """Listen for the browsers' hosts; returns what went wrong, empty when nothing did."""
        if not hasattr(socket, "SO_PEERCRED"):
            return self._fail("not collected: this OS does not tell the agent who connects")
        try:
            path = self.path or browser_socket_path()
        except OSError as error:  # an OS with no socket path (Windows: a named pipe, not built)
            return self._fail(f"not collected: {error}")
        listening = BrowserSocket(path, self.tabs, self.config)
        try:
            listening.start()
        except OSError as error:
            listening.close()  # its wake-up pair, made before it could listen
            return self._fail(f"not collected: cannot listen for the browsers ({error})")
        self._socket = listening
        log.info("listening for browsers at %s", path)
        return ""

    def set_catalog(self, catalog: Catalog) -> None:
        """A new catalog in use: its hostnames go to every connected browser at once."""
        config = self._config_for(catalog)
        if config != self._config:
            self._config = config
            if self._socket is not None:
                self._socket.push_config()

    def set_report_incognito(self, report: bool) -> None:
        """The organisation changed its mind on private windows (a live setting): every
        connected browser is told at once, and the agent filters by the new rule from now on."""
        if report != self.report_incognito:
            self.report_incognito = report
            self._config = BrowserConfig(self.collect, report, self._config.hosts)
            if self._socket is not None:
                self._socket.push_config()

    def open_tabs(self, catalog: Catalog) -> dict[SessionKey, OpenTabs]:
        """The catalog tabs open now, by (app id, OS user), for the tracker. An app the catalog
        in use lacks (it changed since the tab was reported) is left out."""
        if not self.collect:
            return {}
        self._seen = tuple(self.tabs.current())
        found: dict[SessionKey, OpenTabs] = {}
        for use in self._seen:
            app = catalog.by_id.get(use.app_id)
            if app is None:
                continue
            key = (use.app_id, use.os_user)
            before = found.get(key)
            browsers = before.browsers | {use.browser} if before else frozenset({use.browser})
            focused = use.focused or (before is not None and before.focused)
            found[key] = OpenTabs(app, browsers, focused)
        return found

    def status(self, catalog: Catalog) -> BrowserStatus:
        """What the latest scan saw, for status.json: apps and browsers, never a user or a
        hostname (every user of the device may read it)."""
        apps: dict[tuple[str, str], TabApp] = {}
        for use in self._seen:
            key = (use.app_id, use.browser)
            before = apps.get(key)
            app = catalog.by_id.get(use.app_id)
            apps[key] = TabApp(
                use.app_id,
                app.category if app is not None else "",
                use.browser,
                use.tabs + (before.tabs if before else 0),
                use.focused or (before is not None and before.focused),
            )
        return BrowserStatus(self.collect and not self.problem, self.problem, tuple(apps.values()))

    def close(self) -> None:
        """Stop listening; every connection closes and its tabs go with it."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._seen = ()

    def _config_for(self, catalog: Catalog) -> BrowserConfig:
        hosts = catalog.web_hosts() if self.collect else ()
        return BrowserConfig(self.collect, self.report_incognito, hosts)

    def _fail(self, problem: str) -> str:
        if not self.collect:
            return ""  # nothing to collect here anyway; the status says why
        log.warning("browser tabs %s", problem)
        self.problem = problem
        return f"browser tabs {problem}"


__all__ = ["PERSONAL", "BrowserSurface"]
