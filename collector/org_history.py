"""The roster's history: what one snapshot file changes in the versions on record.

Workgroups, employees and device assignments arrive as full snapshots of each organisation that
appears in the file. Against the current versions (valid_to NULL) a snapshot row is either
identical (nothing happens), new, or changed (the current version is closed where the new one
starts, and the new one is added); a current version of a covered organisation that the file no
longer lists is closed at the start of the import day. Nothing is ever edited otherwise
(004_organisation.sql). Pure: org_import loads the versions and writes the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from collector.org_csv import ParsedFile, Row, RowError, Value


@dataclass(frozen=True)
class History:
    """How one versioned table is keyed and what a change is."""

    table: str
    key: str
    attributes: tuple[str, ...]
    """The columns compared between a row and its current version; org comes first."""

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key, *self.attributes)


HISTORIES = {
    "workgroups": History("workgroups", "workgroup_id", ("org", "name", "director_id")),
    "employees": History(
        "employees",
        "employee_id",
        ("org", "full_name", "email", "workgroup_id", "manager_id"),
    ),
    "device_assignments": History("device_assignments", "hostname", ("org", "employee_id")),
}


@dataclass(frozen=True)
class Version:
    """A current version as stored."""

    attributes: tuple[Value, ...]
    valid_from: datetime
    """Naive UTC."""
    since: date
    """valid_from as a day in the organisation's time zone, for messages."""

    @property
    def org(self) -> str:
        return str(self.attributes[0])


@dataclass
class SnapshotPlan:
    closes: list[tuple[str, datetime]] = field(default_factory=list)
    """(key, valid_to) of each current version to close."""
    inserts: list[tuple[Row, datetime]] = field(default_factory=list)
    """(row, valid_from) of each new version."""
    missing: int = 0
    """Current versions closed because the file no longer lists them."""
    errors: list[RowError] = field(default_factory=list)

    @property
    def rows_changed(self) -> int:
        """New versions plus versions closed for being missing (a change counts once)."""
        return len(self.inserts) + self.missing


def effective_day(row: Row, import_day: Mapping[str, date]) -> date:
    """The row's effective_from, or the import day of its organisation when left empty."""
    return row.day("effective_from") or import_day[row.text("org")]


def plan_snapshot(
    parsed: ParsedFile,
    history: History,
    current: Mapping[str, Version],
    day_start: Mapping[tuple[str, date], datetime],
    import_day: Mapping[str, date],
) -> SnapshotPlan:
    """What the file changes. day_start maps (org, day) to that day's 00:00 local time as naive
    UTC, for every effective day of the file and every organisation's import day."""
    plan = SnapshotPlan()
    listed: set[str] = set()
    for row in parsed.rows:
        key = row.text(history.key)
        listed.add(key)
        attributes = tuple(row.values[column] for column in history.attributes)
        version = current.get(key)
        if version is not None and version.attributes == attributes:
            continue
        org = row.text("org")
        starts = day_start[(org, effective_day(row, import_day))]
        if version is not None and starts < version.valid_from:
            reason = (
                f"{effective_day(row, import_day)} is earlier than the version on record,"
                f" in effect since {version.since}"
            )
            plan.errors.append(RowError(parsed.file_name, row.line, "effective_from", reason))
            continue
        if version is not None:
            plan.closes.append((key, starts))
        plan.inserts.append((row, starts))
    covered = {row.text("org") for row in parsed.rows}
    for key, version in sorted(current.items()):
        if key not in listed and version.org in covered:
            plan.closes.append((key, day_start[(version.org, import_day[version.org])]))
            plan.missing += 1
    return plan
