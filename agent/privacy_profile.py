"""What a device may report, decided by who owns it (DESIGN.md §3, "Privacy profiles").

An employer's device (City 4.01.06 §3.1, Library CS3.3.1: no expectation of privacy) reports
every catalog app, with its OS user and install inventory. A personal device enrolled because it
is used for business (§3.2, CS3.3.2) reports only the apps the catalog marks business or mixed,
installs of the business apps alone, and never a command line or a file path.

Two layers, so that one mistake cannot leak:
- `Profile.catalog` and `Profile.install_catalog` give the scanner and the install inventory
  catalogs without the apps the profile leaves out: on a personal device a personal-use app is
  never even recognised;
- `GatedSpool` puts every event through `Profile.redact` and `Profile.admits` before it is
  stored, so nothing the profile forbids reaches the spool, whatever part of the agent made it.

Browser tabs (issue 9) follow the same two layers: on a personal device the browser extension is
told to collect nothing (agent/browser_surface.py), and an event that names a browser tab
anyway is refused here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import Message

from agent.catalog import App, Catalog
from agent.spool import LossNotice, Spool
from commaudit.v1 import events_pb2

log = logging.getLogger(__name__)

OWNERSHIPS = ("employer", "personal")
PERSONAL_KINDS = frozenset(
    {"app_started", "app_stopped", "heartbeat", "app_installed", "app_removed", "agent_lifecycle"}
)
"""Event kinds a personal device sends; a kind added later is refused there until it is
judged and listed here (the browser surface, for one, is for employer devices only)."""
_PATH_FIELDS = ("path",)
"""Install inventory's paths: cleared on personal devices (a home directory names its user and
more); the reports need the app, not where it lies."""
_FORBIDDEN_WORDS = frozenset({"cmdline", "command", "argv", "args", "exe", "path", "paths", "url"})
"""A field whose name holds one of these words (split at '_') carries a command line, a file
path or an address; on a personal device an event with such a field set is refused."""


class ProfileError(ValueError):
    """The enrollment names an ownership no profile is defined for."""


@dataclass(frozen=True)
class Profile:
    ownership: str
    """employer or personal, from the enrollment (Enrollment.ownership)."""

    def __post_init__(self) -> None:
        if self.ownership not in OWNERSHIPS:
            raise ProfileError(
                f"ownership {self.ownership!r} is not one of {', '.join(OWNERSHIPS)}:"
                " the privacy profile cannot be chosen"
            )

    @classmethod
    def for_ownership(cls, ownership: str) -> Profile:
        return cls(ownership)

    @property
    def personal(self) -> bool:
        return self.ownership == "personal"

    def tracks(self, app: App) -> bool:
        """Whether the app's sessions are reported at all."""
        return not self.personal or app.use in ("business", "mixed")

    def inventories(self, app: App) -> bool:
        """Whether the app's installs and removals are reported."""
        return not self.personal or app.use == "business"

    def catalog(self, catalog: Catalog) -> Catalog:
        """The catalog the scanner matches against: only the apps this profile tracks."""
        return catalog.only(self.tracks) if self.personal else catalog

    def install_catalog(self, catalog: Catalog) -> Catalog:
        """The catalog the install inventory looks for: only the apps this profile inventories
        (on a personal device, the business apps)."""
        return catalog.only(self.inventories) if self.personal else catalog

    def redact(self, event: events_pb2.Event) -> events_pb2.Event:
        """The event as this profile sends it: on a personal device, install paths cleared.
        Changes `event` in place and returns it."""
        kind = event.WhichOneof("kind")
        if self.personal and kind in ("app_installed", "app_removed"):
            body = getattr(event, kind)
            for name in _PATH_FIELDS:
                body.ClearField(name)
        return event

    def admits(self, event: events_pb2.Event, catalog: Catalog) -> str | None:
        """None when the event may be sent; else why not. `catalog`: the one in force (whole or
        filtered), to learn each app's use; an app it does not know is refused on a personal
        device, since its use cannot be checked."""
        if not self.personal:
            return None
        kind = event.WhichOneof("kind") or ""
        if kind not in PERSONAL_KINDS:
            return f"{kind or 'an event of no kind'}: not sent from a personal device"
        forbidden = next(_forbidden_fields(event), None)
        if forbidden is not None:
            return f"{kind}: {forbidden} is set: a personal device sends no command line or path"
        if _names_a_browser_tab(event, kind):
            return f"{kind}: names a browser tab: nothing from browsers is collected here (§3.2)"
        allowed = self.inventories if kind in ("app_installed", "app_removed") else self.tracks
        for app_id in _app_ids(event, kind):
            why = _refusal(app_id, catalog, allowed)
            if why is not None:
                return f"{kind}: {why}"
        return None

    def describe(self) -> list[str]:
        """What this profile collects and what it never does, in plain words, one per line."""
        if self.personal:
            return [
                "This is a personal device, enrolled because it is used for business.",
                "Collected: when a communication app the catalog marks business or mixed-use"
                " starts and stops, for which user account, with how many processes.",
                "Collected: while such apps run, a heartbeat about once a minute naming them,"
                " with the agent's own health (version, events waiting, events lost).",
                "Collected: installs and removals of the catalog's business apps, without where"
                " they are installed.",
                "Never collected: apps the catalog marks for personal use; the agent does not"
                " even recognise them on this device.",
                "Never collected: installs of any other app, command lines, file paths, window"
                " titles, web addresses, or what you write, read, say or watch.",
                "Never collected: anything from web browsers; the commaudit browser extension,"
                " if installed, is told to stay idle on this device.",
            ]
        return [
            "This device belongs to the employer (no expectation of privacy, City 4.01.06 §3.1,"
            " Library CS3.3.1).",
            "Collected: when any communication app in the catalog starts and stops, for which"
            " user account, with how many processes.",
            "Collected: while they run, a heartbeat about once a minute naming them, with the"
            " agent's own health (version, events waiting, events lost).",
            "Collected: installs and removals of catalog apps, with where they are installed.",
            "Collected: which catalog web services (webmail, social networks, video sharing, web"
            " meetings) are open in browser tabs, whether one is the tab in use, and the browser,"
            " by service name only.",
            "Never collected: command lines, window titles, web addresses (not even the name of"
            " a site outside the catalog), private/incognito windows unless the organisation"
            " chose otherwise, or what you write, read, say or watch.",
        ]


def _app_ids(event: events_pb2.Event, kind: str) -> list[str]:
    """The catalog apps an event names."""
    if kind == "heartbeat":
        return [running.app_id for running in event.heartbeat.running]
    if kind == "agent_lifecycle":
        return []
    return [getattr(event, kind).app_id]


def _names_a_browser_tab(event: events_pb2.Event, kind: str) -> bool:
    """A session seen in a browser tab, or with a browser or foreground time (known from tabs
    alone)."""
    if kind == "heartbeat":
        sessions: list[Message] = list(event.heartbeat.running)
    elif kind in ("app_started", "app_stopped"):
        sessions = [getattr(event, kind)]
    else:
        return False
    for session in sessions:
        for descriptor, value in session.ListFields():
            if descriptor.name in ("browsers", "foreground_ms"):
                return True
            if descriptor.name == "surfaces" and events_pb2.SURFACE_BROWSER_TAB in value:
                return True
    return False


def _refusal(app_id: str, catalog: Catalog, allowed: Callable[[App], bool]) -> str | None:
    try:
        app = catalog.app(app_id)
    except KeyError:
        return f"app {app_id!r} is not in catalog {catalog.version}; its use cannot be checked"
    if allowed(app):
        return None
    return f"app {app_id!r} is {app.use}-use: not reported from a personal device"


def _forbidden_fields(message: Message, prefix: str = "") -> Iterator[str]:
    """The set fields, at any depth, whose names say they hold a command line or a path."""
    for descriptor, value in message.ListFields():
        name = f"{prefix}{descriptor.name}"
        if _FORBIDDEN_WORDS & set(descriptor.name.split("_")):
            yield name
        if descriptor.message_type is None:
            continue
        if not descriptor.is_repeated:
            yield from _forbidden_fields(value, f"{name}.")
            continue
        for index, item in enumerate(value):
            yield from _forbidden_fields(item, f"{name}[{index}].")


class GatedSpool(Spool):
    """A spool that stores only what the device's privacy profile admits.

    Every event is redacted, then checked; a refused one is never stored, and logged with its
    reason (a refusal means some part of the agent made an event it should not have).
    `catalog` is the catalog in force: set it again when a new one is loaded.
    """

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        loss_notice: LossNotice,
        *,
        profile: Profile,
        catalog: Catalog,
    ) -> None:
        super().__init__(path, max_bytes, loss_notice)
        self.profile = profile
        self.catalog = catalog
        self.refused = 0
        """Events refused since this spool was opened."""

    def append(self, events: Iterable[events_pb2.Event]) -> list[int]:
        """Store the admitted events; returns their seqs (none for the refused ones)."""
        return super().append([event for event in events if self._admitted(event)])

    def _admitted(self, event: events_pb2.Event) -> bool:
        reason = self.profile.admits(self.profile.redact(event), self.catalog)
        if reason is None:
            return True
        self.refused += 1
        log.warning("not spooled (%s privacy profile): %s", self.profile.ownership, reason)
        return False


__all__ = ["OWNERSHIPS", "GatedSpool", "Profile", "ProfileError"]
