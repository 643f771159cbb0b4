"""The two organisations' settings: training interval (§4.3), work hours and whether the
personal-use report may run at all (§4.1: personal use is reviewed by appropriate staff only, so
it is off until an admin turns it on). Settings, not evidence: changed in place, each change in
the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from collector.weekly_schedule import ScheduleError, Window, format_schedule, parse_schedule

MAX_TRAINING_MONTHS = 120


class OrgPolicyError(ValueError):
    """A setting that cannot be taken; the message names it and why."""


@dataclass(frozen=True)
class OrgPolicyRecord:
    org: str
    organisation: str
    policy: str
    director_title: str
    time_zone: str
    training_interval_months: int
    work_hours: str
    personal_use_report: bool


def list_org_policies(con: duckdb.DuckDBPyConnection) -> list[OrgPolicyRecord]:
    rows = con.execute(
        "SELECT org, organisation, policy, director_title, time_zone, training_interval_months,"
        " work_days, work_start_minute, work_end_minute, personal_use_report"
        " FROM org_policies ORDER BY org"
    ).fetchall()
    return [
        OrgPolicyRecord(
            org, organisation, policy, title, zone, months,
            format_schedule([Window(day, start, end) for day in days]), bool(personal),
        )
        for org, organisation, policy, title, zone, months, days, start, end, personal in rows
    ]  # fmt: skip


def set_org_policy(
    con: duckdb.DuckDBPyConnection,
    *,
    org: str,
    training_interval_months: int | None,
    work_hours: str | None,
    personal_use_report: bool | None,
) -> list[OrgPolicyRecord]:
    """Change what is given, leave the rest; returns every organisation's settings."""
    if not con.execute("SELECT 1 FROM org_policies WHERE org = ?", [org]).fetchone():
        raise OrgPolicyError(f"org: {org!r} is not city or library")
    if training_interval_months is not None:
        if not 1 <= training_interval_months <= MAX_TRAINING_MONTHS:
            raise OrgPolicyError(
                f"training interval: {training_interval_months} is not 1 to"
                f" {MAX_TRAINING_MONTHS} months"
            )
        con.execute(
            "UPDATE org_policies SET training_interval_months = ? WHERE org = ?",
            [training_interval_months, org],
        )
    if work_hours is not None:
        days, start, end = _work_hours(work_hours)
        con.execute(
            "UPDATE org_policies SET work_days = ?, work_start_minute = ?, work_end_minute = ?"
            " WHERE org = ?",
            [days, start, end, org],
        )
    if personal_use_report is not None:
        con.execute(
            "UPDATE org_policies SET personal_use_report = ? WHERE org = ?",
            [personal_use_report, org],
        )
    return list_org_policies(con)


def _work_hours(text: str) -> tuple[list[int], int, int]:
    """One span of hours on some days: the shape org_policies keeps."""
    try:
        windows = parse_schedule(text)
    except ScheduleError as error:
        raise OrgPolicyError(f"work hours: {error}") from None
    spans = {(window.start_minute, window.end_minute) for window in windows}
    if len(spans) != 1:
        raise OrgPolicyError(
            f"work hours: {text!r} must be one span of hours, e.g. 'Mon-Fri 08:00-17:00'"
        )
    [(start, end)] = spans
    return sorted(window.iso_day for window in windows), start, end
