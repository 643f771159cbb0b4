"""How the collector's log lines look: text for a person at a terminal, JSON for a log pipeline.

JSON is one object per line: `time` (UTC, ISO 8601, milliseconds), `level`, `logger`, `message`,
then any `extra={...}` fields the call gave, and `exception` (the formatted traceback) when
there is one. A message with line breaks stays on one line (JSON escapes them), so a collector
such as journald or a log shipper never splits a record.

What the collector logs at INFO (and above) about people and devices: device ids (pseudonymous,
issued at enrollment), the organisation and ownership of an enrolled device, operator ids
(operators act in a role and are accountable; the audit log keeps the same) and network peers
of refused or enrolling calls (security). Never at INFO: host names, OS user names, employee
ids, app ids or sessions of a person.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _iso_utc(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def configure_logging(
    level: int | str = logging.INFO, fmt: LogFormat = "text", stream: IO[str] | None = None
) -> None:
    """Send every logger's records at `level` and above to `stream` (stderr) as `fmt`;
    replaces the root logger's handlers, so calling it again changes the format."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


def current_setup() -> tuple[int, LogFormat]:
    """The level and format this process logs with, for a child process (the writer) to log
    the same way: a spawned interpreter starts with no logging set up at all."""
    root = logging.getLogger()
    json_handler = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    level = root.level if root.handlers else logging.INFO
    return level, "json" if json_handler else "text"
