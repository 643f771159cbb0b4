"""Numbers, dates and names as a director reads them, shared by the charts and the email text.

Why one module: the chart's alt text, its axis and the email's tables must say the same figure
the same way ("12 h 30 min", never 12.5 or 45000 seconds). The model's datetimes are naive UTC,
so every time shown says "UTC".
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

CATEGORY_LABELS = {
    "email": "Email",
    "instant_messaging": "Instant messaging",
    "text_messaging": "Text messaging",
    "social_networking": "Social networking",
    "teleconferencing": "Teleconferencing",
    "video_sharing": "Video sharing",
}
"""The policy's categories (City 4.01.06 §1.1, Library CS3.1) as people name them."""


def category_label(category: str) -> str:
    """A category's name for people; an unknown one is shown as the data has it."""
    return CATEGORY_LABELS.get(category, category.replace("_", " ").capitalize())


def count(number: int) -> str:
    """An integer with thousands separators: 12,345."""
    return f"{number:,}"


def plural(number: int, singular: str, plural_form: str | None = None) -> str:
    """'1 violation', '3 violations', '1,204 silent devices'."""
    noun = singular if number == 1 else (plural_form or singular + "s")
    return f"{count(number)} {noun}"


def minutes_text(minutes: Decimal | int) -> str:
    """A duration given in minutes, to the nearest minute: '45 min', '2 h', '1,020 h 5 min'."""
    whole = int(Decimal(minutes).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    hours, rest = divmod(whole, 60)
    if hours == 0:
        return f"{rest} min"
    if rest == 0:
        return f"{count(hours)} h"
    return f"{count(hours)} h {rest} min"


def hours_text(hours: Decimal | float) -> str:
    """A duration given in hours (as the reports give it): Decimal('12.50') is '12 h 30 min'."""
    return minutes_text(Decimal(str(hours)) * 60)


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""English names whatever the process locale (strftime's %a and %b follow it)."""


def day(when: date) -> str:
    """'Mon 16 Nov': the week's days need no year."""
    return f"{WEEKDAYS[when.weekday()]} {when.day} {MONTHS[when.month - 1]}"


def day_with_year(when: date) -> str:
    """'Thu 3 Oct 2024': for dates that may lie in another year."""
    return f"{day(when)} {when.year}"


def day_time(when: datetime) -> str:
    """'Mon 16 Nov 14:03 UTC' from a naive UTC datetime."""
    return f"{day(when)} {when:%H:%M} UTC"
