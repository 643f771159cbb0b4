"""Organisation CSV files (DESIGN.md §6): one file of one kind, read and checked row by row.

Pure Python, no database: this module answers "is each row well-formed on its own, and are its
keys unique in the file?". What needs the database (is this manager known, is this change older
than the version on record) is org_import's. Every bad row is reported, never only the first:
whoever fixes an HR export wants the whole list at once. samples/org/README.md is the user's
description of the formats; keep the two in step.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

KINDS = ("workgroups", "employees", "device_assignments", "training")
ORGS = ("city", "library")

MAX_ID_CHARS = 64
MAX_TEXT_CHARS = 200
MAX_EMAIL_CHARS = 254
MAX_HOSTNAME_CHARS = 253
EARLIEST_DAY = date(1970, 1, 1)  # anything earlier is a typo, not a roster date

_ID = re.compile(r"[A-Za-z0-9._-]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The kind, optionally with one date before or after it (see kind_for_file_name).
_DATED_BEFORE = re.compile(r"\d{4}-\d{2}-\d{2}[-_](?P<kind>[a-z_-]+)\.csv")
_DATED_AFTER = re.compile(r"(?P<kind>[a-z_-]+?)(?:[-_]\d{4}-\d{2}-\d{2})?\.csv")

Value = str | date | None
Record = tuple[int, list[str]]

# One file travels in one AdminService message, which the collector takes up to 4 MiB
# (server.py); about 40,000 employees.
MAX_FILE_BYTES = 4 * 1024 * 1024 - 64 * 1024


@dataclass(frozen=True)
class RowError:
    """One thing wrong with one row (or the header, line 1) of one file."""

    file: str
    line: int
    """1-based line of the file where the row starts; the header is line 1."""
    column: str
    """The column at fault; empty when the row or file as a whole is."""
    reason: str

    def __str__(self) -> str:
        column = f" {self.column}:" if self.column else ""
        return f"{self.file}:{self.line}:{column} {self.reason}"


class OrgImportError(ValueError):
    """A file that was not imported, with every reason why.

    The data lives in `args` so the exception pickles as itself: it crosses the pipe from the
    collector's writer process (writer_process.py).
    """

    def __init__(self, file_name: str, errors: Sequence[RowError]) -> None:
        super().__init__(file_name, tuple(errors))

    @property
    def file_name(self) -> str:
        name: str = self.args[0]
        return name

    @property
    def errors(self) -> tuple[RowError, ...]:
        errors: tuple[RowError, ...] = self.args[1]
        return errors

    def __str__(self) -> str:
        lines = [f"{self.file_name}: not imported, {len(self.errors)} error(s)"]
        return "\n".join(lines + [str(error) for error in self.errors])


@dataclass(frozen=True)
class Row:
    """A well-formed data row: its line and each column's value, parsed."""

    line: int
    values: Mapping[str, Value]

    def text(self, column: str) -> str:
        value = self.values[column]
        assert isinstance(value, str), column
        return value

    def optional(self, column: str) -> str | None:
        value = self.values[column]
        assert value is None or isinstance(value, str), column
        return value

    def day(self, column: str) -> date | None:
        value = self.values[column]
        assert value is None or isinstance(value, date), column
        return value


@dataclass(frozen=True)
class ParsedFile:
    kind: str
    file_name: str
    rows: tuple[Row, ...]
    """The rows with nothing wrong, in file order."""
    errors: tuple[RowError, ...]
    rows_read: int
    """Data rows in the file (blank lines not counted), good or bad."""
    keys: frozenset[tuple[Value, ...]]
    """Every well-formed key in the file, bad rows included: a reference to a row that is
    wrong for another reason is not reported a second time as unknown."""


# A column's parser: the stripped text and the import day -> the value, or ValueError(reason).
Parser = Callable[[str, date], Value]


@dataclass(frozen=True)
class KindSpec:
    kind: str
    columns: tuple[tuple[str, Parser], ...]
    key: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


def _required(value: str) -> str:
    if not value:
        raise ValueError("required")
    return value


def _identifier(value: str, _today: date) -> str:
    if len(_required(value)) > MAX_ID_CHARS:
        raise ValueError(f"longer than {MAX_ID_CHARS} characters")
    if not _ID.fullmatch(value):
        raise ValueError(f"{value!r} is not an id (letters, digits, '.', '_', '-')")
    return value


def _optional_identifier(value: str, today: date) -> str | None:
    return _identifier(value, today) if value else None


def _org(value: str, _today: date) -> str:
    if _required(value) not in ORGS:
        raise ValueError(f"{value!r} is not an organisation ({' or '.join(ORGS)})")
    return value


def _text(value: str, _today: date) -> str:
    if len(_required(value)) > MAX_TEXT_CHARS:
        raise ValueError(f"longer than {MAX_TEXT_CHARS} characters")
    if _CONTROL.search(value):
        raise ValueError("contains a line break or other control character")
    return value


def _email(value: str, _today: date) -> str | None:
    if not value:
        return None
    if len(value) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _hostname(value: str, _today: date) -> str:
    """Host names compare case-insensitively (004_organisation.sql), so they are kept lower-case."""
    host = _required(value).lower()
    labels = host.split(".")
    if len(host) > MAX_HOSTNAME_CHARS or not all(_HOST_LABEL.fullmatch(x) for x in labels):
        raise ValueError(f"{value!r} is not a host name")
    return host


def _day(value: str, today: date) -> date:
    if not _DAY.fullmatch(_required(value)):
        raise ValueError(f"{value!r} is not a day (YYYY-MM-DD)")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a day of the calendar") from None
    if day < EARLIEST_DAY:
        raise ValueError(f"{value} is before {EARLIEST_DAY}")
    if day > today:
        # The roster records what is, and training what was done: a future change is imported
        # when it takes effect, so no version ever starts after the day it was recorded.
        raise ValueError(f"{value} is in the future (the import day is {today})")
    return day


def _optional_day(value: str, today: date) -> date | None:
    return _day(value, today) if value else None


SPECS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            "workgroups",
            (
                ("workgroup_id", _identifier),
                ("org", _org),
                ("name", _text),
                ("director_id", _optional_identifier),
                ("effective_from", _optional_day),
            ),
            key=("workgroup_id",),
        ),
        KindSpec(
            "employees",
            (
                ("employee_id", _identifier),
                ("org", _org),
                ("full_name", _text),
                ("email", _email),
                ("workgroup_id", _optional_identifier),
                ("manager_id", _optional_identifier),
                ("effective_from", _optional_day),
            ),
            key=("employee_id",),
        ),
        KindSpec(
            "device_assignments",
            (
                ("hostname", _hostname),
                ("org", _org),
                ("employee_id", _identifier),
                ("effective_from", _optional_day),
            ),
            key=("hostname",),
        ),
        KindSpec(
            "training",
            (("employee_id", _identifier), ("course", _text), ("completed_on", _day)),
            key=("employee_id", "course", "completed_on"),
        ),
    )
}


def kind_for_file_name(name: str) -> str | None:
    """The kind a file's name announces, or None.

    The rule: ignoring case, the name is `<kind>.csv`, optionally with one date (YYYY-MM-DD)
    before or after the kind, joined by '-' or '_': `employees.csv`,
    `employees-2026-11-20.csv`, `2026-11-20_training.csv`. `device-assignments` is accepted for
    `device_assignments`. Anything else (other words, two dates, hidden files) is None.
    """
    lowered = name.lower()
    match = _DATED_BEFORE.fullmatch(lowered) or _DATED_AFTER.fullmatch(lowered)
    if match is None:
        return None
    kind = match.group("kind").replace("-", "_")
    return kind if kind in KINDS else None


def parse_org_csv(kind: str, file_name: str, content: bytes, *, today: date) -> ParsedFile:
    """Read one file of `kind`: its good rows and every error (errors sorted by line)."""
    spec = SPECS[kind]
    errors: list[RowError] = []
    records = _records(file_name, content, errors)
    header = next(records, None)
    if header is None:
        if not errors:
            errors.append(RowError(file_name, 1, "", "empty file: the header row is required"))
        return ParsedFile(kind, file_name, (), tuple(errors), 0, frozenset())
    columns = _header(spec, file_name, header, errors)
    if columns is None:
        return ParsedFile(kind, file_name, (), tuple(errors), 0, frozenset())
    rows: list[Row] = []
    keys: set[tuple[Value, ...]] = set()
    first_line: dict[tuple[Value, ...], int] = {}
    rows_read = 0
    for line, fields in records:
        rows_read += 1
        row = _row(spec, file_name, line, columns, fields, today, errors)
        key = _key(spec, row)
        if key is None:
            continue
        keys.add(key)
        if key in first_line:
            reason = f"duplicate {', '.join(spec.key)}: also on line {first_line[key]}"
            errors.append(RowError(file_name, line, spec.key[0], reason))
            continue
        first_line[key] = line
        if isinstance(row, Row):
            rows.append(row)
    errors.sort(key=lambda error: error.line)
    return ParsedFile(kind, file_name, tuple(rows), tuple(errors), rows_read, frozenset(keys))


def _records(file_name: str, content: bytes, errors: list[RowError]) -> Iterator[Record]:
    """(first line, fields) of each non-blank record. Undecodable or malformed CSV ends the
    file with one error: nothing after it can be read reliably."""
    try:
        text = content.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        errors.append(RowError(file_name, line, "", "not UTF-8 text"))
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(RowError(file_name, line, "", f"not valid CSV: {exc}"))
            return
        if any(field.strip() for field in fields):  # blank lines and ",,," are skipped
            yield line, fields


def _header(
    spec: KindSpec, file_name: str, header: Record, errors: list[RowError]
) -> tuple[str, ...] | None:
    """The column of each position, or None (errors added) when the header is not the kind's."""
    line, names = header
    found = tuple(name.strip() for name in names)
    before = len(errors)
    for position, name in enumerate(found):
        if name not in spec.names:
            reason = f"unknown column for {spec.kind}: expected {', '.join(spec.names)}"
            errors.append(RowError(file_name, line, name or f"#{position + 1}", reason))
        elif found.index(name) != position:
            errors.append(RowError(file_name, line, name, "column appears twice"))
    for name in spec.names:
        if name not in found:
            errors.append(RowError(file_name, line, name, "column missing from the header"))
    return found if len(errors) == before else None


def _row(
    spec: KindSpec,
    file_name: str,
    line: int,
    columns: tuple[str, ...],
    fields: list[str],
    today: date,
    errors: list[RowError],
) -> Row | dict[str, Value]:
    """A Row when every field parses, else the values that did (for its key) with errors added."""
    if len(fields) != len(columns):
        reason = f"{len(fields)} fields, but the header has {len(columns)}"
        errors.append(RowError(file_name, line, "", reason))
        return {}
    parsers = dict(spec.columns)
    values: dict[str, Value] = {}
    bad = False
    for column, field in zip(columns, fields, strict=True):
        try:
            values[column] = parsers[column](field.strip(), today)
        except ValueError as exc:
            errors.append(RowError(file_name, line, column, str(exc)))
            bad = True
    return values if bad else Row(line, values)


def _key(spec: KindSpec, row: Row | dict[str, Value]) -> tuple[Value, ...] | None:
    values = row.values if isinstance(row, Row) else row
    if not all(column in values for column in spec.key):
        return None
    return tuple(values[column] for column in spec.key)
