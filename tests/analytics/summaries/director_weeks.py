"""DirectorWeek values written out by hand, so the tests state their right answers themselves.

FINANCE_WEEK: a City director with one workgroup and everything that can need attention.
LIBRARY_WEEK: a Library director with three workgroups and more violations than the list shows.
QUIET_WEEK: use, but nothing that needs attention. EMPTY_WEEK: nothing at all.
sent_and_received(): a week's email as a mail client receives it, parsed back from its bytes.
"""

from __future__ import annotations

import email.policy
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.parser import BytesParser

from analytics.summaries.compose import compose
from analytics.summaries.model import (
    AppUsage,
    CoverageFinding,
    DayUsage,
    Director,
    DirectorWeek,
    OverdueTraining,
    Violation,
    Week,
    WeekUsage,
    Workgroup,
)

W47 = Week(date(2026, 11, 16))
SNAPSHOT_AT = datetime(2026, 11, 23, 6, 0)

FINANCE = Workgroup("WG-FIN", "Finance")
PARKS = Workgroup("WG-PARKS", "Parks and Recreation")
BRANCHES = Workgroup("LWG-BR", "Branch Services")
CATALOGUING = Workgroup("LWG-CAT", "Cataloguing")
OUTREACH = Workgroup("LWG-OUT", "Community Outreach")

FINANCE_DIRECTOR = Director(
    employee_id="E1001",
    full_name="Dana Whitfield",
    email="dana.whitfield@city.example",
    org="city",
    title="Department Director",
    workgroups=(FINANCE,),
)
LIBRARY_DIRECTOR = Director(
    employee_id="L2001",
    full_name="Morgan Okafor",
    email="morgan.okafor@library.example",
    org="library",
    title="Associate Director",
    workgroups=(BRANCHES, CATALOGUING, OUTREACH),
)
PARKS_DIRECTOR = Director(
    employee_id="E3001",
    full_name="Lee Park",
    email="lee.park@city.example",
    org="city",
    title="Department Director",
    workgroups=(PARKS,),
)

FINANCE_HOURS = {
    # category: hours on Mon..Sun of W47; every category has one tall day, so that its hatch
    # fills a region large enough to be measured in the grey-scale test.
    "email": ("3.50", "4.25", "2.00", "2.75", "0", "0", "0"),
    "instant_messaging": ("1.00", "0.50", "2.50", "1.25", "0.75", "0", "0"),
    "text_messaging": ("0.25", "0", "0", "2.00", "0.50", "0", "0"),
    "social_networking": ("0", "0.50", "0", "0", "2.25", "0", "0"),
    "teleconferencing": ("2.00", "0", "2.50", "0", "1.00", "0", "0"),
    "video_sharing": ("0", "0", "0.75", "0", "2.00", "0.50", "0"),
}
"""Week totals: email 12 h 30 min, instant messaging 6 h, text messaging 2 h 45 min,
social networking 2 h 45 min, teleconferencing 5 h 30 min, video sharing 3 h 15 min."""

FINANCE_TREND = {
    # category: hours in W43..W47 (the last one equals FINANCE_HOURS' total)
    "email": ("10.00", "11.50", "9.00", "12.00", "12.50"),
    "instant_messaging": ("4.00", "5.00", "6.50", "5.50", "6.00"),
    "text_messaging": ("1.00", "0", "2.00", "1.50", "2.75"),
    "social_networking": ("0", "1.00", "0.50", "3.00", "2.75"),
    "teleconferencing": ("8.00", "6.00", "7.25", "6.00", "5.50"),
    "video_sharing": ("0", "0", "1.00", "2.00", "3.25"),
}


def _day_usage(week: Week, table: Mapping[str, tuple[str, ...]]) -> tuple[DayUsage, ...]:
    return tuple(
        DayUsage(week.monday + timedelta(days=offset), category, Decimal(hours))
        for category, days in table.items()
        for offset, hours in enumerate(days)
        if Decimal(hours) > 0
    )


def _week_usage(week: Week, table: Mapping[str, tuple[str, ...]]) -> tuple[WeekUsage, ...]:
    return tuple(
        WeekUsage(week.earlier(4 - index).monday, category, Decimal(hours))
        for category, weeks in table.items()
        for index, hours in enumerate(weeks)
        if Decimal(hours) > 0
    )


def _violation(
    workgroup: Workgroup, who: str | None, app: str, category: str, start: datetime, minutes: str,
    clause: str = "4.01.06 §4.4",
) -> Violation:  # fmt: skip
    return Violation(
        workgroup_id=workgroup.workgroup_id,
        employee_id=None if who is None else "E-" + who.split()[-1].upper(),
        employee_name=who,
        device_id="dev-" + (who or "unassigned").split()[0].lower(),
        app_id=app,
        category=category,
        restriction_id="R-" + workgroup.workgroup_id,
        start=start,
        minutes=Decimal(minutes),
        clause=clause,
    )


FINANCE_VIOLATIONS = (
    _violation(FINANCE, "Avery Stone", "youtube", "video_sharing", datetime(2026, 11, 18, 14, 5),
               "45.0"),
    _violation(FINANCE, "Blake Rivera", "youtube", "video_sharing", datetime(2026, 11, 20, 9, 30),
               "95.5"),
    _violation(FINANCE, None, "vimeo", "video_sharing", datetime(2026, 11, 21, 22, 0), "0.0"),
)  # fmt: skip
"""3 violations, 2 h 21 min in all (45 + 95.5 + 0 minutes)."""

FINANCE_WEEK = DirectorWeek(
    director=FINANCE_DIRECTOR,
    week=W47,
    usage_by_day=_day_usage(W47, FINANCE_HOURS),
    usage_by_week=_week_usage(W47, FINANCE_TREND),
    usage=(
        AppUsage("WG-FIN", "email", "outlook", 12, 11, 1_204, Decimal("12.50")),
        AppUsage("WG-FIN", "instant_messaging", "teams", 9, 9, 310, Decimal("6.00")),
        AppUsage("WG-FIN", "text_messaging", "messages", 3, 3, 41, Decimal("2.75")),
        AppUsage("WG-FIN", "social_networking", "linkedin", 4, 4, 17, Decimal("2.75")),
        AppUsage("WG-FIN", "teleconferencing", "zoom", 8, 8, 12, Decimal("5.50")),
        AppUsage("WG-FIN", "video_sharing", "youtube", 2, 2, 5, Decimal("3.25")),
    ),
    violations=FINANCE_VIOLATIONS,
    previous_week_violations=1,
    training_overdue=(
        OverdueTraining(
            "WG-FIN", "E1010", "Casey Moreau", "Jordan Ellis", date(2025, 9, 30), 54, "4.01.06 §4.3"
        ),
        OverdueTraining("WG-FIN", "E1011", "Drew Nakamura", None, None, None, "4.01.06 §4.3"),
    ),
    coverage=(
        CoverageFinding(
            "silent",
            "dev-ledger",
            "fin-ledger-07",
            "E1012",
            "WG-FIN",
            "last heard from at 2026-11-19 16:42 UTC",
            "4.01.06 §2.3",
        ),
        CoverageFinding(
            "old_agent",
            "dev-avery",
            "fin-avery-01",
            "E-STONE",
            "WG-FIN",
            "agent 0.9.1, newest in service 0.10.0",
            "4.01.06 §2.3",
        ),
    ),
    snapshot_id=4_812,
    snapshot_at=SNAPSHOT_AT,
)


def _library_violations() -> tuple[Violation, ...]:
    """14 violations: 9 in Branch Services, 5 in Cataloguing, none in Community Outreach."""
    rows = []
    for index in range(14):
        workgroup = BRANCHES if index < 9 else CATALOGUING
        start = datetime(2026, 11, 16, 8, 0) + timedelta(hours=7 * index)
        rows.append(
            _violation(workgroup, f"Reader {index:02d}", "tiktok", "social_networking", start,
                       f"{10 + index}.0", clause="CS3.4.4")
        )  # fmt: skip
    return tuple(rows)


LIBRARY_WEEK = DirectorWeek(
    director=LIBRARY_DIRECTOR,
    week=W47,
    usage_by_day=(DayUsage(date(2026, 11, 17), "email", Decimal("1234.50")),),
    usage_by_week=(WeekUsage(W47.monday, "email", Decimal("1234.50")),),
    usage=(AppUsage("LWG-BR", "email", "outlook", 40, 38, 9_876, Decimal("1234.50")),),
    violations=_library_violations(),
    previous_week_violations=20,
    training_overdue=(),
    coverage=(),
    snapshot_id=4_812,
    snapshot_at=SNAPSHOT_AT,
)

QUIET_WEEK = DirectorWeek(
    director=PARKS_DIRECTOR,
    week=W47,
    usage_by_day=(DayUsage(date(2026, 11, 18), "teleconferencing", Decimal("0.75")),),
    usage_by_week=(
        WeekUsage(W47.earlier(1).monday, "teleconferencing", Decimal("2.00")),
        WeekUsage(W47.monday, "teleconferencing", Decimal("0.75")),
    ),
    usage=(AppUsage("WG-PARKS", "teleconferencing", "zoom", 1, 1, 3, Decimal("0.75")),),
    violations=(),
    previous_week_violations=2,
    training_overdue=(),
    coverage=(
        CoverageFinding(
            "seq_gap",
            "dev-park",
            "parks-01",
            None,
            "WG-PARKS",
            "3 events missing: seq 10..12",
            "4.01.06 §2.3",
        ),
    ),
    snapshot_id=4_812,
    snapshot_at=SNAPSHOT_AT,
)

EMPTY_WEEK = DirectorWeek(
    director=PARKS_DIRECTOR,
    week=W47,
    usage_by_day=(),
    usage_by_week=(),
    usage=(),
    violations=(),
    previous_week_violations=0,
    training_overdue=(),
    coverage=(),
    snapshot_id=4_812,
    snapshot_at=SNAPSHOT_AT,
)


SENDER = "commaudit <commaudit@city.example>"
SENT_AT = datetime(2026, 11, 23, 7, 0)


def message_id(week: DirectorWeek) -> str:
    return f"<{week.week.label}.{week.director.employee_id}@commaudit.city.example>"


def sent_and_received(week: DirectorWeek) -> EmailMessage:
    """The composed email, serialised and parsed back as a mail client would."""
    sent = compose(week, SENDER, message_id(week), SENT_AT)
    received = BytesParser(policy=email.policy.default).parsebytes(bytes(sent))
    assert isinstance(received, EmailMessage)
    return received
