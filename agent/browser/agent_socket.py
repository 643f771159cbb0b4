"""The agent's end of the browser connection: a Unix socket the browsers' native hosts connect
to, served by one thread with selectors.

The socket is 0666 (every user's browser must reach it), so anything local may connect and
send anything: the user of a connection comes from SO_PEERCRED alone, every message is parsed
strictly, and the first bad one is answered with `refused` and the connection closed. Each
refusal is logged with its reason and the peer's uid and pid, and counted (`refusals`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.browser.framing import (
    FROM_EXTENSION_LIMIT,
    TO_EXTENSION_LIMIT,
    FrameDecoder,
    FramingError,
    JsonObject,
    encode_frame,
)
from agent.browser.messages import (
    BrowserConfig,
    Hello,
    Keepalive,
    MessageError,
    Refused,
    Tab,
    encode,
    parse_from_extension,
)
from agent.browser.peer import Peer, peer_of
from agent.browser.tab_state import BrowserTabs

__all__ = ["BrowserConfig", "BrowserSocket"]

log = logging.getLogger(__name__)

MAX_CONNECTIONS_PER_USER = 16
"""A browser holds one connection per profile; more from one uid is a runaway or an attack on
the others' service, refused so that one user cannot exhaust the agent's descriptors."""
_MAX_PENDING = 4 * TO_EXTENSION_LIMIT
"""Bytes queued for a host that does not read: past this it is dropped, not buffered."""
_CLOSE_GRACE_S = 1.0
"""How long a refused connection has to take its `refused` message before it is closed."""


@dataclass(eq=False)
class _Connection:
    number: int
    sock: socket.socket
    peer: Peer
    decoder: FrameDecoder = field(default_factory=lambda: FrameDecoder(FROM_EXTENSION_LIMIT))
    out: bytearray = field(default_factory=bytearray)
    hello: Hello | None = None
    reported: tuple[Tab, ...] = ()
    """The tabs as the browser last sent them, before this config's filter."""
    closing_at: float | None = None
    """Set once refused: close when `out` is sent or at this monotonic time."""


class BrowserSocket:
    def __init__(self, path: Path, tabs: BrowserTabs, config: Callable[[], BrowserConfig]) -> None:
        """`config`: the current config (privacy profile and catalog hosts), asked for at each
        hello and each message, so that a change reaches new messages at once."""
        self.path = path
        self._tabs = tabs
        self._config = config
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._connections: dict[int, _Connection] = {}
        self._numbers = iter(range(1, 1 << 62))
        self._push = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="browser-socket", daemon=True)
        self._listener: socket.socket | None = None
        self._bound: tuple[int, int] | None = None  # (st_dev, st_ino) of the socket file we made
        self.refusals = 0
        """Connections refused so far (the socket's thread alone writes it)."""

    def start(self) -> None:
        self._listener = _listen(self.path)
        bound = os.lstat(self.path)
        self._bound = (bound.st_dev, bound.st_ino)
        self._selector.register(self._listener, selectors.EVENT_READ, "listener")
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, "wake")
        self._thread.start()

    def push_config(self) -> None:
        """Send the current config to every connection that said hello (any thread)."""
        self._push.set()
        self._wake()

    def close(self) -> None:
        """Stop serving, close every connection (their tabs end) and remove the socket file."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for connection in list(self._connections.values()):
            self._drop(connection)
        if self._listener is not None:
            _unlink_if_ours(self.path, self._bound)
            self._listener.close()
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # BlockingIOError: woken already; or closed
            self._wake_writer.send(b"\0")

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, mask in self._selector.select(timeout=_CLOSE_GRACE_S):
                if key.data == "listener":
                    self._accept()
                elif key.data == "wake":
                    _drain(self._wake_reader)
                else:
                    self._on_ready(key.data, mask)
            if self._push.is_set():
                self._push.clear()
                try:
                    self._send_config_to_all()
                except Exception:  # a bad config must not end the service
                    log.exception("browser config could not be sent")
            self._close_overdue()

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            sock, _ = self._listener.accept()
        except OSError:  # BlockingIOError: another wake-up took it; EMFILE: try again later
            return
        try:
            sock.setblocking(False)
            connection = _Connection(next(self._numbers), sock, peer_of(sock))
        except OSError:
            sock.close()
            return
        self._connections[connection.number] = connection
        self._selector.register(sock, selectors.EVENT_READ, connection)
        same_user = sum(c.peer.uid == connection.peer.uid for c in self._connections.values())
        if same_user > MAX_CONNECTIONS_PER_USER:
            self._refuse(connection, f"more than {MAX_CONNECTIONS_PER_USER} connections of uid")

    def _on_ready(self, connection: _Connection, mask: int) -> None:
        try:
            if mask & selectors.EVENT_WRITE:
                self._flush(connection)
            live = connection.number in self._connections and connection.closing_at is None
            if mask & selectors.EVENT_READ and live:
                self._read(connection)
        except Exception:  # one connection's failure must not end the service of the others
            log.exception("browser connection %d failed; dropped", connection.number)
            self._drop(connection)

    def _read(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(FROM_EXTENSION_LIMIT)
        except BlockingIOError:
            return
        except OSError:
            self._drop(connection)
            return
        try:
            if not data:
                connection.decoder.finish()
                self._drop(connection)
                return
            messages = connection.decoder.feed(data)
        except FramingError as error:
            self._refuse(connection, str(error))
            return
        for raw in messages:
            if connection.closing_at is not None:
                return
            self._handle(connection, raw)

    def _handle(self, connection: _Connection, raw: JsonObject) -> None:
        kind = raw.get("type")
        if connection.hello is None and kind in ("tabs", "keepalive"):
            self._refuse(connection, f"{kind}: sent before hello")
            return
        config = self._config()
        try:
            message = parse_from_extension(raw, config, os_user_added=True)
        except MessageError as error:
            self._refuse(connection, str(error))
            return
        if isinstance(message, Hello):
            self._hello(connection, message, config)
        elif isinstance(message, Keepalive):
            self._tabs.seen(connection.number)
        else:
            connection.reported = message.tabs
            self._tabs.report(connection.number, _admitted(message.tabs, config))

    def _hello(self, connection: _Connection, hello: Hello, config: BrowserConfig) -> None:
        peer = connection.peer
        if connection.hello is not None:
            self._refuse(connection, "hello: sent twice on one connection")
        elif hello.os_user != peer.user:
            self._refuse(
                connection,
                f"os_user: {hello.os_user!r} is not the connecting process's user"
                f" {peer.user!r} (uid {peer.uid})",
            )
        else:
            connection.hello = hello
            self._tabs.connect(connection.number, peer.user, hello.browser)
            self._send(connection, encode(config))

    def _send_config_to_all(self) -> None:
        config = self._config()
        for connection in list(self._connections.values()):
            if connection.hello is not None and connection.closing_at is None:
                admitted = _admitted(connection.reported, config)
                self._tabs.report(connection.number, admitted, alive=False)
                self._send(connection, encode(config))

    def _refuse(self, connection: _Connection, reason: str) -> None:
        peer = connection.peer
        log.warning("browser connection refused (uid %d, pid %d): %s", peer.uid, peer.pid, reason)
        self.refusals += 1
        self._tabs.disconnect(connection.number)
        connection.closing_at = time.monotonic() + _CLOSE_GRACE_S
        self._send(connection, encode(Refused(reason)))

    def _send(self, connection: _Connection, message: JsonObject) -> None:
        connection.out += encode_frame(message, TO_EXTENSION_LIMIT)
        if len(connection.out) > _MAX_PENDING:
            log.warning("browser connection %d reads nothing; dropped", connection.number)
            self._drop(connection)
            return
        self._flush(connection)

    def _flush(self, connection: _Connection) -> None:
        try:
            sent = connection.sock.send(connection.out) if connection.out else 0
        except BlockingIOError:
            sent = 0
        except OSError:
            self._drop(connection)
            return
        del connection.out[:sent]
        if not connection.out and connection.closing_at is not None:
            self._drop(connection)
            return
        wanted = selectors.EVENT_WRITE if connection.out else 0
        if connection.closing_at is None:
            wanted |= selectors.EVENT_READ
        self._selector.modify(connection.sock, wanted, connection)

    def _close_overdue(self) -> None:
        now = time.monotonic()
        for connection in list(self._connections.values()):
            if connection.closing_at is not None and connection.closing_at <= now:
                self._drop(connection)

    def _drop(self, connection: _Connection) -> None:
        if self._connections.pop(connection.number, None) is None:
            return
        self._tabs.disconnect(connection.number)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.sock)
        connection.sock.close()


def _admitted(tabs: tuple[Tab, ...], config: BrowserConfig) -> tuple[Tab, ...]:
    """The tabs this config lets the agent keep: none when it collects nothing (§3.2), no
    incognito tab unless the organisation asks for them, no app the catalog no longer has."""
    if not config.collect:
        return ()
    apps = config.apps()
    return tuple(
        tab for tab in tabs if tab.app in apps and (config.report_incognito or not tab.incognito)
    )


def _listen(path: Path) -> socket.socket:
    """A listening socket at `path`, 0666, non-blocking. The directory is systemd's
    RuntimeDirectory on a device; made here 0755 only when missing (never weaker)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o755)
        path.parent.chmod(0o755)  # mkdir's mode passes through the umask
    _remove_stale(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        os.chmod(path, 0o666)
        listener.listen(64)
        listener.setblocking(False)
    except OSError:
        listener.close()
        raise
    return listener


def _remove_stale(path: Path) -> None:
    """Remove the socket a dead agent left; refuse to remove anything else, or a live socket."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"{path} exists and is not a socket; not removing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        path.unlink()
        return
    finally:
        probe.close()
    raise OSError(f"{path}: another process is listening there already")


def _unlink_if_ours(path: Path, bound: tuple[int, int] | None) -> None:
    """Remove the socket file unless a newer agent has replaced it meanwhile."""
    try:
        found = os.lstat(path)
    except OSError:
        return
    if (found.st_dev, found.st_ino) == bound:
        path.unlink(missing_ok=True)


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except BlockingIOError:
        pass
