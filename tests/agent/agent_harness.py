"""A real agent daemon in a thread, built by `open_agent` from a real config file.

Its collector address is a socket bound but not listening, so every connection is refused and
every event stays in the spool, where the test reads it. The spool, the catalog, the watched
files and watchdog's observer are all real.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from agent.config import ConfigSource
from agent.daemon import AgentDaemon, open_agent
from agent.enrollment import Enrollment
from commaudit.v1 import events_pb2

T = TypeVar("T")
Lifecycle = events_pb2.AgentLifecycle

CATALOG_V1 = """
schema = 1
version = "test-1"

[[app]]
id = "probe-mail"
name = "Probe Mail"
vendor = "Test"
category = "email"
use = "business"
linux = { process_names = ["probe-mail"] }
"""

CATALOG_V2 = (
    CATALOG_V1.replace('"test-1"', '"test-2"')
    + """
[[app]]
id = "probe-chat"
name = "Probe Chat"
vendor = "Test"
category = "instant_messaging"
use = "mixed"
linux = { process_names = ["probe-chat"], exe_paths = ["*/vendor/probe-chat/*"] }
"""
)


def save(path: Path, text: str) -> None:
    """As an editor saves: a whole new file renamed over the old one."""
    partial = path.with_name(path.name + ".swp")
    partial.write_text(text)
    os.replace(partial, path)


@contextmanager
def refusing_address() -> Iterator[str]:
    """HOST:PORT where nothing listens, reserved for the test's duration."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def config_text(tmp_path: Path, collector: str, **settings: object) -> str:
    """An agent.toml: state and catalog in tmp_path, fast scans, no system directories."""
    values: dict[str, object] = {
        "collector": collector,
        "state_dir": str(tmp_path / "state"),
        "catalog": str(tmp_path / "etc" / "catalog.toml"),
        "scan_interval_s": 0.05,
        "flush_timeout_s": 0.1,
        "install_dirs": [str(tmp_path / "nothing-installed")],
        **settings,
    }
    return "".join(f"{key} = {_toml(value)}\n" for key, value in values.items())


def _toml(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass
class RunningAgent:
    daemon: AgentDaemon
    stop: threading.Event
    thread: threading.Thread
    before_seq: int
    """The spool's last seq before this run."""

    def events(self) -> list[events_pb2.Event]:
        return self.daemon.spool.pending(100_000)

    def wait_for(
        self, find: Callable[[list[events_pb2.Event]], T | None], timeout: float = 5.0
    ) -> T:
        """The first non-None answer of `find` over the spooled events, polling until then."""
        deadline = time.monotonic() + timeout
        while (found := find(self.events())) is None:
            assert self.thread.is_alive(), "the daemon's loop ended"
            assert time.monotonic() < deadline, f"not spooled within {timeout} s"
            time.sleep(0.02)
        return found

    def this_run(self) -> list[events_pb2.Event]:
        """The events of this run: the spool still holds earlier runs' unsent events."""
        return [e for e in self.events() if e.seq > self.before_seq]

    def wait_scanning(self) -> None:
        """Until this run's loop has scanned once: its first heartbeat follows its first scan,
        and the install inventory precedes both."""
        deadline = time.monotonic() + 5.0
        while not any(e.WhichOneof("kind") == "heartbeat" for e in self.this_run()):
            assert self.thread.is_alive(), "the daemon's loop ended"
            assert time.monotonic() < deadline, "the daemon did not scan within 5 s"
            time.sleep(0.02)


@contextmanager
def running_agent(
    config_file: Path,
    collector: str,
    *,
    debounce_s: float = 0.1,
    ownership: str = "employer",
) -> Iterator[RunningAgent]:
    """The daemon as `commaudit-agent run --config FILE` wires it, run until the block ends."""
    source = ConfigSource(config_file, {}, {})
    config = source.load()
    config.state_dir.mkdir(parents=True, exist_ok=True)
    enrollment = Enrollment("dev-1", "secret", collector, True, "city", ownership, "")
    daemon = open_agent(config, enrollment, source)
    daemon.watches.debounce_s = debounce_s
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), name="agent-under-test")
    before_seq = daemon.spool.last_seq()
    thread.start()
    try:
        yield RunningAgent(daemon, stop, thread, before_seq)
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the daemon did not stop"
        watching = [t for t in threading.enumerate() if type(t).__module__.startswith("watchdog")]
        assert watching == [], "watchdog's threads outlived the daemon"


def lifecycles(
    events: list[events_pb2.Event], kind: events_pb2.AgentLifecycle.Kind.ValueType
) -> list[events_pb2.AgentLifecycle]:
    return [
        e.agent_lifecycle
        for e in events
        if e.WhichOneof("kind") == "agent_lifecycle" and e.agent_lifecycle.kind == kind
    ]


def started_apps(events: list[events_pb2.Event]) -> list[str]:
    return [e.app_started.app_id for e in events if e.WhichOneof("kind") == "app_started"]
