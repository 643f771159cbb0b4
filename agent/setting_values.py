"""Reading one setting's value, whatever layer it came from (layered_settings.py).

TOML gives typed values, the environment and some options give text; each converter takes
either and raises ValueError with what was expected and the value as written (cut short: it
is echoed into logs). Shared by the collector's and the summaries' settings, so every config
error reads the same way; checks that need a setting's meaning stay with its config module.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agent.layered_settings import SettingError

Converter = Callable[[Any], Any]


def converter(kinds: Mapping[str, Converter]) -> Callable[[str, Any], Any]:
    """settle()'s `convert`: the key's converter, its ValueError as that key's SettingError."""

    def convert(key: str, value: Any) -> Any:
        try:
            return kinds[key](value)
        except ValueError as error:
            raise SettingError(key, str(error)) from None

    return convert


def show(value: Any) -> str:
    """A wrong value as the operator wrote it, cut short: it is echoed into logs."""
    text = json.dumps(value) if isinstance(value, bool | str) else str(value)
    return text if len(text) <= 64 else text[:61] + "..."


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text in quotes, not {show(value)}")
    return value


def number(low: float, high: float | None = None, *, whole: bool = False) -> Converter:
    """Numbers from TOML, the command line, or text (the environment's values are text)."""
    kind = "a whole number" if whole else "a number"
    span = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"

    def convert(value: Any) -> float | int:
        found = value
        if isinstance(value, str):
            try:
                found = float(value.strip())
            except ValueError:
                found = None
        ok = isinstance(found, int | float) and not isinstance(found, bool)
        ok = ok and math.isfinite(found) and low <= found and (high is None or found <= high)
        if not ok or (whole and found != int(found)):
            raise ValueError(f"must be {kind} {span}, not {show(value)}")
        return int(found) if whole else float(found)

    return convert


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    said = value.strip().lower() if isinstance(value, str) else None
    if said in ("true", "yes", "on", "1"):
        return True
    if said in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"must be true or false, not {show(value)}")


def path(optional: bool) -> Callable[[Any], Path | None]:
    """A path, `~` expanded; empty means unset where that is allowed (TOML has no null)."""

    def convert(value: Any) -> Path | None:
        if not isinstance(value, str | Path) or (str(value) == "" and not optional):
            raise ValueError(f"must be a path, not {show(value)}")
        if str(value) == "":
            return None
        return Path(os.path.expanduser(value))

    return convert


def choice(*choices: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise ValueError(f"must be one of {', '.join(choices)}, not {show(value)}")

    return convert
