"""The collector's settings: declared once, typed, documented, loaded in `serve` (STYLE.md 8).

Precedence: command line > environment (COMMAUDIT_COLLECTOR_<KEY>) > TOML file > defaults,
layered by agent/layered_settings.py as the agent's are. Errors name the file (or variable, or
option), the key and the reason, because an operator fixes them by hand:
`/etc/commaudit/collector.toml: commit_window_ms: must be a number from 1 to 1000, not "fast"`.
The documented example, packaging/config/collector.toml, is checked against this class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from agent.layered_settings import ConfigError, Effective, SettingError, gather, settle
from agent.setting_values import boolean, choice, converter, number, path, show
from collector.admission import AdmissionLimits
from collector.ingest import IngestLimits
from collector.log_format import FORMATS, LogFormat
from collector.publish_loop import DEFAULT_INTERVAL_S
from collector.server import ConfigError as TransportError
from collector.server import check_transport, parse_listen

__all__ = ["ENV_PREFIX", "CollectorConfig", "ConfigError", "load_config", "load_effective"]

ENV_PREFIX = "COMMAUDIT_COLLECTOR_"
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class CollectorConfig:
    state_dir: Path = Path("/var/lib/commaudit")
    """Database, TLS material and admin connection file (`commaudit-collector init` makes it)."""
    listen: str = "127.0.0.1:50051"
    """HOST:PORT agents and operators connect to; port 0 picks a free port."""
    plaintext: bool = False
    """Serve without TLS; refused unless `listen` is a loopback address (DESIGN.md §4)."""
    port_file: Path | None = None
    """Write the bound port here once listening (for scripts when listening on port 0)."""
    min_free_mb: int = AdmissionLimits.min_free_bytes // 2**20
    """Take no events while the database's disk has less free space (MiB) than this."""
    device_events_per_s: float = AdmissionLimits.device_events_per_s
    """Sustained events per second one device may send (admission.py)."""
    commit_window_ms: float = IngestLimits.max_group_delay_s * 1000
    """How long a Report may wait for others to share its commit: latency against CPU."""
    publish_interval_s: float = DEFAULT_INTERVAL_S
    """Publish the lake (what reports read) this often; 0: never."""
    import_dir: Path | None = None
    """Folder watched for organisation CSV exports (samples/org/README.md); unset: none."""
    metrics_listen: str = ""
    """HOST:PORT serving metrics over HTTP; empty: no metrics endpoint."""
    log_level: str = "info"
    """debug, info, warning or error."""
    log_format: LogFormat = "text"
    """text (one line per record) or json (one object per line, for log shippers)."""

    def validate(self) -> CollectorConfig:
        """What no single value shows: plaintext only on loopback."""
        try:
            check_transport(parse_listen(self.listen)[0], self.plaintext)
        except TransportError as error:
            raise SettingError("plaintext", str(error)) from None
        return self

    def admission_limits(self) -> AdmissionLimits:
        return AdmissionLimits(
            device_events_per_s=self.device_events_per_s,
            min_free_bytes=self.min_free_mb * 2**20,
        )

    def ingest_limits(self) -> IngestLimits:
        return IngestLimits(max_group_delay_s=self.commit_window_ms / 1000)


def load_config(
    file: Path | None, environ: Mapping[str, str], overrides: Mapping[str, Any]
) -> CollectorConfig:
    """Defaults < file < environment < command line, then validated."""
    return load_effective(file, environ, overrides).config


def load_effective(
    file: Path | None,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
    flag_names: Mapping[str, str] | None = None,
) -> Effective[CollectorConfig]:
    """The validated config and where each setting came from (`check-config` prints both).

    overrides: command-line values by setting, None where the option was not given;
    flag_names: an option's name where it is not `--setting-with-dashes`.
    """
    keys = [f.name for f in fields(CollectorConfig)]
    layers = gather(keys, file, environ, ENV_PREFIX, overrides, flag_names)
    return settle(layers, CollectorConfig, converter(_KINDS))


def _address(optional: bool) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be HOST:PORT in quotes, not {show(value)}")
        if value == "" and optional:
            return value
        try:
            parse_listen(value)
        except TransportError:
            raise ValueError(f"{show(value)} is not HOST:PORT (e.g. 127.0.0.1:50051)") from None
        return value

    return convert


_KINDS: dict[str, Callable[[Any], Any]] = {
    "state_dir": path(optional=False),
    "listen": _address(optional=False),
    "plaintext": boolean,
    "port_file": path(optional=True),
    "min_free_mb": number(0, whole=True),
    "device_events_per_s": number(1),
    "commit_window_ms": number(1, 1000),
    "publish_interval_s": number(0),
    "import_dir": path(optional=True),
    "metrics_listen": _address(optional=True),
    "log_level": choice(*LOG_LEVELS),
    "log_format": choice(*FORMATS),
}
"""How each setting is read and checked; a test holds it to the dataclass's fields."""
