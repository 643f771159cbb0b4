"""The browser protocol's messages (issue 9 contract), parsed into dataclasses and checked
strictly: an unknown key, a wrong type or an unknown value is a MessageError whose text starts
with the field it is about, so that a refusal tells the extension's author what to fix.

Extension -> host -> agent: hello, tabs, keepalive. Agent -> host -> extension: config, refused.
Strict because the far side is a browser extension any local user could imitate: whatever is not
exactly the protocol is refused, never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from agent.browser.framing import JsonObject

BROWSERS = ("chromium", "chrome", "edge", "firefox")
MAX_TABS = 500
_VERSION = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9}){0,3}")  # the browsers' own version format
_MAX_USER = 256


class MessageError(ValueError):
    """A message that is not exactly the protocol; the text names the field."""


@dataclass(frozen=True)
class Hello:
    browser: str
    """One of BROWSERS."""
    extension_version: str
    os_user: str | None = None
    """Added by the host (its own login); None as the extension sends it."""


@dataclass(frozen=True)
class Tab:
    app: str
    """Catalog app id of the tab's hostname, as the config's hosts map it."""
    focused: bool
    """The active tab of the focused window: in use, not just open."""
    audible: bool
    incognito: bool


@dataclass(frozen=True)
class Tabs:
    tabs: tuple[Tab, ...]
    """The whole current set of catalog tabs of the browser, one entry per tab."""


@dataclass(frozen=True)
class Keepalive:
    """Sent every 60 s: the connection is alive even when no tab changed."""


@dataclass(frozen=True)
class BrowserConfig:
    """What the agent lets the extension report; sent in answer to hello and on every change."""

    collect: bool
    """False on a personal-profile device (§3.2): the extension sends nothing but keepalives."""
    report_incognito: bool
    """Whether incognito/private tabs are reported; the organisation's choice, off by default."""
    hosts: tuple[tuple[str, str], ...]
    """(host pattern, app id) pairs of the catalog: the extension reports no other hostname."""

    def apps(self) -> frozenset[str]:
        """App ids a tab may name: those of the hosts."""
        return frozenset(app for _, app in self.hosts)


@dataclass(frozen=True)
class Refused:
    reason: str


FromExtension = Hello | Tabs | Keepalive
FromAgent = BrowserConfig | Refused


NOTHING_COLLECTED = "this device's privacy profile collects nothing from browsers (§3.2)"


def parse_from_extension(
    raw: JsonObject, config: BrowserConfig | None, *, os_user_added: bool
) -> FromExtension:
    """A message from the extension, under the config the agent last sent (None: none yet).
    `os_user_added`: True on the agent's side (the host must have added os_user to hello),
    False on the host's (the extension must not send one)."""
    kind = _message_type(raw, ("hello", "tabs", "keepalive"))
    if kind == "hello":
        return _hello(raw, os_user_added)
    if kind == "tabs":
        # A tabs message on a personal device is refused, not ignored: a well-behaved extension
        # stays idle under collect=false, so one that sends is misbehaving or an imitation.
        if config is None:
            raise MessageError("tabs: sent before the agent's config")
        if not config.collect:
            raise MessageError(f"tabs: {NOTHING_COLLECTED}")
        _keys(raw, "tabs", {"type", "tabs"})
        return Tabs(_tabs(raw["tabs"], config.apps()))
    _keys(raw, "keepalive", {"type"})
    return Keepalive()


def parse_from_agent(raw: JsonObject) -> FromAgent:
    kind = _message_type(raw, ("config", "refused"))
    if kind == "refused":
        _keys(raw, "refused", {"type", "reason"})
        return Refused(_text(raw["reason"], "reason", 4096))
    _keys(raw, "config", {"type", "collect", "report_incognito", "hosts"})
    return BrowserConfig(
        collect=_bool(raw["collect"], "collect"),
        report_incognito=_bool(raw["report_incognito"], "report_incognito"),
        hosts=_hosts(raw["hosts"]),
    )


def encode(message: FromExtension | FromAgent) -> JsonObject:
    """The JSON object of a message, as the other side's parser expects it."""
    if isinstance(message, Hello):
        hello: JsonObject = {
            "type": "hello",
            "browser": message.browser,
            "extension_version": message.extension_version,
        }
        if message.os_user is not None:
            hello["os_user"] = message.os_user
        return hello
    if isinstance(message, Tabs):
        return {"type": "tabs", "tabs": [_tab_json(tab) for tab in message.tabs]}
    if isinstance(message, Keepalive):
        return {"type": "keepalive"}
    if isinstance(message, Refused):
        return {"type": "refused", "reason": message.reason}
    return {
        "type": "config",
        "collect": message.collect,
        "report_incognito": message.report_incognito,
        "hosts": [list(pair) for pair in message.hosts],
    }


def _tab_json(tab: Tab) -> JsonObject:
    return {
        "app": tab.app,
        "focused": tab.focused,
        "audible": tab.audible,
        "incognito": tab.incognito,
    }


def _message_type(raw: JsonObject, allowed: tuple[str, ...]) -> str:
    if "type" not in raw:
        raise MessageError("type: missing")
    kind = raw["type"]
    if not isinstance(kind, str) or kind not in allowed:
        raise MessageError(f"type: {_shown(kind)} is not one of {', '.join(allowed)}")
    return kind


def _hello(raw: JsonObject, os_user_added: bool) -> Hello:
    expected = {"type", "browser", "extension_version"}
    if "os_user" in raw and not os_user_added:
        raise MessageError("os_user: set by the native host from its own login, never sent")
    _keys(raw, "hello", (expected | {"os_user"}) if os_user_added else expected)
    browser = raw["browser"]
    if not isinstance(browser, str) or browser not in BROWSERS:
        raise MessageError(f"browser: {_shown(browser)} is not one of {', '.join(BROWSERS)}")
    version = _text(raw["extension_version"], "extension_version", 64)
    if not _VERSION.fullmatch(version):
        raise MessageError(f"extension_version: {version!r} is not a version like 1.2.3")
    os_user = _text(raw["os_user"], "os_user", _MAX_USER) if os_user_added else None
    return Hello(browser, version, os_user)


def _tabs(value: object, apps: Collection[str]) -> tuple[Tab, ...]:
    if not isinstance(value, list):
        raise MessageError(f"tabs: expected an array, got {_kind(value)}")
    if len(value) > MAX_TABS:
        raise MessageError(f"tabs: {len(value)} tabs, more than the limit of {MAX_TABS}")
    return tuple(_tab(entry, f"tabs[{i}]", apps) for i, entry in enumerate(value))


def _tab(value: object, field: str, apps: Collection[str]) -> Tab:
    if not isinstance(value, dict):
        raise MessageError(f"{field}: expected an object, got {_kind(value)}")
    _keys(value, field, {"app", "focused", "audible", "incognito"}, prefix=f"{field}.")
    app = value["app"]
    if not isinstance(app, str) or app not in apps:
        raise MessageError(f"{field}.app: {_shown(app)} is not an app of the agent's config")
    return Tab(
        app=app,
        focused=_bool(value["focused"], f"{field}.focused"),
        audible=_bool(value["audible"], f"{field}.audible"),
        incognito=_bool(value["incognito"], f"{field}.incognito"),
    )


def _hosts(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise MessageError(f"hosts: expected an array, got {_kind(value)}")
    pairs = []
    for i, pair in enumerate(value):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) for s in pair)
        ):
            raise MessageError(f"hosts[{i}]: expected [pattern, app id], got {_shown(pair)}")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


def _keys(raw: JsonObject, message: str, expected: set[str], prefix: str = "") -> None:
    """Every expected key present and no other: a field the protocol lacks is not ignored,
    since it may carry what the extension must never send (a URL, a title)."""
    unknown = sorted(raw.keys() - expected)
    if unknown:
        raise MessageError(f"{prefix}{unknown[0]}: not a field of {message}")
    missing = sorted(expected - raw.keys())
    if missing:
        raise MessageError(f"{prefix}{missing[0]}: missing from {message}")


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):  # JSON 0/1 are numbers, not booleans
        raise MessageError(f"{field}: expected true or false, got {_kind(value)} {_shown(value)}")
    return value


def _text(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise MessageError(f"{field}: expected a string, got {_kind(value)}")
    if not value or len(value) > limit:
        raise MessageError(f"{field}: expected 1 to {limit} characters, got {len(value)}")
    return value


def _kind(value: object) -> str:
    """JSON's name for a value's type, as the extension's author knows it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _shown(value: object) -> str:
    """A value short enough for a log line: a refusal must not echo 64 KiB back."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
