"""`commaudit-browser-host` (also `commaudit-agent browser-host`): the native-messaging host a
browser starts for the extension, relaying between the browser's stdio and the agent's socket.

Browser side: the browsers' framing on stdin/stdout; stdout carries nothing but frames (a stray
byte there breaks the browser's port), so fd 1 is pointed at stderr for everything else.
Agent side: the same framing over the Unix socket (socket_path.py).

The host checks the extension's messages as strictly as the agent does (defence in depth: a
compromised extension is stopped before it reaches the agent) and adds `os_user`, its own login,
to hello; the agent believes only its socket's peer credentials and refuses a mismatch. The first
bad message ends the relay with `refused` to the extension. Exit 0 when the browser closes stdin;
1, with one line on stderr (which the browsers log), when the agent cannot be reached, refuses or
closes the connection.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import socket
import sys
from dataclasses import replace
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
    MessageError,
    Refused,
    encode,
    parse_from_agent,
    parse_from_extension,
)
from agent.browser.peer import user_name
from agent.browser.socket_path import browser_socket_path

PROG = "commaudit-browser-host"
_READ_SIZE = 64 * 1024


class _BrowserGone(Exception):
    """stdout is closed: the browser no longer listens."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="relay a browser extension's messages to the commaudit agent"
    )
    parser.add_argument(
        "caller", nargs="*", help="what the browser appends (origin, manifest path); unused"
    )
    parser.parse_known_args(argv)  # Chrome on Windows adds --parent-window=N
    browser_out = _claim_stdout()
    try:
        path = browser_socket_path()
    except OSError as error:
        _say(str(error))
        return 1
    try:
        agent = _connect(path)
    except OSError as error:
        _say(
            f"cannot reach the commaudit agent at {path}: {error.strerror or error}; is it running?"
        )
        return 1
    with agent:
        return Relay(browser_out, agent, user_name(os.getuid())).run()


class Relay:
    """One browser's connection to the agent: frames both ways until either side ends."""

    def __init__(self, browser_out: int, agent: socket.socket, os_user: str) -> None:
        self._out = browser_out
        self._agent = agent
        self._os_user = os_user
        self._from_browser = FrameDecoder(FROM_EXTENSION_LIMIT)
        self._from_agent = FrameDecoder(TO_EXTENSION_LIMIT)
        self._hello: Hello | None = None
        self._config: BrowserConfig | None = None

    def run(self, browser_in: int = 0) -> int:
        selector = selectors.PollSelector()  # poll, unlike epoll, also takes a file as stdin
        selector.register(browser_in, selectors.EVENT_READ, "browser")
        selector.register(self._agent, selectors.EVENT_READ, "agent")
        try:
            while True:
                for key, _ in selector.select():
                    if key.data == "browser":
                        ended = self._from_browser_bytes(os.read(browser_in, _READ_SIZE))
                    else:
                        ended = self._from_agent_bytes(self._agent.recv(_READ_SIZE))
                    if ended is not None:
                        return ended
        except _BrowserGone:
            return 0
        except OSError as error:
            return self._after_agent_failed(error)
        finally:
            selector.close()

    def _after_agent_failed(self, error: OSError) -> int:
        """The agent may have refused and closed while this host was sending to it: what it
        sent before closing is still readable, so its reason reaches the extension."""
        try:
            self._agent.settimeout(1.0)
            while data := self._agent.recv(_READ_SIZE):
                ended = self._from_agent_bytes(data)
                if ended is not None:
                    return ended
        except _BrowserGone:
            return 0
        except OSError:
            pass
        _say(f"lost the connection to the commaudit agent: {error.strerror or error}")
        return 1

    def _from_browser_bytes(self, data: bytes) -> int | None:
        try:
            if not data:
                self._from_browser.finish()
                return 0  # the browser closed the port: the agent sees EOF, the tabs end
            messages = self._from_browser.feed(data)
            for raw in messages:
                self._forward_to_agent(raw)
        except (FramingError, MessageError) as error:
            return self._refuse(str(error))
        return None

    def _forward_to_agent(self, raw: JsonObject) -> None:
        kind = raw.get("type")
        if self._hello is None and kind in ("tabs", "keepalive"):
            raise MessageError(f"{kind}: sent before hello")
        message = parse_from_extension(raw, self._config, os_user_added=False)
        if isinstance(message, Hello):
            if self._hello is not None:
                raise MessageError("hello: sent twice on one connection")
            message = self._hello = replace(message, os_user=self._os_user)
        self._agent.sendall(encode_frame(encode(message), FROM_EXTENSION_LIMIT))

    def _from_agent_bytes(self, data: bytes) -> int | None:
        if not data:
            _say("the commaudit agent closed the connection")
            return 1
        try:
            messages = [parse_from_agent(raw) for raw in self._from_agent.feed(data)]
        except (FramingError, MessageError) as error:
            _say(f"the commaudit agent sent what this host cannot read: {error}")
            return 1
        for message in messages:
            self._to_browser(encode(message))
            if isinstance(message, Refused):
                _say(f"the commaudit agent refused the connection: {message.reason}")
                return 1
            self._config = message
        return None

    def _refuse(self, reason: str) -> int:
        """Tell the extension why, then end: closing the socket ends this browser's tabs."""
        with contextlib.suppress(_BrowserGone):
            self._to_browser(encode(Refused(reason)))
        _say(f"refused a message from the browser: {reason}")
        return 1

    def _to_browser(self, message: JsonObject) -> None:
        data = memoryview(encode_frame(message, TO_EXTENSION_LIMIT))
        try:
            while data:
                data = data[os.write(self._out, data) :]
        except BrokenPipeError:
            raise _BrowserGone from None


def _connect(path: Path) -> socket.socket:
    agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        agent.connect(str(path))
    except OSError:
        agent.close()
        raise
    return agent


def _claim_stdout() -> int:
    """A private descriptor for the browser's stdout; fd 1 and sys.stdout go to stderr, so
    that nothing printed by accident (a warning, a library) can corrupt the frames."""
    browser_out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return browser_out


def _say(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
