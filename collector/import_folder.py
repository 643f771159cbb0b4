"""The watched import folder (`commaudit-collector serve --import-dir`, DESIGN.md §6).

HR exports dropped into the folder are imported one at a time and then moved out of the way:
to `done/` when imported (or already imported before), to `failed/` with `<name>.errors.txt`
beside it when not. A file counts as complete once its size and modification time have held
still for `settle_s`; a file written elsewhere and renamed in is complete at once, which is the
safe way to drop one. Files already in the folder at start are processed too.

One worker thread does the imports, so two never run at once (the collector's writer takes one
transaction at a time anyway). When several files wait, they go in the order workgroups,
employees, device_assignments, training, so a whole set dropped together imports cleanly.
Log lines name the file, its kind and the rows changed, never a row's content.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from collector.org_csv import KINDS, OrgImportError, kind_for_file_name

if TYPE_CHECKING:
    from collector.org_import import ImportSummary

log = logging.getLogger(__name__)

DONE = "done"
FAILED = "failed"

# importer(kind, path) imports the file or raises OrgImportError; what it returns, when it is an
# ImportSummary, is logged.
Importer = Callable[[str, Path], "ImportSummary | None"]


class ImportFolder:
    """Watches one folder; `start()` once, `stop()` at shutdown (idempotent)."""

    def __init__(self, folder: Path, importer: Importer, *, settle_s: float = 0.2) -> None:
        self.folder = Path(folder).absolute()
        self._importer = importer
        self._settle_s = settle_s
        self._pending: dict[Path, int] = {}  # path -> arrival order
        self._arrivals = 0
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        """Watch the folder and process what is in it already."""
        for name in (DONE, FAILED):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.schedule(_Handler(self.offer), str(self.folder), recursive=False)
        observer.start()
        self._observer = observer
        for path in sorted(self.folder.iterdir()):  # after the observer: nothing slips between
            if path.is_file():
                self.offer(path)
        self._worker = threading.Thread(target=self._run, name="import-folder", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """Stop watching; an import under way finishes first. Idempotent."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def offer(self, path: Path) -> None:
        """Queue a file of the folder for import; other files, hidden or not `.csv`, are left."""
        if path.parent != self.folder or path.name.startswith("."):
            return
        if not path.name.lower().endswith(".csv"):
            return
        with self._changed:
            if path not in self._pending:
                self._arrivals += 1
                self._pending[path] = self._arrivals
                self._changed.notify()

    def _run(self) -> None:
        while True:
            taken = self._next()
            if taken is None:
                return
            path, arrival = taken
            if not self._settled(path):
                continue  # gone, or stopping: a file left in place is taken at the next start
            if self._put_back_if_overtaken(path, arrival):
                continue
            try:
                self._process(path)
            except Exception:  # the worker must outlive any one file
                log.exception("import folder: could not process %s", path.name)

    def _next(self) -> tuple[Path, int] | None:
        """The waiting file to take first (kind order, then arrival), or None when stopping."""
        with self._changed:
            while not self._pending and not self._stopping.is_set():
                self._changed.wait()
            if self._stopping.is_set():
                return None
            path = min(self._pending, key=lambda p: (_rank(p), self._pending[p]))
            return path, self._pending.pop(path)

    def _put_back_if_overtaken(self, path: Path, arrival: int) -> bool:
        """A file of an earlier kind arrived while this one settled: let it go first."""
        with self._changed:
            if any(_rank(other) < _rank(path) for other in self._pending):
                self._pending.setdefault(path, arrival)
                return True
            return False

    def _settled(self, path: Path) -> bool:
        """Wait until size and mtime hold still for settle_s; False if it vanished or we stop."""
        try:
            last = _signature(path)
            while not self._stopping.wait(self._settle_s):
                now = _signature(path)
                if now == last:
                    return True
                last = now
        except FileNotFoundError:
            pass
        return False

    def _process(self, path: Path) -> None:
        kind = kind_for_file_name(path.name)
        if kind is None:
            reason = f"the name does not say its kind ({', '.join(KINDS)}): see samples/org"
            self._fail(path, [f"{path.name}: {reason}"])
            log.warning("import folder: %s: unknown kind, moved to %s/", path.name, FAILED)
            return
        try:
            summary = self._importer(kind, path)
        except OrgImportError as exc:
            self._fail(path, [str(error) for error in exc.errors])
            log.warning(
                "import folder: %s (%s): not imported, %d error(s), moved to %s/",
                path.name, kind, len(exc.errors), FAILED,
            )  # fmt: skip
            return
        except Exception as exc:
            # Not the file's fault (the writer is gone, the disk is full...): the file goes to
            # failed/ with the reason all the same, to be dropped again once that is fixed.
            self._fail(path, [f"{path.name}: not imported: {type(exc).__name__}: {exc}"])
            log.error("import folder: %s (%s): failed: %s", path.name, kind, type(exc).__name__)
            return
        _move(path, self.folder / DONE)
        if summary is None:
            log.info("import folder: %s (%s): imported", path.name, kind)
        else:
            log.info(
                "import folder: %s (%s): %d row(s) changed%s",
                path.name, kind, summary.rows_changed,
                " (imported before, unchanged)" if summary.unchanged else "",
            )  # fmt: skip

    def _fail(self, path: Path, lines: list[str]) -> None:
        moved = _move(path, self.folder / FAILED)
        errors = moved.with_name(moved.name + ".errors.txt")
        errors.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


class _Handler(FileSystemEventHandler):
    """Created and moved-in files, from the observer's thread to ImportFolder.offer."""

    def __init__(self, offer: Callable[[Path], None]) -> None:
        self._offer = offer

    def on_created(self, event: DirCreatedEvent | FileCreatedEvent) -> None:
        if not event.is_directory:
            self._offer(Path(os.fsdecode(event.src_path)))

    def on_moved(self, event: DirMovedEvent | FileMovedEvent) -> None:
        if not event.is_directory:
            self._offer(Path(os.fsdecode(event.dest_path)))


def _rank(path: Path) -> int:
    kind = kind_for_file_name(path.name)
    return KINDS.index(kind) if kind is not None else len(KINDS)


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _move(path: Path, folder: Path) -> Path:
    """Move into folder under the same name, or name.2.csv, name.3.csv... if it is taken."""
    target = folder / path.name
    number = 1
    while target.exists() or target.with_name(target.name + ".errors.txt").exists():
        number += 1
        target = folder / f"{path.stem}.{number}{path.suffix}"
    path.rename(target)
    return target
