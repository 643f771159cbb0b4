"""What one director's weekly summary says, as plain values (DESIGN.md §7, weekly summaries).

Why a model of its own: the figures come from the collector (the report SQL, run over one
snapshot of the lake and scoped to the director's workgroups), and the email is composed from
them on the operator's side. Both sides meet here, so the composer never sees a query and the
gathering never sees HTML. Every value is already in the director's scope: nothing in a
DirectorWeek belongs to another workgroup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

TREND_WEEKS = 5
"""The week itself and the four before it."""


@dataclass(frozen=True)
class Week:
    """An ISO week as the reports count it: [Monday 00:00 UTC, next Monday 00:00 UTC)."""

    monday: date

    @classmethod
    def parse(cls, text: str, today: date) -> Week:
        """'2026-W47', or 'last': the newest week that has ended by `today` (what the Monday
        timer sends). A ValueError says what was expected."""
        if text.strip().lower() == "last":
            return cls(today - timedelta(days=today.weekday() + 7))
        try:
            year, _, number = text.upper().partition("-W")
            return cls(date.fromisocalendar(int(year), int(number), 1))
        except ValueError:
            raise ValueError(f"{text!r} is not an ISO week like 2026-W47, or 'last'") from None

    @property
    def label(self) -> str:
        year, number, _ = self.monday.isocalendar()
        return f"{year}-W{number:02d}"

    @property
    def next_monday(self) -> date:
        return self.monday + timedelta(days=7)

    def earlier(self, weeks: int) -> Week:
        return Week(self.monday - timedelta(days=7 * weeks))


@dataclass(frozen=True)
class Workgroup:
    workgroup_id: str
    name: str


@dataclass(frozen=True)
class Director:
    """A recipient: the employee who directs these workgroups at the end of the week."""

    employee_id: str
    full_name: str
    email: str | None
    """From the roster; None when the roster has none (the send reports it, sends nothing)."""
    org: str
    """city | library."""
    title: str
    """"Department Director" (City) or "Associate Director" (Library), from org_policies."""
    workgroups: tuple[Workgroup, ...]


@dataclass(frozen=True)
class DayUsage:
    """Hours of one category on one UTC day of the week (sessions clipped to the day)."""

    day: date
    category: str
    hours: Decimal


@dataclass(frozen=True)
class WeekUsage:
    """Hours of one category in one of the TREND_WEEKS weeks (sessions clipped to the week)."""

    monday: date
    category: str
    hours: Decimal


@dataclass(frozen=True)
class AppUsage:
    """A row of the usage report (reports/usage.sql) for the week."""

    workgroup_id: str
    category: str
    app_id: str
    devices: int
    employees: int
    sessions: int
    hours: Decimal


@dataclass(frozen=True)
class Violation:
    """A row of the violations report (reports/violations.sql) for the week."""

    workgroup_id: str
    employee_id: str | None
    employee_name: str | None
    device_id: str
    app_id: str
    category: str
    restriction_id: str
    start: datetime
    """Naive UTC, as the report gives it."""
    minutes: Decimal
    clause: str | None


@dataclass(frozen=True)
class OverdueTraining:
    """A row of the training_overdue report at the end of the week."""

    workgroup_id: str
    employee_id: str
    full_name: str
    manager_name: str | None
    last_trained_on: date | None
    """None: never trained."""
    days_overdue: int | None
    clause: str | None


@dataclass(frozen=True)
class CoverageFinding:
    """A row of the coverage report at the end of the week; `finding` is silent, seq_gap,
    old_agent, old_catalog, clock_skew or never_enrolled."""

    finding: str
    device_id: str | None
    hostname: str | None
    employee_id: str | None
    workgroup_id: str | None
    detail: str
    clause: str | None


@dataclass(frozen=True)
class DirectorWeek:
    """Everything one director's email for one week says, from one lake snapshot."""

    director: Director
    week: Week
    usage_by_day: tuple[DayUsage, ...]
    """This week only; days or categories without use are absent (read them as 0)."""
    usage_by_week: tuple[WeekUsage, ...]
    """The TREND_WEEKS weeks ending with this one; absent rows are 0."""
    usage: tuple[AppUsage, ...]
    violations: tuple[Violation, ...]
    """This week's, oldest first."""
    previous_week_violations: int
    """How many rows the violations report gave for the week before, for comparison."""
    training_overdue: tuple[OverdueTraining, ...]
    coverage: tuple[CoverageFinding, ...]
    snapshot_id: int
    snapshot_at: datetime
    """When the data was published (naive UTC): the email says how fresh it is."""

    @property
    def silent_devices(self) -> tuple[CoverageFinding, ...]:
        return tuple(f for f in self.coverage if f.finding == "silent")

    def workgroup_name(self, workgroup_id: str | None) -> str:
        for workgroup in self.director.workgroups:
            if workgroup.workgroup_id == workgroup_id:
                return workgroup.name
        return workgroup_id or "(no workgroup)"
