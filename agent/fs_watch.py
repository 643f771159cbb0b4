"""File-system changes from watchdog, debounced and handed to the daemon's own thread.

watchdog calls its handlers on its own threads. Here they only note which watched thing changed
(a key: "config", "catalog", or an install directory); the daemon takes the keys that have
settled once per scan (`Watcher.take`), so every reload and rescan runs on the daemon's thread
and nothing it owns (scanner, spool, inventory) is shared with watchdog's threads.

Debounced because one save is many events: editors write a temporary file and rename it over
the old one, package managers unpack hundreds of files. A key settles after `debounce_s` without
a new event, or at the latest `max_delay_s` after its first, so a file written continuously
(a log under /opt) cannot hold a change back forever.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_ATTRIB,
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

# watchdog's inotify thread warns when a directory created inside a recursive watch is added
# twice (the creation event and the tree walk race); it then keeps one watch, which is all that
# is needed. Said once per directory, it would only fill the journal.
warnings.filterwarnings(
    "ignore",
    message="Callback with id .* already exists for watch",
    category=RuntimeWarning,
    module="watchdog",
)

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 5.0
MAX_DELAY_FACTOR = 10
"""A key settles at the latest this many debounce periods after its first event."""

# What a file's content or presence can change by; opened/closed-without-writing cannot.
_FILE_CHANGES = frozenset(
    {
        EVENT_TYPE_CREATED,
        EVENT_TYPE_DELETED,
        EVENT_TYPE_MODIFIED,
        EVENT_TYPE_MOVED,
        EVENT_TYPE_CLOSED,
    }
)
# What can change which apps a directory holds. Not each write: a file being written was created
# first, and a log written line by line under /opt must not rescan at every line. Attribute
# changes count (chmod +x makes a program), and so does a finished write (a .desktop entry
# edited in place: Linux reports it as "closed").
_TREE_CHANGES = frozenset(
    {EVENT_TYPE_CREATED, EVENT_TYPE_DELETED, EVENT_TYPE_MOVED, EVENT_TYPE_ATTRIB, EVENT_TYPE_CLOSED}
)
# The kinds asked of watchdog, which on Linux become the inotify mask. Without one, inotify also
# reports every open and close-without-writing: each program started from /usr/bin would wake
# the agent. FileModifiedEvent is there for the mask's IN_ATTRIB (chmod), which costs IN_MODIFY.
_MOVES = [FileMovedEvent, DirMovedEvent, FileCreatedEvent, DirCreatedEvent]
_FILE_FILTER = [*_MOVES, FileDeletedEvent, FileModifiedEvent, FileClosedEvent]
_TREE_FILTER = [*_FILE_FILTER, DirDeletedEvent, FileAttribEvent, DirAttribEvent]


def event_paths(event: FileSystemEvent) -> list[str]:
    """The paths an event is about: a move has two."""
    paths = [os.fsdecode(event.src_path)]
    if event.dest_path:
        paths.append(os.fsdecode(event.dest_path))
    return [path for path in paths if path]


class Settling:
    """Keys noted by any thread, handed out once they have been quiet for `debounce_s`."""

    def __init__(self, debounce_s: float, max_delay_s: float | None = None) -> None:
        self.debounce_s = debounce_s
        self.max_delay_s = max_delay_s if max_delay_s is not None else debounce_s * MAX_DELAY_FACTOR
        self._lock = threading.Lock()
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def note(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._first.setdefault(key, now)
            self._last[key] = now

    def take(self) -> set[str]:
        """The keys that settled since the last call; each change is handed out once."""
        now = time.monotonic()
        with self._lock:
            ready = {
                key
                for key, last in self._last.items()
                if now - last >= self.debounce_s or now - self._first[key] >= self.max_delay_s
            }
            for key in ready:
                del self._first[key], self._last[key]
        return ready


class _Handler(FileSystemEventHandler):
    """Notes `key` for each event of a relevant type about a path `wanted` accepts."""

    def __init__(
        self,
        settling: Settling,
        key: str,
        types: frozenset[str],
        wanted: Callable[[str], bool],
    ) -> None:
        self._settling, self._key, self._types, self._wanted = settling, key, types, wanted

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in self._types and any(map(self._wanted, event_paths(event))):
            self._settling.note(self._key)


class Watcher:
    """One watchdog observer for all of the agent's watches; `stop` stops and joins its threads.

    A watch that cannot be set up (a missing directory, the OS's limit on watches reached) is
    logged and skipped: the agent keeps working, that one thing is just not followed.
    """

    def __init__(self, debounce_s: float) -> None:
        self.settling = Settling(debounce_s)
        self._observer: BaseObserver | None = None

    def start(self) -> None:
        """Before any watch: a watch scheduled on a running observer fails alone, while one that
        fails at the observer's start would take the others down with it."""
        self._observer = Observer()
        self._observer.start()

    def watch_file(self, path: Path, key: str) -> bool:
        """Follow one file by its directory: editors replace a file by renaming another over it,
        which a watch on the file itself would not survive."""
        target = os.path.normpath(os.path.abspath(path))
        handler = _Handler(self.settling, key, _FILE_CHANGES, lambda p: p == target)
        return self._schedule(handler, os.path.dirname(target), False, _FILE_FILTER)

    def watch_tree(self, root: str, wanted: Callable[[str], bool]) -> bool:
        """Follow a directory and everything under it that `wanted` accepts; the key is `root`."""
        handler = _Handler(self.settling, root, _TREE_CHANGES, wanted)
        return self._schedule(handler, root, True, _TREE_FILTER)

    def _schedule(
        self,
        handler: _Handler,
        directory: str,
        recursive: bool,
        kinds: list[type[FileSystemEvent]],
    ) -> bool:
        assert self._observer is not None, "start() the watcher first"
        try:
            self._observer.schedule(handler, directory, recursive=recursive, event_filter=kinds)
        except OSError as error:
            log.warning("not watching %s: %s", directory, error.strerror or error)
            return False
        return True

    def take(self) -> set[str]:
        return self.settling.take()

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is None:
            return
        observer.stop()
        observer.join(JOIN_TIMEOUT_S)
        if observer.is_alive():
            log.warning("file watcher did not stop within %.0f s", JOIN_TIMEOUT_S)
