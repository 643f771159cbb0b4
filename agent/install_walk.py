"""Which catalog apps a directory holds: desktop entries, app bundles and programs, to a depth.

What shows an app is installed differs by OS (issue 7 item 5): on Linux a desktop entry
(`*.desktop`, whose Exec= names the program) or a program in a bin directory or under
/opt/<vendor>/<app>; on macOS an `X.app` bundle; on Windows an `.exe` under Program Files.
Each is matched with the catalog's own process rules (`Matcher.match`, names and exe globs), so
an app is recognised installed by the same signature that recognises it running.

Cheap by construction: a directory is listed once (`os.scandir`, no stat per entry), a name is
a dict lookup, and only names that match are stat'ed or read. A browser is never an app here:
the matcher only recognises a browser by the web app its command line names.
"""

from __future__ import annotations

import os
import plistlib
import posixpath
import shlex
from collections.abc import Iterator
from xml.parsers.expat import ExpatError

from agent.catalog import App, Matcher

MAX_DEPTH = {"linux": 3, "macos": 2, "windows": 4}
"""Levels below a root that are searched: Linux /opt/<vendor>/<app>/<program>; macOS a bundle
in a folder (/Applications/Utilities/X.app); Windows Program Files\\Microsoft Office\\root\\
Office16\\OUTLOOK.EXE."""
DESKTOP_ENTRY_MAX_BYTES = 64 * 1024
"""Exec= is in the first group; a larger file is not a desktop entry worth reading whole."""

# (process name, executable path or "", command line): what Matcher.match takes of a process.
Candidate = tuple[str, str, tuple[str, ...]]


def find_apps(root: str, matcher: Matcher, max_depth: int) -> dict[str, App]:
    """Each path under `root` (to `max_depth` levels) that shows a catalog app, with the app."""
    found: dict[str, App] = {}
    pending = [(root, 1)]
    while pending:
        directory, depth = pending.pop()
        for entry in _entries(directory):
            app = identify(entry, matcher)
            if app is not None:
                found[entry.path] = app
            elif depth < max_depth and _descend(entry, matcher.os_name):
                pending.append((entry.path, depth + 1))
    return found


def _entries(directory: str) -> Iterator[os.DirEntry[str]]:
    """A directory's entries; none when it vanished or may not be read."""
    try:
        with os.scandir(directory) as entries:
            yield from list(entries)
    except OSError:
        return


def _descend(entry: os.DirEntry[str], os_name: str) -> bool:
    """Real directories only (a symlink could loop), and never into a bundle."""
    try:
        is_dir = entry.is_dir(follow_symlinks=False)
    except OSError:
        return False
    return is_dir and not (os_name == "macos" and entry.name.endswith(".app"))


def identify(entry: os.DirEntry[str], matcher: Matcher) -> App | None:
    """The catalog app this directory entry shows installed, if any."""
    try:
        if entry.name.endswith(".desktop") and matcher.os_name == "linux":
            return (
                _first_match(matcher, desktop_candidates(entry.path)) if entry.is_file() else None
            )
        if entry.name.endswith(".app") and matcher.os_name == "macos":
            return _first_match(matcher, bundle_candidates(entry.path)) if entry.is_dir() else None
        app = matcher.match(entry.name, entry.path, ())
        return app if app is not None and _is_program(entry, matcher.os_name) else None
    except OSError:  # removed while we looked
        return None


def _first_match(matcher: Matcher, candidates: Iterator[Candidate]) -> App | None:
    for name, exe, cmdline in candidates:
        app = matcher.match(name, exe, cmdline)
        if app is not None:
            return app
    return None


def _is_program(entry: os.DirEntry[str], os_name: str) -> bool:
    """A file that can be run: an .exe on Windows, a file with an execute bit elsewhere (a
    symlink counts by its target, and a dangling one not at all)."""
    if os_name == "windows":
        return entry.name.lower().endswith(".exe") and entry.is_file()
    return entry.is_file() and bool(entry.stat().st_mode & 0o111)


def desktop_candidates(path: str) -> Iterator[Candidate]:
    """A desktop entry's program (from Exec=), then its file name (`slack.desktop`, or a
    reverse-DNS id's last part: `com.slack.Slack.desktop`). Hidden=true entries show nothing:
    they hide an app, they do not install one."""
    with open(path, encoding="utf-8", errors="replace") as file:
        text = file.read(DESKTOP_ENTRY_MAX_BYTES)
    keys = _desktop_entry_group(text)
    if keys.get("Hidden", "").lower() == "true":
        return
    yield from exec_candidates(keys.get("Exec", ""))
    stem = posixpath.basename(path).removesuffix(".desktop")
    yield stem, "", ()
    if "." in stem:
        yield stem.rsplit(".", 1)[-1], "", ()


def _desktop_entry_group(text: str) -> dict[str, str]:
    """The keys of the [Desktop Entry] group (localised keys such as Name[fr] included)."""
    keys: dict[str, str] = {}
    group = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            group = line
        elif group == "[Desktop Entry]" and "=" in line:
            key, value = line.split("=", 1)
            keys.setdefault(key.strip(), value.strip())
    return keys


def exec_candidates(command: str) -> Iterator[Candidate]:
    """The program an Exec= line runs, seen through `env VAR=... prog`, `flatpak run ID` and
    `snap run NAME`, the launchers distributions' packages use. The whole line goes along as
    the command line: a browser's entry is an installed web app when it says `--app-id=`."""
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: take the words as they are
        words = command.split()
    if words and posixpath.basename(words[0]) == "env":
        words = words[1:]
        while words and ("=" in words[0] or words[0].startswith("-")):
            words = words[1:]
    if not words:
        return
    program, cmdline = posixpath.basename(words[0]), tuple(words)
    if program in ("flatpak", "snap") and words[1:2] == ["run"]:
        for name in _launched(words[2:]):
            yield name, "", cmdline
        return
    yield program, words[0] if posixpath.isabs(words[0]) else "", cmdline


def _launched(arguments: list[str]) -> Iterator[str]:
    """`flatpak run --command=thunderbird org.mozilla.Thunderbird`: the command, the id and
    the id's last part; `snap run slack`: the snap's name."""
    for argument in arguments:
        if argument.startswith("--command="):
            yield argument.removeprefix("--command=")
    app_id = next((a for a in arguments if not a.startswith("-")), "")
    if app_id:
        yield app_id
        yield app_id.rsplit(".", 1)[-1]


def bundle_candidates(path: str) -> Iterator[Candidate]:
    """An `X.app` bundle: its name, then the executable its Info.plist names."""
    stem = posixpath.basename(path).removesuffix(".app")
    yield stem, posixpath.join(path, "Contents", "MacOS", stem), ()
    try:
        with open(posixpath.join(path, "Contents", "Info.plist"), "rb") as file:
            executable = plistlib.load(file).get("CFBundleExecutable")
    except (OSError, ValueError, ExpatError):  # no or a malformed Info.plist
        return
    if isinstance(executable, str) and executable:
        yield executable, posixpath.join(path, "Contents", "MacOS", executable), ()


def depth_below(root: str, path: str) -> int | None:
    """How many levels `path` lies below `root` (0 for the root itself); None when outside."""
    try:
        relative = os.path.relpath(path, root)
    except ValueError:  # Windows: another drive
        return None
    if relative == ".":
        return 0
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return len(relative.split(os.sep))
