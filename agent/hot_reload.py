"""Hot reload of the agent's config and catalog files (DESIGN.md §3, watchdog), validated as
at start.

A saved file is read again through the loader used at start: the layered settings
(agent/config.py) or the catalog loader (agent/catalog.py). One that passes replaces the running
one; one that fails is refused whole and the running one kept, because a half-applied catalog
could count an app under the wrong category. Either way the daemon records an agent_lifecycle
event, a refusal's detail starting "rejected: " so that the collector has it too. The same
bytes as last time, or a catalog under the same version, change nothing.

What the collector serves (agent/central_config.py) arrives here too, as an `Offered` text taken
at the next reload and validated by the same loaders: a catalog is applied when it is newer
than the running one (the newest valid catalog wins, by version); an agent config becomes the
settings' central layer (agent/config.py: above the file, below environment and options).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from agent.catalog import Catalog, CatalogError, load_catalog, parse_catalog
from agent.config import AgentConfig, ConfigError, ConfigSource, parse_central_config
from agent.layered_settings import toml_value
from agent.versions import is_newer

log = logging.getLogger(__name__)

LIVE_SETTINGS = frozenset(
    {
        "scan_interval_s",
        "heartbeat_interval_s",
        "batch_max_events",
        "batch_max_delay_s",
        "spool_max_bytes",
        "flush_timeout_s",
        "browser_incognito",
    }
)
"""Settings a running agent takes at once. The others decide what it opened at start (the
collector's channel, the state directory, the catalog file, the watched directories) and take
effect at the next restart."""
REJECTED = "rejected: "
MAX_DETAIL_CHARS = 1000
"""The collector refuses a longer detail (collector/validate.py, Limits.max_detail_chars)."""


@dataclass(frozen=True)
class Reload:
    """What a saved file did, as the agent_lifecycle event's detail says it."""

    detail: str

    @property
    def rejected(self) -> bool:
        return self.detail.startswith(REJECTED)


@dataclass(frozen=True)
class Offered:
    """A catalog or agent config the collector sent, to be validated and applied like a saved
    file at the next reload."""

    text: str
    source: str
    """How messages name it: `collector catalog 2026.12.1`."""
    keep: Callable[[], None] = field(default=lambda: None)
    """Called once it is valid and taken: saves it as the last good copy."""


def _detail(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."


def _followed(file: Path | None) -> Path:
    """The file a watched config or catalog follows (for the file watch); check `file` first,
    since one may follow no file and take only what the collector offers."""
    if file is None:
        raise ValueError("follows no file: only what the collector offers")
    return file


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


class WatchedConfig:
    """The running settings, the file they came from (None: none) and the collector's layer."""

    def __init__(self, source: ConfigSource | None, running: AgentConfig) -> None:
        """source None: settings from no file, e.g. built by a test; the collector's layer then
        goes straight over `running`."""
        self.file = source.file if source else None
        """The file followed; None: settings from no file, only the collector's layer moves."""
        self.source = source
        self.config = running
        self._base = running
        self._bytes = _read(self.file) if self.file else None
        self._offered: Offered | None = None

    @property
    def pending(self) -> bool:
        """An agent config from the collector waits for the next reload."""
        return self._offered is not None

    def offer(self, offered: Offered) -> None:
        self._offered = offered

    def reload(self) -> Reload | None:
        """Read the file again, or else take what the collector offered; None when no setting
        changed. On success `config` holds the settings to run with: the new live ones, and the
        ones from start that need a restart."""
        if self.file is not None and self.source is not None:
            data = _read(self.file)
            if data != self._bytes:
                self._bytes = data
                try:
                    outcome = self._take(self.source.load(), "")
                except ConfigError as error:
                    return self._refuse(error)
                if outcome is not None:
                    return outcome
        return self._take_offered()

    def _take_offered(self) -> Reload | None:
        offered, self._offered = self._offered, None
        if offered is None:
            return None
        try:
            central = parse_central_config(offered.text, offered.source)
            if self.source is None:
                new = replace(self._base, **central.values)
            else:
                new = replace(self.source, central=central).load()
        except ConfigError as error:
            return self._refuse(error)
        if self.source is not None:
            self.source = replace(self.source, central=central)
        offered.keep()
        outcome = self._take(new, f"{offered.source}: ")
        if outcome is None:
            log.info("%s taken; it changes no setting here", offered.source)
        return outcome

    def _refuse(self, error: ConfigError) -> Reload:
        log.error("config not reloaded, the running settings stay: %s", error)
        return Reload(_detail(f"{REJECTED}{error}"))

    def _take(self, new: AgentConfig, prefix: str) -> Reload | None:
        old = self.config
        changed = [
            f.name for f in fields(AgentConfig) if getattr(new, f.name) != getattr(old, f.name)
        ]
        if not changed:
            return None
        later = [key for key in changed if key not in LIVE_SETTINGS]
        self.config = replace(new, **{key: getattr(old, key) for key in later})
        if later:
            log.warning("%s: %s changed; needs restart to take effect", self.file, ", ".join(later))
        parts = [
            f"{key}: {toml_value(getattr(old, key))} -> {toml_value(getattr(new, key))}"
            + (" (needs restart)" if key in later else "")
            for key in changed
        ]
        log.info("config reloaded: %s%s", prefix, "; ".join(parts))
        return Reload(_detail(prefix + "; ".join(parts)))


class WatchedCatalog:
    """The running catalog: the newer of the file's (or the packaged one, path None) and the
    collector's."""

    def __init__(self, path: Path | None, running: Catalog) -> None:
        self.file = path
        """The file followed; None: the packaged catalog, which changes only with the agent."""
        self.catalog = running
        self._own = running
        """The file's catalog, or the packaged one."""
        self._central: Catalog | None = None
        """The collector's, once one was taken; it runs while it is the newer."""
        self._bytes = _read(path) if path else None
        self._offered: Offered | None = None

    @property
    def pending(self) -> bool:
        """A catalog from the collector waits for the next reload."""
        return self._offered is not None

    def offer(self, offered: Offered) -> None:
        self._offered = offered

    def reload(self) -> Reload | None:
        """Read the file again, or else take what the collector offered; None when neither
        changes the running catalog."""
        if self.file is not None:
            data = _read(self.file)
            if data != self._bytes:
                self._bytes = data
                outcome = self._take_file(self.file)
                if outcome is not None:
                    return outcome
        return self._take_offered()

    def _take_file(self, path: Path) -> Reload | None:
        try:
            new = load_catalog(path)
        except UnicodeDecodeError:
            return self._refuse(f"{path}: not valid TOML: not UTF-8 text")
        except CatalogError as error:
            return self._refuse(str(error))
        if new.version == self._own.version:
            log.warning(
                "%s changed but is still version %s: not applied (a changed catalog needs a"
                " new version, the one the collector records)",
                path,
                new.version,
            )
            return None
        self._own = new
        central = self._central
        if central is not None and is_newer(central.version, new.version):  # it is running
            log.warning(
                "%s: version %s is valid but not applied: the collector's %s is newer",
                path,
                new.version,
                central.version,
            )
            return None
        return self._switch(new, "")

    def _take_offered(self) -> Reload | None:
        offered, self._offered = self._offered, None
        if offered is None:
            return None
        try:
            new = parse_catalog(offered.text, offered.source)
        except CatalogError as error:
            return self._refuse(str(error))
        if not is_newer(new.version, self.catalog.version):
            log.warning(
                "%s ignored: not newer than the running catalog %s",
                offered.source,
                self.catalog.version,
            )
            return None
        offered.keep()
        self._central = new
        return self._switch(new, " (from the collector)")

    def _switch(self, new: Catalog, note: str) -> Reload:
        old, self.catalog = self.catalog, new
        log.info("catalog %s replaced by %s%s", old.version, new.version, note)
        return Reload(_detail(describe_catalog_change(old, new) + note))

    def _refuse(self, reason: str) -> Reload:
        log.error("catalog not reloaded, %s stays: %s", self.catalog.version, reason)
        return Reload(_detail(REJECTED + reason))


def describe_catalog_change(old: Catalog, new: Catalog) -> str:
    """`2026.11.2 -> 2026.12.1: 161 apps; added: x; removed: y`."""
    before, after = {a.id for a in old.apps}, {a.id for a in new.apps}
    text = f"{old.version} -> {new.version}: {len(new.apps)} apps"
    if after - before:
        text += "; added: " + ", ".join(sorted(after - before))
    if before - after:
        text += "; removed: " + ", ".join(sorted(before - after))
    return text
