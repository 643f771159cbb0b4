"""The catalog tabs open now, per browser connection, as the daemon reads them each scan.

Each connection's latest tabs message is the whole set of its catalog tabs, so it replaces the
previous one. A connection that closes (browser exited or killed, host died) takes its tabs with
it at once; one silent for more than SILENT_AFTER_S (2.5 keepalives) counts as gone, so that a
stuck browser cannot keep a session open forever (issue 9: sessions end within one heartbeat).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.browser.messages import Tab

SILENT_AFTER_S = 150.0


@dataclass(frozen=True)
class TabUse:
    app_id: str
    os_user: str
    browser: str
    """chromium, chrome, edge or firefox."""
    tabs: int
    """Open catalog tabs of this app in this browser, over the user's connections."""
    focused: bool
    """One of them is the active tab of a focused window: in use, not just open."""
    audible: bool


@dataclass
class _Connection:
    os_user: str
    browser: str
    tabs: tuple[Tab, ...]
    last_seen: float


class BrowserTabs:
    """Thread-safe: the socket's thread writes, the daemon's scan reads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._connections: dict[int, _Connection] = {}

    def connect(self, connection: int, os_user: str, browser: str) -> None:
        """A connection said hello; it has no tabs until its first tabs message."""
        with self._lock:
            self._connections[connection] = _Connection(os_user, browser, (), self._clock())

    def report(self, connection: int, tabs: Iterable[Tab], *, alive: bool = True) -> None:
        """The connection's whole set of tabs now. alive=False: a revision by the agent (a new
        config filtering old tabs), which is no sign of life from the browser."""
        with self._lock:
            found = self._connections.get(connection)
            if found is None:
                return
            found.tabs = tuple(tabs)
            if alive:
                found.last_seen = self._clock()

    def seen(self, connection: int) -> None:
        """A keepalive: the tabs last reported are still open."""
        with self._lock:
            found = self._connections.get(connection)
            if found is not None:
                found.last_seen = self._clock()

    def disconnect(self, connection: int) -> None:
        with self._lock:
            self._connections.pop(connection, None)

    def current(self) -> list[TabUse]:
        """Live connections' tabs, one TabUse per (app, os_user, browser), sorted."""
        oldest = self._clock() - SILENT_AFTER_S
        uses: dict[tuple[str, str, str], TabUse] = {}
        with self._lock:
            live = [c for c in self._connections.values() if c.last_seen >= oldest]
            for connection in live:
                for tab in connection.tabs:
                    key = (tab.app, connection.os_user, connection.browser)
                    uses[key] = _add(uses.get(key), key, tab)
        return [uses[key] for key in sorted(uses)]


def _add(use: TabUse | None, key: tuple[str, str, str], tab: Tab) -> TabUse:
    app_id, os_user, browser = key
    if use is None:
        return TabUse(app_id, os_user, browser, 1, tab.focused, tab.audible)
    return TabUse(
        app_id,
        os_user,
        browser,
        use.tabs + 1,
        use.focused or tab.focused,
        use.audible or tab.audible,
    )
