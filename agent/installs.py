"""Which catalog apps are installed on this device, reported as app_installed / app_removed.

At start the application directories are searched whole (agent/install_walk.py) and compared
with what was last reported, which is kept in a small JSON file in the state directory: a
restart reports only what changed while the agent was stopped, removals included. While the
agent runs, a directory that changed (agent/fs_watch.py) is searched again.

One report per app, not per file: an app is installed while any of its files is found (Zoom
is hundreds of files under /opt/zoom) and removed when the last one is gone. Its app_removed
carries the path its app_installed did, because reports pair the two by app and path
(analytics/reports/restricted_installed.sql). An app the catalog no longer knows is reported
removed too: the agent no longer says it is there.
"""

from __future__ import annotations

import json
import logging
import ntpath
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from glob import glob, has_magic
from pathlib import Path

from agent.atomic_file import SECRET, write_atomically
from agent.catalog import CATEGORIES, App, Catalog
from agent.events import category_enum, new_event
from agent.install_walk import MAX_DEPTH, depth_below, find_apps
from commaudit.v1 import events_pb2

log = logging.getLogger(__name__)

INVENTORY_FORMAT = 1

LINUX_DIRS = (
    "/usr/share/applications",
    "/usr/local/share/applications",
    "/var/lib/flatpak/exports/share/applications",
    "/var/lib/snapd/desktop/applications",
    "/home/*/.local/share/applications",
    "/home/*/.local/share/flatpak/exports/share/applications",
    "/opt",
    "/usr/bin",
    "/usr/local/bin",
    "/snap/bin",
)
MACOS_DIRS = ("/Applications", "/Users/*/Applications")


def default_install_dirs(os_name: str, environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Where apps are installed on this OS, each user's places by glob: the service runs as
    root or SYSTEM, whose own home holds none."""
    if os_name == "linux":
        return LINUX_DIRS
    if os_name == "macos":
        return MACOS_DIRS
    drive = environ.get("SystemDrive", "C:") + "\\"
    return (
        environ.get("ProgramFiles", ntpath.join(drive, "Program Files")),
        environ.get("ProgramFiles(x86)", ntpath.join(drive, "Program Files (x86)")),
        ntpath.join(drive, "Users", "*", "AppData", "Local", "Programs"),
    )


def expand_dirs(patterns: Iterable[str]) -> list[str]:
    """The existing directories the patterns name, each once; a missing one is skipped."""
    roots: list[str] = []
    for pattern in patterns:
        for path in sorted(glob(pattern)) if has_magic(pattern) else [pattern]:
            root = os.path.normpath(path)
            if os.path.isdir(root) and root not in roots:
                roots.append(root)
    return roots


@dataclass(frozen=True)
class Reported:
    """An app as its app_installed said it: the collector pairs the removal by app and path."""

    category: str
    path: str


@dataclass(frozen=True)
class InstallChange:
    installed: bool
    app_id: str
    category: str
    path: str


class InstallInventory:
    """The catalog apps found under the roots, and what of them was reported."""

    def __init__(
        self,
        catalog: Catalog,
        patterns: Sequence[str],
        state_file: Path,
        os_name: str,
    ) -> None:
        self.roots = expand_dirs(patterns)
        self.max_depth = MAX_DEPTH[os_name]
        self._os_name = os_name
        self._matcher = catalog.matcher_for(os_name)
        self._found: dict[str, App] = {}  # path -> app, for every path under the roots
        self._state_file = state_file
        self._reported = _load(state_file)
        self._saved = dict(self._reported)

    def refresh(self, changed: Iterable[str] | None = None) -> list[InstallChange]:
        """Search the changed roots again (all of them when None); what to report, in memory
        until `save`: the caller spools the events first, so a crash reports twice, never not."""
        roots = self.roots if changed is None else self._with_nested(set(changed))
        self._found = {p: a for p, a in self._found.items() if not _under_any(p, roots)}
        for root in roots:
            self._found.update(find_apps(root, self._matcher, self.max_depth))
        return self._compare()

    def set_catalog(self, catalog: Catalog) -> list[InstallChange]:
        """A new catalog may know apps that are installed already, or forget some."""
        self._matcher = catalog.matcher_for(self._os_name)
        return self.refresh()

    def relevant(self, root: str, path: str) -> bool:
        """Whether a change at `path` can change what `root` holds: not deeper than the search
        goes, and not inside a macOS bundle (an app updating itself)."""
        depth = depth_below(root, path)
        if depth is None or depth > self.max_depth:
            return False
        parts = os.path.relpath(path, root).split(os.sep)[:-1]
        return not (self._os_name == "macos" and any(p.endswith(".app") for p in parts))

    def save(self) -> None:
        """Keep what was reported for the next start; written whole or not at all."""
        if self._reported == self._saved:
            return
        apps = {app_id: asdict(r) for app_id, r in sorted(self._reported.items())}
        data = json.dumps({"format": INVENTORY_FORMAT, "apps": apps}, indent=1) + "\n"
        try:
            write_atomically(self._state_file, data.encode(), mode=SECRET)
        except OSError as error:  # tried again after the next change; events are spooled
            log.warning("%s: not saved: %s", self._state_file, error.strerror or error)
            return
        self._saved = dict(self._reported)

    def _with_nested(self, changed: set[str]) -> list[str]:
        """A changed root and the configured roots inside it: its search replaces theirs."""
        return [r for r in self.roots if r in changed or _under_any(r, changed)]

    def _compare(self) -> list[InstallChange]:
        present: dict[str, tuple[App, str]] = {}
        for path, app in sorted(self._found.items(), key=lambda item: (len(item[0]), item[0])):
            present.setdefault(app.id, (app, path))  # the shortest path shows an app best
        changes = [
            InstallChange(False, app_id, reported.category, reported.path)
            for app_id, reported in sorted(self._reported.items())
            if app_id not in present
        ]
        changes += [
            InstallChange(True, app_id, app.category, path)
            for app_id, (app, path) in sorted(present.items())
            if app_id not in self._reported
        ]
        for change in changes:
            if change.installed:
                self._reported[change.app_id] = Reported(change.category, change.path)
            else:
                del self._reported[change.app_id]
        return changes


def _under_any(path: str, roots: Iterable[str]) -> bool:
    return any(path.startswith(os.path.join(root, "")) for root in roots)


def _load(state_file: Path) -> dict[str, Reported]:
    """What was reported before; nothing when the file is missing or unreadable (everything
    found is then reported again: twice is better than never)."""
    try:
        data = json.loads(state_file.read_text(encoding="utf-8"))
        if data.get("format") != INVENTORY_FORMAT:
            raise ValueError(f"format {data.get('format')!r} is not {INVENTORY_FORMAT}")
        reported = {app_id: Reported(**fields) for app_id, fields in data["apps"].items()}
        for app_id, entry in reported.items():
            if entry.category not in CATEGORIES:
                raise ValueError(f"{app_id}: category {entry.category!r} is not known")
        return reported
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        log.warning("%s: ignored, all installed apps are reported again: %s", state_file, error)
        return {}


def install_event(device_id: str, change: InstallChange) -> events_pb2.Event:
    """app_installed / app_removed for one app."""
    event = new_event(device_id)
    category = category_enum(change.category)
    if change.installed:
        event.app_installed.CopyFrom(
            events_pb2.AppInstalled(app_id=change.app_id, category=category, path=change.path)
        )
    else:
        event.app_removed.CopyFrom(
            events_pb2.AppRemoved(app_id=change.app_id, category=category, path=change.path)
        )
    return event
