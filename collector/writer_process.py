"""The Writer in a process of its own, behind the same interface (writer.WriterLike).

Why: the RPC process's event loop and a writer thread share one interpreter lock; under a
fleet's load (2,000 Reports/s on 2 cores) a 170-event commit took ~30 ms instead of ~9 ms alone
and every RPC queued behind it. In its own process the writer encodes and commits without
taking the lock from the RPCs. Requests go over a pipe one at a time: ("commit", batches, now),
("call", function, args, kwargs), ("rows", sql, params), ("close",). Events cross as serialized
bytes, functions by their module-level name, and exceptions come back as themselves (or as a
RuntimeError naming them when they cannot be pickled).

Staged by default (writer.py): a group is acknowledged once it is in the ingest log, and loaded
into DuckDB behind the ack.

The child dies with its parent (Linux: PR_SET_PDEATHSIG), so a collector killed with SIGKILL
does not leave a writer holding the database's lock against its own restart.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from collector.log_format import LogFormat, configure_logging, current_setup
from collector.publish_loop import Publishing
from collector.store import Store
from collector.writer import Batch, GroupResult, Writer
from commaudit.v1 import agent_service_pb2, events_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")
START_TIMEOUT_S = 120.0


class WriterGone(RuntimeError):
    """The writer process exited; nothing more can be stored until the collector restarts."""


class WriterProcess:
    """A Writer in a child process; thread-safe (one request at a time)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        store_factory: Callable[[Path], Store] = Store,
        publishing: Publishing | None = None,
        staged: bool = True,
    ) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no grpc threads
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, str(path), store_factory, publishing, current_setup(), staged),
            name="commaudit-writer",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()
        if not self._conn.poll(START_TIMEOUT_S):
            self._process.kill()
            raise WriterGone("the writer process did not start")
        status, *payload = self._receive()
        if status == "error":
            self._process.join(10)
            raise payload[0]
        self.path = Path(payload[0])
        self.pid = self._process.pid

    def commit_group(self, batches: list[Batch], now_ms: int) -> GroupResult:
        wire = [
            (device_id, spool_id, raw or [event.SerializeToString() for event in events])
            for device_id, spool_id, events, raw in batches
        ]
        result: GroupResult = self._call("commit", wire, now_ms)
        return result

    def transaction(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = self._call("call", fn, args, kwargs)
        return result

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        result: list[tuple[Any, ...]] = self._call("rows", sql, list(params))
        return result

    def close(self) -> None:
        """Checkpoint and close the database, then let the process end; idempotent."""
        if self._process.is_alive():
            with contextlib.suppress(WriterGone):
                self._call("close")
        self._process.join(60)
        if self._process.is_alive():
            log.error("writer process did not exit; killing it")
            self._process.kill()
            self._process.join()
        self._conn.close()

    def _call(self, *request: Any) -> Any:
        with self._lock:
            try:
                self._conn.send(request)
                status, payload = self._receive()
            except (EOFError, OSError) as exc:
                raise WriterGone(
                    f"the writer process is gone (exit code {self._process.exitcode})"
                ) from exc
        if status == "error":
            raise payload
        return payload

    def _receive(self) -> tuple[Any, ...]:
        reply: tuple[Any, ...] = self._conn.recv()
        return reply


def _serve(
    conn: Connection,
    path: str,
    store_factory: Callable[[Path], Store],
    publishing: Publishing | None,
    log_setup: tuple[int, LogFormat] = (logging.INFO, "text"),
    staged: bool = True,
) -> None:
    """The child: open the database (and start publishing), then answer requests until "close"
    or the parent's end."""
    _die_with_parent()
    # Ctrl-C, and systemd's stop, signal the whole process group; the parent decides when the
    # database closes (after draining its queue), so the writer waits to be told.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(*log_setup)  # as the parent logs: level and text or JSON
    try:
        writer = Writer(path, store_factory, publishing, staged=staged)
    except Exception as exc:
        conn.send(("error", _portable(exc)))
        return
    conn.send(("ready", str(writer.path)))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break  # the parent is gone: close cleanly below
        if request[0] == "close":
            writer.close()
            conn.send(("ok", None))
            return
        try:
            reply = ("ok", _handle(writer, request))
        except Exception as exc:
            reply = ("error", _portable(exc))
        conn.send(reply)
    writer.close()


def _handle(writer: Writer, request: tuple[Any, ...]) -> Any:
    op = request[0]
    if op == "commit":
        _, wire, now_ms = request
        batches: list[Batch] = [
            (device_id, spool_id, _events(payload), payload if isinstance(payload, bytes) else b"")
            for device_id, spool_id, payload in wire
        ]
        return writer.commit_group(batches, now_ms)
    if op == "call":
        _, fn, args, kwargs = request
        return writer.transaction(fn, *args, **kwargs)
    if op == "rows":
        _, sql, params = request
        return writer.rows(sql, params)
    raise ValueError(f"unknown writer request {op!r}")


def _events(payload: bytes | list[bytes]) -> Sequence[events_pb2.Event]:
    """A Report's events from its serialized ReportRequest, or from each event's bytes."""
    if isinstance(payload, bytes):
        return agent_service_pb2.ReportRequest.FromString(payload).events
    return [events_pb2.Event.FromString(blob) for blob in payload]


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _die_with_parent() -> None:
    """Linux: SIGKILL when the parent exits, however it exits (PR_SET_PDEATHSIG = 1)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
