"""Restrictions a director sets on a workgroup (City 4.01.06 §4.4, Library CS3.4.4).

Versioned, never edited in place: adding makes version 1; ending (or any later change) adds the
next version, and the newest version of a restriction_id is the one in force. The policy gives
the power to the workgroup's director, so `set_by` must be that director (a director operator
can only name themself; an admin acts on a director's decision and names them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb

from agent.catalog import CATEGORIES
from collector.weekly_schedule import ScheduleError, format_schedule, parse_schedule

MAX_REASON_CHARS = 1000
_TS = "make_timestamp(?::BIGINT * 1000)"


class RestrictionError(ValueError):
    """A restriction that cannot be recorded; the message names the field and why."""


class UnknownRestriction(RestrictionError):
    """No restriction has that id (or the caller may not see it)."""


@dataclass(frozen=True)
class RestrictionRecord:
    restriction_id: str
    version: int
    org: str
    workgroup_id: str
    category: str
    app_id: str
    effective_from_ms: int
    effective_to_ms: int  # 0: open
    schedule: str
    set_by: str
    reason: str
    recorded_at_ms: int
    recorded_by: str
    clause: str


_SELECT = """
SELECT r.restriction_id, r.version, r.org, r.workgroup_id, coalesce(r.category, ''),
       coalesce(r.app_id, ''), epoch_ms(r.effective_from),
       coalesce(epoch_ms(r.effective_to), 0), coalesce(r.schedule, ''), r.set_by, r.reason,
       epoch_ms(r.recorded_at), r.recorded_by, c.clause
FROM restrictions AS r
JOIN policy_clauses AS c ON c.org = r.org AND c.topic = 'restriction'
"""


def local_day_start(con: duckdb.DuckDBPyConnection, org: str, day: date) -> int:
    """00:00 of `day` in the organisation's time zone, as UTC milliseconds: DuckDB's ICU and
    org_policies.time_zone, as the roster import (org_import.py) and the reports do."""
    row = con.execute(
        "SELECT epoch_ms(timezone('UTC', timezone(time_zone, ?::DATE::TIMESTAMP)))"
        " FROM org_policies WHERE org = ?",
        [day, org],
    ).fetchone()
    if row is None:
        raise RestrictionError(f"org: {org!r} is not city or library")
    return int(row[0])


def parse_day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RestrictionError(f"{field}: {text!r} is not a day (YYYY-MM-DD)") from None


def current_director(con: duckdb.DuckDBPyConnection, workgroup_id: str) -> tuple[str, str | None]:
    """(org, director_id) of a workgroup as it is now; RestrictionError if there is none."""
    row = con.execute(
        "SELECT org, director_id FROM workgroups WHERE workgroup_id = ? AND valid_to IS NULL",
        [workgroup_id],
    ).fetchone()
    if row is None:
        raise RestrictionError(
            f"workgroup: {workgroup_id!r} is not a current workgroup (import workgroups.csv)"
        )
    return str(row[0]), row[1]


def add_restriction(
    con: duckdb.DuckDBPyConnection,
    *,
    workgroup_id: str,
    category: str,
    app_id: str,
    effective_from: str,
    effective_to: str,
    schedule: str,
    set_by: str,
    reason: str,
    operator_id: str,
    now_ms: int,
) -> RestrictionRecord:
    """Version 1 of a new restriction, with its weekly windows."""
    org, director = current_director(con, workgroup_id)
    if bool(category) == bool(app_id):
        raise RestrictionError("restrict either a --category or an --app, not both or neither")
    if category and category not in CATEGORIES:
        raise RestrictionError(f"category: {category!r} is not one of {', '.join(CATEGORIES)}")
    if (
        app_id
        and not con.execute("SELECT 1 FROM catalog_apps WHERE app_id = ?", [app_id]).fetchone()
    ):
        raise RestrictionError(f"app: {app_id!r} is not an app of the catalog")
    if not director:
        raise RestrictionError(
            f"workgroup {workgroup_id!r} has no director on record; §4.4 gives the decision to"
            " its director (import workgroups.csv with director_id)"
        )
    if set_by != director:
        raise RestrictionError(
            f"set_by: {set_by or '(none)'!r} is not the director of {workgroup_id!r}"
            f" ({director}); §4.4 gives the decision to the workgroup's director"
        )
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise RestrictionError(f"reason: say why, in 1 to {MAX_REASON_CHARS} characters")
    start_ms = (
        local_day_start(con, org, parse_day(effective_from, "from")) if effective_from else now_ms
    )
    end_ms = local_day_start(con, org, parse_day(effective_to, "to")) if effective_to else None
    if end_ms is not None and end_ms <= start_ms:
        raise RestrictionError(f"to: {effective_to} is not after from")
    windows = []
    if schedule.strip():
        try:
            windows = parse_schedule(schedule)
        except ScheduleError as error:
            raise RestrictionError(f"schedule: {error}") from None
        schedule = format_schedule(windows)
    restriction_id = "r-" + uuid.uuid4().hex[:12]
    con.execute(
        f"INSERT INTO restrictions VALUES (?, 1, ?, ?, ?, ?, {_TS}, {_TS}, ?, ?, ?, {_TS}, ?)",
        [
            restriction_id, org, workgroup_id, category or None, app_id or None, start_ms,
            end_ms, schedule or None, set_by, reason, now_ms, operator_id,
        ],
    )  # fmt: skip
    _insert_windows(con, restriction_id, 1, [(w.iso_day, w.start_minute, w.end_minute)
                                            for w in windows])  # fmt: skip
    return get_restriction(con, restriction_id)


def end_restriction(
    con: duckdb.DuckDBPyConnection,
    *,
    restriction_id: str,
    effective_to: str,
    reason: str,
    scope: list[str] | None,
    operator_id: str,
    now_ms: int,
) -> RestrictionRecord:
    """The next version, equal but for its end (and the reason for ending it)."""
    current = get_restriction(con, restriction_id, scope)
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise RestrictionError(f"reason: say why it ends, in 1 to {MAX_REASON_CHARS} characters")
    end_ms = (
        local_day_start(con, current.org, parse_day(effective_to, "to")) if effective_to else now_ms
    )
    if current.effective_to_ms and current.effective_to_ms <= end_ms:
        raise RestrictionError(
            f"{restriction_id} already ends at or before that ({_iso(current.effective_to_ms)})"
        )
    end_ms = max(end_ms, current.effective_from_ms)  # ending before it began: it never applied
    version = current.version + 1
    con.execute(
        f"""INSERT INTO restrictions
        SELECT restriction_id, ?, org, workgroup_id, category, app_id, effective_from, {_TS},
               schedule, set_by, ?, {_TS}, ?
        FROM restrictions WHERE restriction_id = ? AND version = ?""",
        [version, end_ms, reason, now_ms, operator_id, restriction_id, current.version],
    )
    con.execute(
        """INSERT INTO restriction_windows
        SELECT restriction_id, ?, iso_day, start_minute, end_minute
        FROM restriction_windows WHERE restriction_id = ? AND version = ?""",
        [version, restriction_id, current.version],
    )
    return get_restriction(con, restriction_id)


def get_restriction(
    con: duckdb.DuckDBPyConnection, restriction_id: str, scope: list[str] | None = None
) -> RestrictionRecord:
    """The version in force; UnknownRestriction if none, or outside the caller's scope."""
    rows = con.execute(
        _SELECT + " WHERE r.restriction_id = ? ORDER BY r.version DESC LIMIT 1", [restriction_id]
    ).fetchall()
    if not rows or (scope is not None and rows[0][3] not in scope):
        raise UnknownRestriction(f"no restriction {restriction_id!r}")
    return RestrictionRecord(*rows[0])


def list_restrictions(
    con: duckdb.DuckDBPyConnection,
    *,
    org: str,
    workgroup_id: str,
    all_versions: bool,
    scope: list[str] | None,
) -> list[RestrictionRecord]:
    """Newest version of each (or every version), by workgroup, then start."""
    newest = (
        ""
        if all_versions
        else " QUALIFY r.version = max(r.version) OVER (PARTITION BY r.restriction_id)"
    )
    rows = con.execute(
        _SELECT
        + """ WHERE ($org = '' OR r.org = $org) AND ($wg = '' OR r.workgroup_id = $wg)
              AND ($scope::VARCHAR[] IS NULL OR list_contains($scope::VARCHAR[], r.workgroup_id))"""
        + newest
        + " ORDER BY r.workgroup_id, r.effective_from, r.restriction_id, r.version",
        {"org": org, "wg": workgroup_id, "scope": scope},
    ).fetchall()
    return [RestrictionRecord(*row) for row in rows]


def _insert_windows(
    con: duckdb.DuckDBPyConnection, restriction_id: str, version: int,
    windows: list[tuple[int, int, int]],
) -> None:  # fmt: skip
    for iso_day, start, end in windows:  # at most 7 x a few rows
        con.execute(
            "INSERT INTO restriction_windows VALUES (?, ?, ?, ?, ?)",
            [restriction_id, version, iso_day, start, end],
        )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
