"""Which programs are communication apps: a versioned TOML catalog, validated on load.

Why data, not code: IMS updates the catalog far more often than the agent, and a bad catalog
must be refused with a message naming the file, the app and the field, never half-applied.
Matching runs for each new process the scan sees, so it is a dict lookup on the lower-cased
process name first; exe globs next; command-line patterns only for browser processes (app
windows and installed web apps show their service in `--app=` / `--app-id=`).

Ordinary browser tabs are matched by hostname alone (`web.hosts`, `host_app`): the browser
extension reports a tab only when its hostname matches, so the patterns decide what the agent
may ever learn about browsing, and they are held to a strict form (`web_hosts.py`).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from agent.web_hosts import PUBLIC_SUFFIXES, host_app, host_pattern_problem

CATEGORIES = (
    "email",
    "instant_messaging",
    "text_messaging",
    "social_networking",
    "teleconferencing",
    "video_sharing",
)
USES = ("business", "personal", "mixed")
OSES = ("windows", "macos", "linux")
SCHEMA_VERSION = 1
LINUX_COMM_CHARS = 15  # the kernel truncates a process's comm to 15 characters

_TEXT_KEYS = ("id", "name", "vendor", "category", "use")
_APP_KEYS = {*_TEXT_KEYS, "web", *OSES}
_RULE_KEYS = {"process_names", "exe_paths", "cmdline_patterns"}
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class CatalogError(ValueError):
    """The catalog is refused; the message names the file, the app and the field."""


@dataclass(frozen=True)
class App:
    id: str
    name: str
    vendor: str
    category: str
    use: str
    hosts: tuple[str, ...] = ()  # hostname patterns of its browser tabs (`web.hosts`)


@dataclass(frozen=True)
class _Rules:
    process_names: tuple[str, ...] = ()
    exe_paths: tuple[str, ...] = ()
    cmdline_patterns: tuple[str, ...] = ()


class Matcher:
    """The catalog's rules for one OS, indexed for the scan's hot path."""

    def __init__(self, os_name: str, rules: Sequence[tuple[App, _Rules]], browsers: Sequence[str]):
        self.os_name = os_name
        self._by_name: dict[str, App] = {}
        self._exe: list[tuple[re.Pattern[str], App]] = []
        self._cmdline: list[tuple[re.Pattern[str], App]] = []
        for app, rule in rules:
            for name in rule.process_names:
                self._by_name[name.lower()] = app
            self._exe += [
                (re.compile(fnmatch.translate(g), re.IGNORECASE), app) for g in rule.exe_paths
            ]
            self._cmdline += [(re.compile(p), app) for p in rule.cmdline_patterns]
        self._browsers = frozenset(b.lower() for b in browsers)
        self._truncated = {
            n[:LINUX_COMM_CHARS]: a for n, a in self._by_name.items() if len(n) > LINUX_COMM_CHARS
        }

    @property
    def process_names(self) -> frozenset[str]:
        return frozenset(self._by_name)

    def is_browser(self, name: str, exe: str) -> bool:
        """A browser process: an app only when it shows one in an app window (its command
        line says which)."""
        return name.lower() in self._browsers or _basename(exe).lower() in self._browsers

    def match(self, name: str, exe: str, cmdline: Sequence[str]) -> App | None:
        """The app this process belongs to, or None."""
        key = name.lower()
        if self.is_browser(name, exe):
            return self._match_cmdline(cmdline)
        app = self._by_name.get(key)
        if app is None and self.os_name == "linux" and len(key) == LINUX_COMM_CHARS:
            app = self._truncated.get(key)
        if app is None and exe:
            app = next((a for pattern, a in self._exe if pattern.match(exe)), None)
        return app

    def _match_cmdline(self, cmdline: Sequence[str]) -> App | None:
        """A browser is only an app when it runs one as an app window or installed web app."""
        joined = " ".join(cmdline)
        if "--app" not in joined:
            return None
        return next((app for pattern, app in self._cmdline if pattern.search(joined)), None)


def _merge(first: _Rules, second: _Rules) -> _Rules:
    return _Rules(
        first.process_names + second.process_names,
        first.exe_paths + second.exe_paths,
        first.cmdline_patterns + second.cmdline_patterns,
    )


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path)[-1] if path else ""


@dataclass(frozen=True)
class Catalog:
    version: str
    apps: tuple[App, ...]
    _rules: Mapping[str, tuple[tuple[App, _Rules], ...]] = field(repr=False, default_factory=dict)
    _browsers: Mapping[str, tuple[str, ...]] = field(repr=False, default_factory=dict)

    @functools.cached_property
    def by_id(self) -> Mapping[str, App]:
        """Apps by id: what each scan's browser tabs and each install are looked up in."""
        return {app.id: app for app in self.apps}

    def app(self, app_id: str) -> App:
        found = self.by_id.get(app_id)
        if found is None:
            raise KeyError(f"no app {app_id!r} in catalog {self.version}")
        return found

    def only(self, keep: Callable[[App], bool]) -> Catalog:
        """This catalog limited to the apps `keep` admits, their rules with them: a process of
        any other app then matches nothing at all (a personal device's privacy profile,
        DESIGN.md §3). The version stays: it names the file the apps came from."""
        rules = {
            os_name: tuple((app, rule) for app, rule in pairs if keep(app))
            for os_name, pairs in self._rules.items()
        }
        apps = tuple(app for app in self.apps if keep(app))
        return Catalog(self.version, apps, rules, self._browsers)

    def web_hosts(self) -> tuple[tuple[str, str], ...]:
        """(pattern, app id) for every app's tab hostnames, sorted: what the browser extension
        filters tabs by, and the `hosts` argument of `host_app`. The same tuple every call, so
        `host_app` reuses its index."""
        return self._web_hosts

    @functools.cached_property
    def _web_hosts(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((host, app.id) for app in self.apps for host in app.hosts))

    def matcher_for(self, os_name: str) -> Matcher:
        if os_name not in OSES:
            raise ValueError(f"os_name {os_name!r} is not one of {', '.join(OSES)}")
        return Matcher(os_name, self._rules.get(os_name, ()), self._browsers.get(os_name, ()))


def current_os() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    return "macos" if sys.platform == "darwin" else "linux"


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog at `path`, or the one packaged with the agent."""
    if path is None:
        text = resources.files("agent").joinpath("catalog.toml").read_text(encoding="utf-8")
        return parse_catalog(text, "catalog.toml")
    try:
        return parse_catalog(path.read_text(encoding="utf-8"), str(path))
    except OSError as error:
        raise CatalogError(f"{path}: cannot read: {error.strerror}") from None


def parse_catalog(text: str, source: str) -> Catalog:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{source}: not valid TOML: {error}") from None
    return _Parser(source).catalog(data)


class _Parser:
    """Validates the TOML document field by field; the first problem is the error."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.claimed: dict[tuple[str, str, str], str] = {}  # (os, kind or "comm", value) -> id
        # Names a browser reports: a desktop rule for one would never be tried (Matcher.match).
        self.browser_names: dict[str, frozenset[str]] = {}

    def fail(self, where: str, message: str) -> CatalogError:
        return CatalogError(f"{self.source}: {where}: {message}")

    def catalog(self, data: dict[str, Any]) -> Catalog:
        unknown = set(data) - {"schema", "version", "browsers", "app"}
        if unknown:
            raise self.fail("top level", f"unknown key {sorted(unknown)[0]!r}")
        if data.get("schema") != SCHEMA_VERSION:
            raise self.fail("schema", f"{data.get('schema')!r} is not {SCHEMA_VERSION}")
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise self.fail("version", "missing or not a string")
        browsers = self.browsers(data.get("browsers", {}))
        self.browser_names = {
            os_name: frozenset(n.lower() for n in b) for os_name, b in browsers.items()
        }
        entries = data.get("app")
        if not isinstance(entries, list) or not entries:
            raise self.fail("app", "no [[app]] tables")
        parsed: list[tuple[App, dict[str, _Rules]]] = []
        first_index: dict[str, int] = {}
        for index, entry in enumerate(entries, start=1):
            app, app_rules = self.app(index, entry)
            earlier = first_index.setdefault(app.id, index)
            if earlier != index:
                raise self.fail(f"app {app.id!r} (#{index})", f"id: already used by app #{earlier}")
            parsed.append((app, app_rules))
        rules = {
            os_name: tuple((app, r[os_name]) for app, r in parsed if os_name in r)
            for os_name in OSES
        }
        return Catalog(version, tuple(app for app, _ in parsed), rules, browsers)

    def browsers(self, table: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(table, dict) or set(table) - set(OSES):
            raise self.fail("browsers", f"must be a table with keys {', '.join(OSES)}")
        return {
            os_name: tuple(self.strings(f"browsers.{os_name}", names))
            for os_name, names in table.items()
        }

    def app(self, index: int, entry: Any) -> tuple[App, dict[str, _Rules]]:
        where = f"app #{index}"
        if not isinstance(entry, dict):
            raise self.fail(where, "not a table")
        if isinstance(entry.get("id"), str):
            where = f"app {entry['id']!r} (#{index})"
        unknown = set(entry) - _APP_KEYS
        if unknown:
            raise self.fail(
                where,
                f"{sorted(unknown)[0]}: unknown key (an app has {', '.join(_TEXT_KEYS)}"
                f" and the tables {', '.join(OSES)}, web)",
            )
        values = {key: self.text(where, entry, key) for key in _TEXT_KEYS}
        if not _ID.fullmatch(values["id"]):
            raise self.fail(where, f"id: {values['id']!r} is not a lowercase slug")
        for key, allowed in (("category", CATEGORIES), ("use", USES)):
            if values[key] not in allowed:
                raise self.fail(where, f"{key}: {values[key]!r} is not one of {', '.join(allowed)}")
        rules = {
            os_name: self.rules(where, values["id"], os_name, entry[os_name])
            for os_name in OSES
            if os_name in entry
        }
        hosts: tuple[str, ...] = ()
        if "web" in entry:  # browser app windows: the same patterns on every OS
            web = self.rules(where, values["id"], "web", entry["web"])
            hosts = self.hosts(where, values["id"], entry["web"].get("hosts", []))
            if web != _Rules():
                for os_name in OSES:
                    rules[os_name] = _merge(rules.get(os_name, _Rules()), web)
        if not rules and not hosts:
            raise self.fail(where, "no match rule for any OS")
        return App(**values, hosts=hosts), rules

    def text(self, where: str, entry: dict[str, Any], key: str) -> str:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"{key}: missing or not a non-empty string")
        return value

    def rules(self, where: str, app_id: str, os_name: str, table: Any) -> _Rules:
        if not isinstance(table, dict):
            raise self.fail(where, f"{os_name}: not a table")
        allowed = {"cmdline_patterns", "hosts"} if os_name == "web" else _RULE_KEYS
        unknown = set(table) - allowed
        if unknown:
            raise self.fail(where, f"{os_name}.{sorted(unknown)[0]}: unknown key")
        lists = {
            kind: self.strings(f"{where}: {os_name}.{kind}", table.get(kind, []))
            for kind in _RULE_KEYS
        }
        if not any(lists.values()) and not table.get("hosts"):
            raise self.fail(where, f"{os_name}: empty rule: no {', '.join(sorted(allowed))}")
        for pattern in lists["cmdline_patterns"]:
            try:
                re.compile(pattern)
            except re.error as error:
                raise self.fail(
                    where, f"{os_name}.cmdline_patterns: {pattern!r}: {error}"
                ) from None
        self.claim_all(where, app_id, os_name, lists)
        return _Rules(**{kind: tuple(values) for kind, values in lists.items()})

    def hosts(self, where: str, app_id: str, value: Any) -> tuple[str, ...]:
        """Tab hostname patterns: each well-formed, each claimed by one app only (an exact
        pattern and a wildcard over it may belong to two apps: the exact one wins)."""
        patterns = self.strings(f"{where}: web.hosts", value)
        for pattern in patterns:
            problem = host_pattern_problem(pattern)
            if problem:
                raise self.fail(where, f"web.hosts: {pattern!r} {problem}")
            self.claim(where, app_id, "web.hosts", ("web", "hosts", pattern))
        return tuple(dict.fromkeys(patterns))

    def strings(self, where: str, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise CatalogError(f"{self.source}: {where}: must be a list of non-empty strings")
        return value

    def claim_all(self, where: str, app_id: str, table: str, lists: dict[str, list[str]]) -> None:
        """No two apps may claim one signature: a process must have exactly one app.

        A `web` pattern applies on every OS, so it is claimed on each of them.
        """
        for kind, values in lists.items():
            for value in values:
                for os_name in OSES if table == "web" else (table,):
                    self.claim(where, app_id, f"{table}.{kind}", (os_name, kind, value))

    def claim(self, where: str, app_id: str, label: str, rule: tuple[str, str, str]) -> None:
        """Names and globs compare case-insensitively, as the matcher does; a Linux name is
        also claimed as the kernel's 15-character comm shows it, which the matcher accepts."""
        os_name, kind, value = rule
        key = value if kind == "cmdline_patterns" else value.lower()
        signatures = [((os_name, kind, key), repr(value))]
        if kind == "process_names":
            if key in self.browser_names.get(os_name, ()):
                raise self.fail(where, f"{label}: {value!r} is a browser; match its app windows")
            if os_name == "linux" and len(key) >= LINUX_COMM_CHARS:
                comm = key[:LINUX_COMM_CHARS]
                signatures.append((("linux", "comm", comm), f"{value!r} (comm {comm!r})"))
        for signature, shown in signatures:
            owner = self.claimed.setdefault(signature, app_id)
            if owner != app_id:
                raise self.fail(where, f"{label}: {shown} is already claimed by app {owner!r}")


__all__ = [
    "CATEGORIES",
    "PUBLIC_SUFFIXES",
    "USES",
    "App",
    "Catalog",
    "CatalogError",
    "Matcher",
    "current_os",
    "host_app",
    "load_catalog",
    "parse_catalog",
]
