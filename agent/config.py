"""The agent's settings: declared once, typed, documented, loaded in `main()` (STYLE.md 8).

Precedence: command line > environment (COMMAUDIT_AGENT_<FIELD>) > TOML file > defaults, layered
by layered_settings.py (the collector's settings are layered the same way). Errors name the
source, the key and the reason, because an operator fixes them by hand. The documented example,
packaging/config/agent.toml, is checked against this class.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from agent.layered_settings import ConfigError, Effective, SettingError, gather, settle

__all__ = [
    "MIN_SPOOL_BYTES",
    "AgentConfig",
    "ConfigError",
    "is_loopback",
    "load_config",
    "load_effective",
    "split_address",
]

MIN_SPOOL_BYTES = 64 * 1024
ENV_PREFIX = "COMMAUDIT_AGENT_"
FLAG_NAMES = {"scan_interval_s": "--scan-interval", "heartbeat_interval_s": "--heartbeat-interval"}
"""Options of `commaudit-agent run` not named after their setting."""


@dataclass(frozen=True)
class AgentConfig:
    collector: str = ""
    """Collector address HOST:PORT, when it moved since enrollment (default: the enrolled one).
    The device id, credential, pinned CA and transport always come from the enrollment."""
    state_dir: Path = Path("/var/lib/commaudit-agent")
    """Where the enrollment and the spool live; must survive reboots."""
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
        if self.collector:
            split_address(self.collector)
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
    file: Path | None, environ: Mapping[str, str], overrides: Mapping[str, Any]
) -> AgentConfig:
    """Defaults < file < environment < command line, then validated."""
    return load_effective(file, environ, overrides).config


def load_effective(
    file: Path | None, environ: Mapping[str, str], overrides: Mapping[str, Any]
) -> Effective[AgentConfig]:
    """The validated config and where each setting came from (`commaudit-agent check-config`).

    overrides: command-line values by setting, None where the option was not given.
    """
    keys = [f.name for f in fields(AgentConfig)]
    layers = gather(keys, file, environ, ENV_PREFIX, overrides, FLAG_NAMES)
    return settle(layers, AgentConfig, _convert)


def _convert(key: str, value: Any) -> Any:
    default = getattr(AgentConfig(), key)
    try:
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
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
    except (TypeError, ValueError):
        raise SettingError(key, f"{value!r} is not a valid {type(default).__name__}") from None
