"""The weekly summary's three charts as PNG images, each with alt text that says its numbers.

Why this way:
- matplotlib's object API (Figure, no pyplot): no global state, safe to draw from any thread.
- Okabe-Ito colours, told apart by people with colour-vision deficiency, and a second channel
  that survives grey-scale printing: a hatch per category on bars, a marker and a line style per
  category on lines. Yellow is left out: on white it is hard to see.
- Drawn at twice the size the email shows them (crisp on high-density screens), with no
  timestamp or software version in the PNG, so that the same week gives the same bytes.
- A chart with nothing to show is not drawn at all; the email says so in words instead.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from agent.catalog import CATEGORIES
from analytics.summaries.humane import category_label, day, hours_text, minutes_text, plural
from analytics.summaries.model import TREND_WEEKS, DirectorWeek, Week

USAGE_BY_DAY = "usage-by-day"
TREND = "trend"
VIOLATIONS_BY_WORKGROUP = "violations-by-workgroup"

WIDTH = 600
"""CSS pixels every chart is shown at; the email's column is at most 640."""
SCALE = 2
"""Device pixels per CSS pixel in the PNG."""
MAX_WORKGROUP_ROWS = 12

VERMILLION = "#D55E00"


@dataclass(frozen=True)
class Chart:
    content_id: str
    """Without angle brackets, unique per message: "usage-by-day.2026-W47.e1001@commaudit"."""
    filename: str
    png: bytes
    alt: str
    """The chart's content in words, for screen readers and mail clients that hide images."""
    width: int
    """CSS pixels the <img> is shown at (the PNG has SCALE times as many)."""
    height: int

    @property
    def kind(self) -> str:
        """USAGE_BY_DAY, TREND or VIOLATIONS_BY_WORKGROUP."""
        return PurePath(self.filename).stem


LineStyle = Literal["-", "--", ":", "-."] | tuple[float, tuple[float, ...]]
"""A named line style, or (offset, (on, off, ...)) dashes in points."""


@dataclass(frozen=True)
class CategoryStyle:
    colour: str
    hatch: str
    hatch_colour: str
    """White on the darker colours, black on the lighter: the hatch shows on both."""
    marker: str
    line_style: LineStyle


STYLES = {
    "email": CategoryStyle("#0072B2", "//", "white", "o", "-"),
    "instant_messaging": CategoryStyle("#E69F00", "\\\\", "black", "s", "--"),
    "text_messaging": CategoryStyle("#009E73", "xx", "white", "^", ":"),
    "social_networking": CategoryStyle("#CC79A7", "..", "black", "D", "-."),
    "teleconferencing": CategoryStyle("#56B4E9", "--", "black", "v", (0, (8.0, 2.0))),
    "video_sharing": CategoryStyle(VERMILLION, "||", "white", "P", (0, (4.0, 1.5, 1.0, 1.5))),
}
"""One style per policy category (agent.catalog.CATEGORIES), the same in every chart."""
OTHER_STYLE = CategoryStyle("#F0E442", "oo", "black", "X", (0, (1.0, 3.0)))
"""For a category outside the six, should the data ever carry one."""


def style(category: str) -> CategoryStyle:
    return STYLES.get(category, OTHER_STYLE)


def week_charts(week: DirectorWeek) -> list[Chart]:
    """The charts that have something to show, in the order the email shows them."""
    drawn = (_usage_by_day(week), _trend(week), _violations_by_workgroup(week))
    return [chart for chart in drawn if chart is not None]


def _usage_by_day(week: DirectorWeek) -> Chart | None:
    days = [week.week.monday + timedelta(days=offset) for offset in range(7)]
    hours: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for row in week.usage_by_day:
        hours[row.category, row.day] += row.hours
    categories = _used(hours)
    if not categories:
        return None
    figure, axes = _figure(3.3)
    bottoms = [0.0] * len(days)
    for category in categories:
        values = [float(hours[category, when]) for when in days]
        look = style(category)
        axes.bar(
            range(len(days)), values, width=0.7, bottom=bottoms, color=look.colour,
            hatch=look.hatch, hatchcolor=look.hatch_colour, edgecolor="white", linewidth=0.8,
        )  # fmt: skip
        bottoms = [below + value for below, value in zip(bottoms, values, strict=True)]
    for x, total in enumerate(bottoms):
        axes.text(x, total, hours_text(total), ha="center", va="bottom", fontsize=8.5)
    axes.set_ylim(0, max(bottoms) * 1.15)
    axes.set_xticks(range(len(days)), [day(when).replace(" ", "\n", 1) for when in days])
    _hours_axis(axes)
    _legend(figure, [_patch(category) for category in categories])
    totals = "; ".join(
        f"{category_label(category)} {hours_text(sum(hours[category, when] for when in days))}"
        for category in categories
    )
    busiest = max(range(len(days)), key=lambda index: bottoms[index])
    alt = (
        f"Hours by category per day, {day(days[0])} to {day(days[-1])}: {totals}. "
        f"Busiest day {day(days[busiest])}, {hours_text(bottoms[busiest])}."
    )
    return _chart(week, USAGE_BY_DAY, figure, alt)


def _trend(week: DirectorWeek) -> Chart | None:
    weeks = [week.week.earlier(back) for back in range(TREND_WEEKS - 1, -1, -1)]
    hours: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for row in week.usage_by_week:
        hours[row.category, row.monday] += row.hours
    categories = _used(hours)
    if not categories:
        return None
    figure, axes = _figure(3.3)
    for category in categories:
        look = style(category)
        axes.plot(
            range(len(weeks)), [float(hours[category, w.monday]) for w in weeks],
            color=look.colour, marker=look.marker, linestyle=look.line_style, linewidth=1.8,
            markersize=6.5, markeredgecolor="black", markeredgewidth=0.6,
        )  # fmt: skip
    axes.set_xticks(range(len(weeks)), [_week_tick(w, w == week.week) for w in weeks])
    axes.set_ylim(bottom=0)
    axes.margins(x=0.06)
    _hours_axis(axes)
    _legend(figure, [_line(category) for category in categories])
    series = "; ".join(
        f"{category_label(category)} "
        + ", ".join(hours_text(hours[category, w.monday]) for w in weeks)
        for category in categories
    )
    alt = (
        f"Hours by category per week, {weeks[0].label} (from {day(weeks[0].monday)}) "
        f"to {weeks[-1].label} (this week), oldest first: {series}."
    )
    return _chart(week, TREND, figure, alt)


def _violations_by_workgroup(week: DirectorWeek) -> Chart | None:
    if not week.violations:
        return None
    counts: dict[str, int] = {wg.workgroup_id: 0 for wg in week.director.workgroups}
    minutes: dict[str, Decimal] = defaultdict(Decimal)
    for violation in week.violations:
        counts[violation.workgroup_id] = counts.get(violation.workgroup_id, 0) + 1
        minutes[violation.workgroup_id] += violation.minutes
    ranked = sorted(counts, key=lambda wg: (-counts[wg], week.workgroup_name(wg)))
    shown, hidden = ranked[:MAX_WORKGROUP_ROWS], ranked[MAX_WORKGROUP_ROWS:]
    labels = [
        f"{plural(counts[wg], 'violation')}, {minutes_text(minutes[wg])}" if counts[wg] else "none"
        for wg in shown
    ]
    figure, axes = _figure(1.0 + 0.36 * len(shown))
    rows = range(len(shown))
    axes.barh(rows, [counts[wg] for wg in shown], height=0.55, color=VERMILLION)
    for row, wg, label in zip(rows, shown, labels, strict=True):
        axes.text(counts[wg], row, f"  {label}", va="center", fontsize=9)
    axes.set_yticks(rows, [week.workgroup_name(wg) for wg in shown])
    axes.invert_yaxis()
    axes.set_xlim(0, max(counts.values()) * 1.6)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("Violations this week", fontsize=9)
    axes.grid(axis="x", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    listed = "; ".join(
        f"{week.workgroup_name(wg)} {label}" for wg, label in zip(shown, labels, strict=True)
    )
    more = f"; {plural(len(hidden), 'more workgroup')} not shown" if hidden else ""
    alt = f"Violations by workgroup this week, with their minutes: {listed}{more}."
    return _chart(week, VIOLATIONS_BY_WORKGROUP, figure, alt)


def _used(hours: dict[tuple[str, date], Decimal]) -> list[str]:
    """The categories with any use: the policy's order first, then any other by name."""
    used = {category for (category, _), value in hours.items() if value > 0}
    return [c for c in CATEGORIES if c in used] + sorted(used - set(CATEGORIES))


def _figure(height_inches: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH / 100, height_inches), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=9)
    return figure, axes


def _hours_axis(axes: Axes) -> None:
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
    axes.yaxis.set_major_formatter(_formatter(hours_text))
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)


def _formatter(text: Callable[[float], str]) -> FuncFormatter:
    return FuncFormatter(lambda value, _position: text(value))


def _week_tick(week: Week, current: bool) -> str:
    return f"{week.label[5:]}{' (this week)' if current else ''}\n{day(week.monday)}"


def _patch(category: str) -> Patch:
    look = style(category)
    return Patch(
        facecolor=look.colour, hatch=look.hatch, hatchcolor=look.hatch_colour,
        edgecolor="white", label=category_label(category),
    )  # fmt: skip


def _line(category: str) -> Line2D:
    look = style(category)
    return Line2D(
        [], [], color=look.colour, marker=look.marker, linestyle=look.line_style, linewidth=1.8,
        markersize=6.5, markeredgecolor="black", markeredgewidth=0.6,
        label=category_label(category),
    )  # fmt: skip


def _legend(figure: Figure, handles: list[Patch] | list[Line2D]) -> None:
    figure.legend(
        handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize=9,
        handlelength=3.2, handleheight=1.5,
    )  # fmt: skip


def _chart(week: DirectorWeek, kind: str, figure: Figure, alt: str) -> Chart:
    buffer = io.BytesIO()
    # metadata: no "Software" (matplotlib's version) and no time, so the bytes stay the same.
    figure.savefig(buffer, format="png", dpi=100 * SCALE, metadata={"Software": None})
    width, height = figure.get_size_inches() * 100
    recipient = re.sub(r"[^a-z0-9-]+", "-", week.director.employee_id.lower()).strip("-")
    return Chart(
        content_id=f"{kind}.{week.week.label}.{recipient or 'director'}@commaudit",
        filename=f"{kind}.png",
        png=buffer.getvalue(),
        alt=alt,
        width=round(width),
        height=round(height),
    )
