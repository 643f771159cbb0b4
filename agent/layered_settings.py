"""Settings from layers, each value remembering where it came from (STYLE.md 8).

Precedence: command line > environment (PREFIX<KEY>) > TOML file > defaults. Shared by
agent/config.py and collector/config.py: the collector may import agent code, never the reverse.
The origins serve two readers. An error names the place an operator must edit
(`/etc/commaudit/collector.toml: commit_window_ms: ...`, `COMMAUDIT_AGENT_SCAN_INTERVAL_S: ...`,
`--listen: ...`); `check-config` prints each effective value beside its source. Converting and
checking the values stays with each config module: only they know what a value means.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, Self, TypeVar


class ConfigError(ValueError):
    """A setting is missing, malformed or unsafe; the message says where and why."""


class SettingError(ConfigError):
    """One setting's value is wrong; `settle` adds where that value came from."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class Origin:
    source: str
    """default, file, env or flag."""
    where: str = ""
    """The file's path, the environment variable or the option; empty for a default."""

    def names(self, key: str) -> str:
        """What an operator edits: `FILE: key`, `VARIABLE`, `--option`, or the key itself."""
        if self.source == "file":
            return f"{self.where}: {key}"
        return self.where or key


DEFAULT = Origin("default")


@dataclass
class Layers:
    """Raw values by key (the highest layer's win) and where each came from."""

    keys: Sequence[str]
    """Every known setting, in the order check-config prints them."""
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)

    def put(self, key: str, value: Any, origin: Origin) -> None:
        self.values[key] = value
        self.origins[key] = origin

    def blame(self, error: SettingError) -> ConfigError:
        """The error, said from where its value came."""
        where = self.origins.get(error.key, DEFAULT).names(error.key)
        return ConfigError(f"{where}: {error.reason}")


def gather(
    keys: Sequence[str],
    file: Path | None,
    environ: Mapping[str, str],
    env_prefix: str,
    flags: Mapping[str, Any],
    flag_names: Mapping[str, str] | None = None,
) -> Layers:
    """The raw values of every layer; unknown keys are refused, all of them in one message.

    flags: command-line values by key, None where the option was not given; flag_names: the
    option of a key when it is not `--key-with-dashes`.
    """
    layers, unknown = Layers(keys), []
    if file is not None:
        for key, value in read_toml(file).items():
            if key in keys:
                layers.put(key, value, Origin("file", str(file)))
            else:
                unknown.append(_unknown(f"{file}: {key}", key, keys, ""))
    for variable, value in sorted(environ.items()):
        if variable.startswith(env_prefix):
            key = variable[len(env_prefix) :].lower()
            if key in keys:
                layers.put(key, value, Origin("env", variable))
            else:
                unknown.append(_unknown(variable, key, keys, env_prefix))
    if unknown:
        raise ConfigError("\n".join(unknown))
    names = flag_names or {}
    for key, value in flags.items():
        if value is not None:
            layers.put(key, value, Origin("flag", names.get(key, "--" + key.replace("_", "-"))))
    return layers


def read_toml(file: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{file}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not valid TOML: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:  # its message ends "(at line L, column C)"
        raise ConfigError(f"{file}: not valid TOML: {error}") from None


def _unknown(where: str, key: str, keys: Sequence[str], env_prefix: str) -> str:
    """`unknown setting (did you mean X?)` when one is close, else the list of known ones."""
    spelled = {k: env_prefix + k.upper() if env_prefix else k for k in keys}
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.75)
    if close:
        return f"{where}: unknown setting (did you mean {spelled[close[0]]}?)"
    return f"{where}: unknown setting (known: {', '.join(sorted(spelled.values()))})"


class Checked(Protocol):
    def validate(self) -> Self: ...


C = TypeVar("C", bound=Checked)


@dataclass(frozen=True)
class Effective(Generic[C]):
    """A validated config and, for each of its settings, where the value came from."""

    config: C
    origins: Mapping[str, Origin]

    def describe(self) -> str:
        """The settings as TOML lines, each with its source: what check-config prints."""
        rows = [
            (key, toml_value(getattr(self.config, key)), origin)
            for key, origin in self.origins.items()
        ]
        key_width = max(len(key) for key, _, _ in rows)
        value_width = max(len(value) for _, value, _ in rows)
        lines = (
            f"{key:<{key_width}} = {value:<{value_width}}  # {origin.source} {origin.where}"
            for key, value, origin in rows
        )
        return "\n".join(line.rstrip() for line in lines)


def settle(
    layers: Layers, make: Callable[..., C], convert: Callable[[str, Any], Any]
) -> Effective[C]:
    """Convert each raw value, make the config and validate it; errors name the value's origin."""
    try:
        config = make(**{key: convert(key, value) for key, value in layers.values.items()})
        config = config.validate()
    except SettingError as error:
        raise layers.blame(error) from None
    return Effective(config, {key: layers.origins.get(key, DEFAULT) for key in layers.keys})


def toml_value(value: Any) -> str:
    """A value as TOML writes it; an unset path or address is the empty string, a sequence a
    TOML array."""
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(str(value))  # JSON's string escapes are TOML's
