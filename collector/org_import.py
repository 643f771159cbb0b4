"""Importing one organisation CSV file into the collector's database (DESIGN.md §6).

`import_org_file` runs inside a transaction its caller opened (Writer.transaction), so a file is
imported whole or not at all: every error (the file's own, org_csv; references to the database,
here; history, org_history) is collected first, and any one of them raises OrgImportError with
the complete list before anything is written. The same content imported again for the same
kind is recognised by its SHA-256 and changes nothing, even when later files have changed the
roster since: importing a file is idempotent, it is never a way back.

Reference rules, decided here:
- employees.workgroup_id: a current workgroup of the employee's organisation;
- employees.manager_id: an employee in the same file, or a current one of an organisation the
  file does not cover (the file replaces the covered ones), and never the employee themself;
- workgroups.director_id: not checked, because workgroups are usually imported before the
  employees who direct them; the restriction and summary code resolves it when it is used;
- device_assignments.employee_id: a current employee of the device's organisation;
- training.employee_id: any employee ever on record (training outlives a departure).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pyarrow as pa

from collector.org_csv import KINDS, OrgImportError, ParsedFile, Row, RowError, parse_org_csv
from collector.org_history import HISTORIES, History, Version, effective_day, plan_snapshot
from collector.store import registered, with_table

__all__ = ["KINDS", "ImportSummary", "OrgImportError", "RowError", "import_org_file"]

_TS = "make_timestamp(?::BIGINT * 1000)"  # ms since the epoch -> naive UTC TIMESTAMP
# 00:00 of a day in a time zone, as naive UTC; ICU does the zone rules (DST included), and the
# outer timezone('UTC', ...) keeps the result independent of the session's TimeZone setting.
_DAY_STARTS = """
SELECT d.org, d.day, timezone('UTC', timezone(p.time_zone, d.day::TIMESTAMP))
FROM days AS d JOIN org_policies AS p USING (org)
"""
_IMPORT_DAYS = f"""
SELECT org, timezone(time_zone, timezone('UTC', {_TS}))::DATE FROM org_policies
"""
_INSERT_TRAINING = """
INSERT INTO training_records
SELECT b.employee_id, b.course, b.completed_on, ? FROM batch AS b
WHERE NOT EXISTS (
    SELECT 1 FROM training_records AS t
    WHERE t.employee_id = b.employee_id AND t.course = b.course
      AND t.completed_on = b.completed_on
)
"""


@dataclass(frozen=True)
class ImportSummary:
    import_id: str
    """The org_imports row; for an unchanged file, the earlier import of the same content."""
    kind: str
    file_name: str
    rows_read: int
    rows_changed: int
    """Versions added or closed (workgroups, employees, device_assignments); records added
    (training)."""
    unchanged: bool
    """The same content was imported before: nothing changed and nothing was recorded."""


def import_org_file(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    file_name: str,
    content: bytes,
    *,
    imported_by: str,
    now_ms: int,
) -> ImportSummary:
    """Import one file of `kind`, all of it, or raise OrgImportError listing every bad row."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    sha256 = hashlib.sha256(content).hexdigest()
    earlier = con.execute(
        "SELECT import_id, rows_read FROM org_imports WHERE kind = ? AND sha256 = ?"
        " ORDER BY imported_at LIMIT 1",
        [kind, sha256],
    ).fetchone()
    if earlier is not None:
        return ImportSummary(earlier[0], kind, file_name, earlier[1], 0, unchanged=True)
    import_day = _import_days(con, now_ms)
    # Training has no org column: a day is in the future only if it is everywhere.
    parsed = parse_org_csv(kind, file_name, content, today=max(import_day.values()))
    import_id = uuid.uuid4().hex
    if kind == "training":
        changed = _import_training(con, parsed, import_id)
    else:
        changed = _import_snapshot(con, parsed, HISTORIES[kind], import_day, import_id)
    con.execute(
        f"INSERT INTO org_imports VALUES (?, ?, ?, ?, {_TS}, ?, ?, ?)",
        [import_id, kind, file_name, sha256, now_ms, imported_by, parsed.rows_read, changed],
    )
    return ImportSummary(import_id, kind, file_name, parsed.rows_read, changed, unchanged=False)


def _import_snapshot(
    con: duckdb.DuckDBPyConnection,
    parsed: ParsedFile,
    history: History,
    import_day: Mapping[str, date],
    import_id: str,
) -> int:
    current = _current_versions(con, history)
    errors = list(parsed.errors)
    errors += _reference_errors(con, parsed, current)
    days = {(row.text("org"), effective_day(row, import_day)) for row in parsed.rows}
    days |= set(import_day.items())
    plan = plan_snapshot(parsed, history, current, _day_starts(con, days), import_day)
    _raise_if_any(parsed.file_name, errors + plan.errors)
    _close_versions(con, history, plan.closes)
    _add_versions(con, history, plan.inserts, import_id)
    return plan.rows_changed


def _close_versions(
    con: duckdb.DuckDBPyConnection, history: History, closes: list[tuple[str, datetime]]
) -> None:
    """Set valid_to of each key's current version: the one update history allows."""
    if not closes:
        return
    table = pa.table(
        {
            "key": [key for key, _ in closes],
            "valid_to": pa.array([at for _, at in closes], pa.timestamp("us")),
        }
    )
    sql = (
        f"UPDATE {history.table} AS t SET valid_to = c.valid_to FROM closes AS c"
        f" WHERE t.{history.key} = c.key AND t.valid_to IS NULL"
    )
    with_table(con, "closes", table, sql)


def _add_versions(
    con: duckdb.DuckDBPyConnection,
    history: History,
    inserts: list[tuple[Row, datetime]],
    import_id: str,
) -> None:
    if not inserts:
        return
    columns = {
        name: pa.array([row.values[name] for row, _ in inserts], pa.string())
        for name in history.columns
    }
    table = pa.table(
        {
            **columns,
            "valid_from": pa.array([at for _, at in inserts], pa.timestamp("us")),
            "import_id": [import_id] * len(inserts),
        }
    )
    with_table(con, "inserts", table, f"INSERT INTO {history.table} BY NAME SELECT * FROM inserts")


def _import_training(con: duckdb.DuckDBPyConnection, parsed: ParsedFile, import_id: str) -> int:
    """Training records are facts: add those not on record yet, never change one."""
    known = {row[0] for row in con.execute("SELECT DISTINCT employee_id FROM employees").fetchall()}
    errors = list(parsed.errors)
    for row in parsed.rows:
        if row.text("employee_id") not in known:
            reason = f"{row.text('employee_id')!r} is not an employee on record"
            errors.append(RowError(parsed.file_name, row.line, "employee_id", reason))
    _raise_if_any(parsed.file_name, errors)
    if not parsed.rows:
        return 0
    batch = pa.table(
        {
            "employee_id": [row.text("employee_id") for row in parsed.rows],
            "course": [row.text("course") for row in parsed.rows],
            "completed_on": pa.array([row.day("completed_on") for row in parsed.rows], pa.date32()),
        }
    )
    with registered(con, "batch", batch):
        inserted = con.execute(_INSERT_TRAINING, [import_id]).fetchone()
    return int(inserted[0]) if inserted else 0


def _reference_errors(
    con: duckdb.DuckDBPyConnection, parsed: ParsedFile, current: Mapping[str, Version]
) -> list[RowError]:
    """The rows whose ids point at nothing they may point at (the rules in the module doc)."""
    if parsed.kind == "employees":
        return list(_employee_references(parsed, current, _current_orgs(con, "workgroups")))
    if parsed.kind == "device_assignments":
        return list(_assignment_references(parsed, _current_orgs(con, "employees")))
    return []


def _employee_references(
    parsed: ParsedFile, current: Mapping[str, Version], workgroups: Mapping[str, str]
) -> Iterator[RowError]:
    covered = {row.text("org") for row in parsed.rows}
    managers = {key[0] for key in parsed.keys}
    managers |= {key for key, version in current.items() if version.org not in covered}
    for row in parsed.rows:
        org = row.text("org")
        workgroup = row.optional("workgroup_id")
        if workgroup is not None and workgroups.get(workgroup) != org:
            reason = f"{workgroup!r} is not a current workgroup of {org}"
            yield RowError(parsed.file_name, row.line, "workgroup_id", reason)
        manager = row.optional("manager_id")
        if manager == row.text("employee_id"):
            yield RowError(parsed.file_name, row.line, "manager_id", "an employee's own id")
        elif manager is not None and manager not in managers:
            reason = f"{manager!r} is not an employee in this file or on record"
            yield RowError(parsed.file_name, row.line, "manager_id", reason)


def _assignment_references(parsed: ParsedFile, employees: Mapping[str, str]) -> Iterator[RowError]:
    for row in parsed.rows:
        employee, org = row.text("employee_id"), row.text("org")
        if employees.get(employee) != org:
            reason = f"{employee!r} is not a current employee of {org}"
            yield RowError(parsed.file_name, row.line, "employee_id", reason)


def _raise_if_any(file_name: str, errors: list[RowError]) -> None:
    if errors:
        raise OrgImportError(file_name, sorted(errors, key=lambda error: error.line))


def _import_days(con: duckdb.DuckDBPyConnection, now_ms: int) -> dict[str, date]:
    """Each organisation's calendar day at now_ms, in its own time zone."""
    return dict(con.execute(_IMPORT_DAYS, [now_ms]).fetchall())


def _day_starts(
    con: duckdb.DuckDBPyConnection, days: set[tuple[str, date]]
) -> dict[tuple[str, date], datetime]:
    table = pa.table(
        {"org": [org for org, _ in days], "day": pa.array([d for _, d in days], pa.date32())}
    )
    with registered(con, "days", table):
        rows = con.execute(_DAY_STARTS).fetchall()
    return {(org, day): start for org, day, start in rows}


def _current_versions(con: duckdb.DuckDBPyConnection, history: History) -> dict[str, Version]:
    columns = ", ".join(f"v.{name}" for name in history.columns)
    rows = con.execute(
        f"SELECT {columns}, v.valid_from,"
        " timezone(p.time_zone, timezone('UTC', v.valid_from))::DATE"
        f" FROM {history.table} AS v JOIN org_policies AS p USING (org)"
        " WHERE v.valid_to IS NULL"
    ).fetchall()
    return {row[0]: Version(tuple(row[1:-2]), row[-2], row[-1]) for row in rows}


def _current_orgs(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """id -> org of the current rows of workgroups or employees."""
    key = HISTORIES[table].key
    rows = con.execute(f"SELECT {key}, org FROM {table} WHERE valid_to IS NULL").fetchall()
    return dict(rows)
