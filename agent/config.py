"""The agent's settings: declared once, typed, documented, loaded in `main()` (STYLE.md 8).

Precedence: command line > environment (COMMAUDIT_AGENT_<FIELD>) > the agent config IMS pushed
to the collector (CENTRAL_SETTINGS only) > TOML file > defaults, layered by layered_settings.py
(the collector's settings are layered the same way, without the central layer). Errors name the
source, the key and the reason, because an operator fixes them by hand. The documented example,
packaging/config/agent.toml, is checked against this class.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from agent.layered_settings import (
    ConfigError,
    Effective,
    Origin,
    SettingError,
    gather,
    settle,
)
from agent.os_paths import default_state_dir

__all__ = [
    "CENTRAL_SETTINGS",
    "MIN_SPOOL_BYTES",
    "AgentConfig",
    "CentralSettings",
    "ConfigError",
    "ConfigSource",
    "is_loopback",
    "load_config",
    "load_effective",
    "parse_central_config",
    "split_address",
]

MIN_SPOOL_BYTES = 64 * 1024
ENV_PREFIX = "COMMAUDIT_AGENT_"
_BOOLEANS = dict.fromkeys(("1", "true", "yes", "on"), True) | dict.fromkeys(
    ("0", "false", "no", "off"), False
)
CENTRAL_SETTINGS = (
    "scan_interval_s",
    "heartbeat_interval_s",
    "batch_max_events",
    "batch_max_delay_s",
    "spool_max_bytes",
    "flush_timeout_s",
    "browser_incognito",
)
"""What an agent config pushed to the collector may set: fleet-wide tuning that a running agent
takes at once (agent/hot_reload.py LIVE_SETTINGS). Never the collector address, the state
directory, the catalog file, the watched directories or the poll interval: those are the device's
own, and one wrong push of them could cut a whole fleet off from the collector that would have to
send the fix."""
FLAG_NAMES = {"scan_interval_s": "--scan-interval", "heartbeat_interval_s": "--heartbeat-interval"}
"""Options of `commaudit-agent run` not named after their setting."""


@dataclass(frozen=True)
class AgentConfig:
    collector: str = ""
    """Collector address HOST:PORT, when it moved since enrollment (default: the enrolled one).
    The device id, credential, pinned CA and transport always come from the enrollment."""
    state_dir: Path = field(default_factory=default_state_dir)
    """Where the enrollment and the spool live; must survive reboots. Default: this OS's place
    (agent/os_paths.py), the one the packaged service uses."""
    catalog: Path | None = None
    """Catalog file; the one packaged with the agent when unset."""
    scan_interval_s: float = 2.0
    """Seconds between process scans."""
    heartbeat_interval_s: float = 60.0
    """Seconds between heartbeats; bounds a session's end when the agent dies."""
    batch_max_events: int = 500
    """Events per Report at most."""
    batch_max_delay_s: float = 1.0
    """How long a new event waits for others to share its Report."""
    spool_max_bytes: int = 64 * 2**20
    """Spool bound in bytes of stored events; past it the oldest events are dropped and the
    drop recorded. 64 MiB holds about a week of a busy device's events offline."""
    flush_timeout_s: float = 5.0
    """At stop, how long to keep trying to deliver what is spooled."""
    install_dirs: tuple[str, ...] = ()
    """Directories searched and watched for installed catalog apps; globs such as
    /home/*/.local/share/applications reach every user's. Empty: this OS's usual places
    (agent/installs.py `default_install_dirs`)."""
    watch: bool = True
    """Follow changes as they happen: reload the config and catalog files when they are saved,
    and report apps installed or removed. False: read them at start only (the install inventory
    is still taken at each start)."""
    config_poll_interval_s: float = 300.0
    """Seconds between asking the collector for a newer agent config and catalog (jittered, so
    a fleet does not ask in step; also once at start). 0: never ask, and ignore what was given
    before (agent/central_config.py)."""
    browser_incognito: bool = False
    """Report catalog tabs in incognito/private windows too (issue 9). Off: the browser extension
    and the agent both leave them out; the organisation's choice, set in the agent config it
    deploys or pushes centrally. Taken at once: every connected browser is told."""

    def validate(self) -> AgentConfig:
        _check_positive(self, "scan_interval_s", "heartbeat_interval_s", "batch_max_delay_s")
        _check_positive(self, "batch_max_events", "spool_max_bytes")
        if not 1 <= self.batch_max_events <= 1000:
            raise SettingError(
                "batch_max_events", "must be between 1 and 1000 (the collector's limit)"
            )
        if self.spool_max_bytes < MIN_SPOOL_BYTES:
            raise SettingError(
                "spool_max_bytes",
                f"{self.spool_max_bytes} is below the minimum {MIN_SPOOL_BYTES}"
                " (room for a full batch and its drop notice)",
            )
        if self.config_poll_interval_s < 0:
            raise SettingError(
                "config_poll_interval_s",
                f"must be 0 (never) or more, got {self.config_poll_interval_s}",
            )
        if self.collector:
            split_address(self.collector)
        for directory in self.install_dirs:
            if not os.path.isabs(directory):
                raise SettingError("install_dirs", f"{directory!r} is not an absolute path")
        return self


def _check_positive(config: AgentConfig, *names: str) -> None:
    for name in names:
        if getattr(config, name) <= 0:
            raise SettingError(name, f"must be greater than 0, got {getattr(config, name)}")


def split_address(address: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port), with a clear error."""
    match = re.fullmatch(
        r"\[(?P<v6>[^\]]+)\]:(?P<p6>\d+)|(?P<host>[^:\[\]]+):(?P<port>\d+)", address
    )
    if not match:
        raise SettingError("collector", f"{address!r} is not HOST:PORT")
    host = match.group("v6") or match.group("host")
    port = int(match.group("p6") or match.group("port"))
    if not 0 < port < 65536:
        raise SettingError("collector", f"port {port} is out of range")
    return host, port


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or the name localhost; other names are not resolved (DNS could lie)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(
    file: Path | None,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
    central: CentralSettings | None = None,
) -> AgentConfig:
    """Defaults < file < the collector's agent config < environment < command line, then
    validated."""
    return load_effective(file, environ, overrides, central).config


@dataclass(frozen=True)
class ConfigSource:
    """Where the running settings came from, kept so that a changed file is read again the same
    way: the command line and the environment still win over it (agent/hot_reload.py)."""

    file: Path | None
    environ: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    central: CentralSettings | None = None
    """The agent config last taken from the collector, if any (agent/central_config.py)."""

    def load(self) -> AgentConfig:
        return load_config(self.file, self.environ, self.overrides, self.central)


@dataclass(frozen=True)
class CentralSettings:
    """An agent config IMS pushed to the collector, validated: its version and what it sets."""

    version: str
    values: Mapping[str, Any]
    """Converted values, only of CENTRAL_SETTINGS."""
    source: str
    """How messages name it: the file name at push, `collector agent config V` on the agent."""


def parse_central_config(text: str, source: str) -> CentralSettings:
    """An agent config (TOML: `version` and some of CENTRAL_SETTINGS), validated as a file's
    settings are; the collector refuses a push with the same message (ConfigError naming the
    source and the key)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    version = data.pop("version", None)
    if not isinstance(version, str) or not version.strip():
        raise ConfigError(f"{source}: version: missing or not a non-empty string")
    known = {f.name for f in fields(AgentConfig)}
    for key in data:
        if key not in CENTRAL_SETTINGS:
            why = "the device's own setting" if key in known else "unknown setting"
            raise ConfigError(
                f"{source}: {key}: {why} (an agent config from the collector sets only"
                f" {', '.join(CENTRAL_SETTINGS)})"
            )
    try:
        values = {key: _convert(key, value) for key, value in data.items()}
        AgentConfig(**values).validate()
    except SettingError as error:
        raise ConfigError(f"{source}: {error}") from None
    return CentralSettings(version, values, source)


def load_effective(
    file: Path | None,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
    central: CentralSettings | None = None,
) -> Effective[AgentConfig]:
    """The validated config and where each setting came from (`commaudit-agent check-config`).

    overrides: command-line values by setting, None where the option was not given.
    central: the collector's agent config; it wins over the file and the defaults, because IMS
    manages the fleet's tuning centrally, and loses to the environment and the command line,
    which someone set on this one device on purpose.
    """
    keys = [f.name for f in fields(AgentConfig)]
    layers = gather(keys, file, environ, ENV_PREFIX, overrides, FLAG_NAMES)
    if central is not None:
        for key, value in central.values.items():
            if layers.origins.get(key, Origin("default")).source in ("default", "file"):
                layers.put(key, value, Origin("central", central.source))
    return settle(layers, AgentConfig, _convert)


def _convert(key: str, value: Any) -> Any:
    default = getattr(AgentConfig(), key)
    if key == "install_dirs":
        return _directories(value)
    try:
        if isinstance(default, bool):
            return value if isinstance(value, bool) else _BOOLEANS[str(value).lower()]
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if key in ("state_dir", "catalog"):
            # TOML has no null: an empty catalog is the packaged one, as when unset.
            if key == "catalog" and value in ("", None):
                return None
            return Path(os.path.expanduser(str(value)))
        return str(value)
    except (TypeError, ValueError, KeyError):
        raise SettingError(key, f"{value!r} is not a valid {type(default).__name__}") from None


def _directories(value: Any) -> tuple[str, ...]:
    """A TOML list of paths, or an environment variable's os.pathsep-separated ones."""
    items = value.split(os.pathsep) if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise SettingError("install_dirs", f"{value!r} is not a list of paths")
    return tuple(os.path.expanduser(item) for item in items if item)
