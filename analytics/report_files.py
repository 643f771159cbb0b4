"""Reports as `.sql` files with a header, described by a small dataclass (STYLE.md 11).

Why files: an analyst reads, reviews and runs the SQL as it is; the header says which policy
clause each report serves, and the CLI shows it with every result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_HEADER = re.compile(r"^--\s*(name|description|clause|params):\s*(.*?)\s*$")


class ReportFileError(ValueError):
    """A report file lacks a header field; the message names the file."""


@dataclass(frozen=True)
class ReportFile:
    name: str
    description: str
    clause: str
    params: tuple[str, ...]
    sql: str


def parse_report(text: str, source: str) -> ReportFile:
    """Read the header comment lines at the top of a report file."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        match = _HEADER.match(line)
        if match:
            fields[match.group(1)] = match.group(2)
    for required in ("name", "description", "clause"):
        if not fields.get(required):
            raise ReportFileError(f"{source}: header has no '-- {required}:' line")
    params = tuple(p.strip() for p in fields.get("params", "").split(",") if p.strip())
    return ReportFile(fields["name"], fields["description"], fields["clause"], params, text)


def _sql_dir(folder: str) -> resources.abc.Traversable:
    return resources.files("analytics").joinpath(folder)


def load_report(name: str) -> ReportFile:
    """The report called `name`; ValueError listing the known ones when there is none."""
    path = _sql_dir("reports").joinpath(f"{name}.sql")
    if not re.fullmatch(r"[a-z_]+", name) or not path.is_file():
        known = ", ".join(r.name for r in list_reports())
        raise ValueError(f"no report named {name!r} (known: {known})")
    return parse_report(path.read_text(encoding="utf-8"), f"reports/{name}.sql")


def list_reports() -> list[ReportFile]:
    files = sorted(_sql_dir("reports").iterdir(), key=lambda entry: entry.name)
    return [
        parse_report(entry.read_text(encoding="utf-8"), f"reports/{entry.name}")
        for entry in files
        if entry.name.endswith(".sql")
    ]


def sessions_sql() -> str:
    """The query that derives sessions from events (analytics/sql/sessions.sql)."""
    return _sql_dir("sql").joinpath("sessions.sql").read_text(encoding="utf-8")
