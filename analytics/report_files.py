"""Reports as `.sql` files with a header, described by a small dataclass (STYLE.md 11).

Why files: an analyst reads, reviews and runs the SQL as it is; the header says which policy
clause each report serves, and every rendering of a result shows it. The header is the first
block of `--` lines:

    -- name: usage
    -- description: hours of use by communication category and app
    -- clause: City 4.01.06 §1.1 / Library CS3.1 (...)
    -- params: from, to, device

Every field is required (a file without one is refused, naming the file); `params` may be
empty for SQL that takes none, and lists the `$name` parameters the runner must be given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

_FIELD = re.compile(r"^--\s*(name|description|clause|params):\s*(.*?)\s*$")
_REQUIRED = ("name", "description", "clause", "params")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class ReportFileError(ValueError):
    """A report file's header is incomplete or wrong; the message names the file."""


@dataclass(frozen=True)
class ReportFile:
    """One SQL file as shipped: what it answers, for which clause, and what it needs."""

    name: str
    description: str
    clause: str
    params: tuple[str, ...]
    sql: str


def parse_report(text: str, source: str) -> ReportFile:
    """Read the header block; `source` names the file in every error."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        match = _FIELD.match(line)
        if match:
            fields[match.group(1)] = match.group(2)
    for field in _REQUIRED:
        if field not in fields or (field != "params" and not fields[field]):
            raise ReportFileError(f"{source}: header has no '-- {field}:' line")
    params = tuple(p.strip() for p in fields["params"].split(",") if p.strip())
    for param in params:
        if not _NAME.fullmatch(param):
            raise ReportFileError(f"{source}: parameter {param!r} is not a plain name")
    return ReportFile(fields["name"], fields["description"], fields["clause"], params, text)


def _folder(name: str) -> Traversable:
    return resources.files("analytics") / name


def _load(entry: Traversable, source: str) -> ReportFile:
    report = parse_report(entry.read_text(encoding="utf-8"), source)
    if f"{report.name}.sql" != entry.name:
        raise ReportFileError(f"{source}: header names it {report.name!r}")
    return report


def load_report(name: str) -> ReportFile:
    """The report called `name`; a ValueError listing the known ones when there is none."""
    entry = _folder("reports") / f"{name}.sql"
    if not _NAME.fullmatch(name) or not entry.is_file():
        known = ", ".join(report.name for report in list_reports())
        raise ValueError(f"no report named {name!r} (known: {known})")
    return _load(entry, f"reports/{name}.sql")


def list_reports() -> list[ReportFile]:
    """Every shipped report, by name."""
    entries = sorted(_folder("reports").iterdir(), key=lambda entry: entry.name)
    return [
        _load(entry, f"reports/{entry.name}") for entry in entries if entry.name.endswith(".sql")
    ]


def sessions_query() -> ReportFile:
    """The reference derivation of sessions from events (sql/sessions.sql); the collector
    keeps the `sessions` table equal to it."""
    return _load(_folder("sql") / "sessions.sql", "sql/sessions.sql")


def summary_query(name: str) -> ReportFile:
    """One of the weekly summaries' own queries (summaries/NAME.sql): who receives one, and
    the names it mentions; they are not reports an operator runs."""
    return _load(_folder("summaries") / f"{name}.sql", f"summaries/{name}.sql")


def session_people_query() -> ReportFile:
    """The query giving each session its organisation, employee and workgroup at its start
    (sql/session_people.sql), which the runner makes a view before every report."""
    return _load(_folder("sql") / "session_people.sql", "sql/session_people.sql")
