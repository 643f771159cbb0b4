"""A director's weekly summary email, composed from one DirectorWeek (DESIGN.md §7).

Directors answer for compliance in their workgroups (City 4.01.06 §2.2 and §4.4, Library CS3.2.2
and CS3.4.4), so the subject and the first lines of both parts say what needs their attention
(violations, overdue training, silent devices) before any totals. The message:

    multipart/alternative
        text/plain                      the same content, for clients that show no HTML
        multipart/related
            text/html                   charts referenced as cid:
            image/png ...               one part per chart that has data

Everything shown comes from the DirectorWeek, which is already scoped to the director's
workgroups: nothing is looked up here.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import jinja2

from agent.catalog import CATEGORIES
from analytics.summaries import humane
from analytics.summaries.charts import Chart, week_charts
from analytics.summaries.model import (
    CoverageFinding,
    DirectorWeek,
    OverdueTraining,
    Violation,
)

LISTED = 10
"""Rows each detail list shows; the rest are counted ("and 4 more")."""

_CID = re.compile(r"cid:([^\"'\s)>]+)")


@dataclass(frozen=True)
class ViolationRow:
    when: str
    who: str
    app: str
    how_long: str
    workgroup: str


@dataclass(frozen=True)
class TrainingRow:
    name: str
    manager: str
    standing: str
    workgroup: str


@dataclass(frozen=True)
class DeviceRow:
    host: str
    last_seen: str
    workgroup: str


@dataclass(frozen=True)
class TotalRow:
    category: str
    hours: str
    sessions: str


def attention_lines(week: DirectorWeek) -> list[str]:
    """What needs the director's attention, most urgent first; [] when nothing does."""
    lines = []
    if week.violations:
        lines.append(
            f"{humane.plural(len(week.violations), 'violation')} of workgroup restrictions"
            f"{_cited(v.clause for v in week.violations)}, {_against_last_week(week)}"
        )
    if week.training_overdue:
        lines.append(
            f"{humane.plural(len(week.training_overdue), 'employee')} overdue for training"
            f"{_cited(t.clause for t in week.training_overdue)}"
        )
    silent = week.silent_devices
    if silent:
        lines.append(
            f"{humane.plural(len(silent), 'silent device')}: not heard from lately, so "
            f"{'its' if len(silent) == 1 else 'their'} use is not known"
            f"{_cited(f.clause for f in silent)}"
        )
    return lines


def subject(week: DirectorWeek) -> str:
    """'commaudit week 2026-W47, Finance: 3 violations, 2 overdue training, 1 silent device'."""
    counts = []
    if week.violations:
        counts.append(humane.plural(len(week.violations), "violation"))
    if week.training_overdue:
        counts.append(f"{humane.count(len(week.training_overdue))} overdue training")
    if week.silent_devices:
        counts.append(humane.plural(len(week.silent_devices), "silent device"))
    needs = ", ".join(counts) or "nothing needs your attention"
    return f"commaudit week {week.week.label}, {_workgroups_short(week)}: {needs}"


def compose(week: DirectorWeek, sender: str, message_id: str, date: datetime) -> EmailMessage:
    """The email for the director; ValueError when the roster gives them no address."""
    director = week.director
    if director.email is None:
        raise ValueError(f"director {director.employee_id} has no email address in the roster")
    charts = week_charts(week)
    context = _context(week, {chart.kind: chart for chart in charts})
    message = EmailMessage()
    message["Subject"] = subject(week)
    message["From"] = sender
    message["To"] = Address(display_name=director.full_name, addr_spec=director.email)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["X-Commaudit-Week"] = week.week.label
    message["X-Commaudit-Director"] = director.employee_id
    # Quoted-printable: 7-bit safe through any relay, whatever the names and lines hold.
    text, html_text = (_templates().get_template(f"summary.{kind}") for kind in ("txt", "html"))
    message.set_content(text.render(context), cte="quoted-printable")
    message.add_alternative(html_text.render(context), "html", cte="quoted-printable")
    html = message.get_body(("html",))
    assert isinstance(html, EmailMessage)
    for chart in charts:
        html.add_related(
            chart.png, "image", "png", cid=f"<{chart.content_id}>", filename=chart.filename,
            disposition="inline",
        )  # fmt: skip
    return message


def html_preview(message: EmailMessage) -> str:
    """The HTML part with each cid: image inlined as a data: URI, as a mail client shows it.

    A reference with no attached part is left as it is, so that a browser shows it missing.
    """
    html = message.get_body(("html",))
    if html is None:
        raise ValueError("the message has no HTML part")
    images = {}
    for part in message.walk():
        content_id, payload = part.get("Content-ID"), part.get_payload(decode=True)
        if content_id and part.get_content_maintype() == "image" and isinstance(payload, bytes):
            data = base64.b64encode(payload).decode("ascii")
            images[content_id.strip().strip("<>")] = f"data:{part.get_content_type()};base64,{data}"
    return _CID.sub(lambda found: images.get(found.group(1), found.group(0)), html.get_content())


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("analytics.summaries"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _context(week: DirectorWeek, charts: dict[str, Chart]) -> dict[str, object]:
    director = week.director
    sunday = week.week.monday + timedelta(days=6)
    violations = sorted(week.violations, key=lambda v: (-v.minutes, v.start))
    training = week.training_overdue
    silent = week.silent_devices
    return {
        "subject": subject(week),
        "greeting": f"Dear {director.title} {director.full_name},",
        "workgroups": _workgroups_long(week),
        "several_workgroups": len(director.workgroups) > 1,
        "week_label": week.week.label,
        "week_span": f"{humane.day(week.week.monday)} to {humane.day_with_year(sunday)}",
        "snapshot": f"{humane.day_time(week.snapshot_at)} (snapshot {week.snapshot_id})",
        "attention": attention_lines(week),
        "all_clear": _all_clear(week),
        "violations": [_violation_row(week, v) for v in violations[:LISTED]],
        "violations_more": _more(violations[LISTED:], "violation"),
        "violations_clause": _cited(v.clause for v in violations),
        "violations_total": humane.minutes_text(sum((v.minutes for v in violations), Decimal())),
        "training": [_training_row(week, t) for t in training[:LISTED]],
        "training_more": _more(training[LISTED:], "employee"),
        "training_clause": _cited(t.clause for t in training),
        "silent": [_device_row(week, f) for f in silent[:LISTED]],
        "silent_more": _more(silent[LISTED:], "device"),
        "silent_clause": _cited(f.clause for f in silent),
        "totals": _totals(week),
        "charts": charts,
    }


def _violation_row(week: DirectorWeek, violation: Violation) -> ViolationRow:
    who = violation.employee_name or f"no employee on record (device {violation.device_id})"
    return ViolationRow(
        when=humane.day_time(violation.start),
        who=who,
        app=f"{violation.app_id} ({humane.category_label(violation.category)})",
        how_long=humane.minutes_text(violation.minutes),
        workgroup=week.workgroup_name(violation.workgroup_id),
    )


def _training_row(week: DirectorWeek, row: OverdueTraining) -> TrainingRow:
    if row.last_trained_on is None:
        standing = "never trained"
    else:
        standing = f"last trained {humane.day_with_year(row.last_trained_on)}"
        if row.days_overdue is not None:
            standing += f", {humane.plural(row.days_overdue, 'day')} overdue"
    return TrainingRow(
        name=row.full_name,
        manager=row.manager_name or "none on record",
        standing=standing,
        workgroup=week.workgroup_name(row.workgroup_id),
    )


_HEARD = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}) UTC")


def _device_row(week: DirectorWeek, finding: CoverageFinding) -> DeviceRow:
    # The coverage report says when in its detail ("last heard from at 2026-11-19 16:42 UTC");
    # shown the way the rest of the email writes times.
    last_seen = _HEARD.sub(
        lambda m: humane.day_time(datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}")),
        finding.detail,
    )
    return DeviceRow(
        host=finding.hostname or finding.device_id or "unknown device",
        last_seen=last_seen.replace(" at ", " "),
        workgroup=week.workgroup_name(finding.workgroup_id),
    )


def _totals(week: DirectorWeek) -> list[TotalRow]:
    """Hours and sessions by category, summed from the usage report's rows, so that they are
    the figures `commaudit report usage --week W --workgroup X` gives an analyst."""
    hours: dict[str, Decimal] = {}
    sessions: dict[str, int] = {}
    for app_row in week.usage:
        hours[app_row.category] = hours.get(app_row.category, Decimal()) + app_row.hours
        sessions[app_row.category] = sessions.get(app_row.category, 0) + app_row.sessions
    used = set(hours) | set(sessions)
    order = [c for c in CATEGORIES if c in used] + sorted(used - set(CATEGORIES))
    rows = [
        TotalRow(
            humane.category_label(c),
            humane.hours_text(hours.get(c, Decimal())),
            humane.count(sessions.get(c, 0)),
        )
        for c in order
    ]
    if len(rows) > 1:
        rows.append(
            TotalRow(
                "All categories",
                humane.hours_text(sum(hours.values(), Decimal())),
                humane.count(sum(sessions.values())),
            )
        )
    return rows


def _against_last_week(week: DirectorWeek) -> str:
    now, before = len(week.violations), week.previous_week_violations
    if before == 0:
        return "none the week before"
    if now == before:
        return f"as many as the week before ({humane.count(before)})"
    return f"{'up' if now > before else 'down'} from {humane.count(before)} the week before"


def _all_clear(week: DirectorWeek) -> str:
    before = week.previous_week_violations
    since = f" ({humane.count(before)} the week before)" if before else ""
    return f"no violations{since}, no one overdue for training, no silent devices"


def _cited(clauses: Iterable[str | None]) -> str:
    """' (4.01.06 §4.4)': the distinct clauses the rows cite, in their order."""
    distinct = list(dict.fromkeys(c for c in clauses if c))
    return f" ({', '.join(distinct)})" if distinct else ""


def _more(rest: Sequence[object], noun: str) -> str:
    return f"and {humane.plural(len(rest), 'more ' + noun)}" if rest else ""


def _workgroups_short(week: DirectorWeek) -> str:
    """'Finance', 'Finance and Parks', 'Finance and 2 more': short enough for a subject."""
    names = [wg.name for wg in week.director.workgroups] or ["no workgroup"]
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]} and {len(names) - 1} more"


def _workgroups_long(week: DirectorWeek) -> str:
    names = [wg.name for wg in week.director.workgroups] or ["no workgroup"]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
