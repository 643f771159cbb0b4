"""A real BrowserSocket on a Unix socket, the real native host as a subprocess, and a browser's
side of the framing written by hand (struct, json), so that the code under test is not its own
judge."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.browser.agent_socket import BrowserSocket
from agent.browser.messages import BrowserConfig
from agent.browser.socket_path import SOCKET_ENV
from agent.browser.tab_state import BrowserTabs

HOST = Path(sys.executable).parent / "commaudit-browser-host"
AGENT_CLI = Path(sys.executable).parent / "commaudit-agent"
HOSTS = (("mail.google.com", "gmail"), ("*.youtube.com", "youtube"), ("*.slack.com", "slack"))
CONFIG = BrowserConfig(collect=True, report_incognito=False, hosts=HOSTS)
CONFIG_JSON = {
    "type": "config",
    "collect": True,
    "report_incognito": False,
    "hosts": [["mail.google.com", "gmail"], ["*.youtube.com", "youtube"], ["*.slack.com", "slack"]],
}
HELLO = {"type": "hello", "browser": "chromium", "extension_version": "1.0.0"}


def frame(message: Any) -> bytes:
    """A message as a browser writes it: 4-byte native-order length, then UTF-8 JSON."""
    body = json.dumps(message).encode()
    return struct.pack("=I", len(body)) + body


def tab(app: str, *, focused: bool = False, audible: bool = False, incognito: bool = False) -> Any:
    return {"app": app, "focused": focused, "audible": audible, "incognito": incognito}


def tabs_message(*tabs: Any) -> Any:
    return {"type": "tabs", "tabs": list(tabs)}


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class FrameReader:
    """Frames from a descriptor, parsed by hand, with a deadline for each."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.ended = False

    def next(self, timeout: float = 5.0) -> Any:
        """The next message; None when the stream ended (cleanly) first."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= 4:
                (length,) = struct.unpack("=I", self.buffer[:4])
                if len(self.buffer) >= 4 + length:
                    body, self.buffer = self.buffer[4 : 4 + length], self.buffer[4 + length :]
                    return json.loads(body.decode("utf-8"))
            if self.ended:
                assert not self.buffer, f"stream ended inside a frame: {self.buffer!r}"
                return None
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"no frame within {timeout} s")
            chunk = os.read(self.fd, 65536)
            self.ended = not chunk
            self.buffer += chunk


@dataclass
class RunningAgent:
    path: Path
    tabs: BrowserTabs
    socket: BrowserSocket
    config: list[BrowserConfig] = field(default_factory=lambda: [CONFIG])
    clients: list[Client] = field(default_factory=list)

    def client(self) -> Client:
        """A direct connection, closed at teardown."""
        self.clients.append(Client(self.path))
        return self.clients[-1]

    def stop(self) -> None:
        self.socket.close()
        for client in self.clients:
            client.close()

    def set_config(self, config: BrowserConfig, *, push: bool = True) -> None:
        self.config[0] = config
        if push:
            self.socket.push_config()


def start_agent(directory: Path) -> RunningAgent:
    tabs = BrowserTabs()
    holder = [CONFIG]
    path = directory / "run" / "browser.sock"
    server = BrowserSocket(path, tabs, lambda: holder[0])
    server.start()
    return RunningAgent(path, tabs, server, holder)


class Client:
    """A local process speaking to the agent's socket directly, as a host (or an imitation
    of one) does."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.reader = FrameReader(self.sock.fileno())

    def send(self, message: Any) -> None:
        self.sock.sendall(frame(message))

    def hello(self, os_user: str) -> Any:
        self.send({**HELLO, "os_user": os_user})
        return self.reader.next()

    def close(self) -> None:
        self.sock.close()


class Host:
    """The native host as a browser runs it: framed JSON on its stdin and stdout."""

    def __init__(self, socket_path: Path, argv: list[str] | None = None) -> None:
        env = {**os.environ, SOCKET_ENV: str(socket_path)}
        self.process = subprocess.Popen(
            argv or [str(HOST), "chrome-extension://abcdefghijklmnopabcdefghijklmnop/"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        assert self.process.stdout is not None
        self.reader = FrameReader(self.process.stdout.fileno())
        self.rest: list[Any] = []

    def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)

    def send(self, message: Any) -> None:
        self.write(frame(message))

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    def finish(self, timeout: float = 10) -> tuple[int, str]:
        """Exit code and stderr; frames still unread go to `rest` (FrameReader checks that
        stdout held nothing but whole frames)."""
        returncode = self.process.wait(timeout=timeout)
        while (message := self.reader.next()) is not None:
            self.rest.append(message)
        assert self.process.stderr is not None
        return returncode, self.process.stderr.read().decode()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
