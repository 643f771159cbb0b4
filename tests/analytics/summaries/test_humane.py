"""Numbers, dates and names as the summary email and its charts write them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from agent.catalog import CATEGORIES
from analytics.summaries import humane


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (Decimal("12.50"), "12 h 30 min"),
        (Decimal("0.75"), "45 min"),
        (Decimal("0"), "0 min"),
        (Decimal("2"), "2 h"),
        (Decimal("1234.50"), "1,234 h 30 min"),
        (Decimal("0.999"), "1 h"),  # 59.94 minutes round to the hour
        (0.5, "30 min"),  # a chart's axis gives floats
    ],
)
def test_hours_are_written_in_hours_and_minutes(hours: Decimal | float, text: str) -> None:
    assert humane.hours_text(hours) == text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(Decimal("95.5"), "1 h 36 min"), (Decimal("0.0"), "0 min"), (Decimal("0.4"), "0 min"),
     (60, "1 h"), (Decimal("44.5"), "45 min")],
)  # fmt: skip
def test_minutes_round_half_up_to_whole_minutes(minutes: Decimal | int, text: str) -> None:
    assert humane.minutes_text(minutes) == text


def test_counts_have_thousands_separators_and_agree_in_number() -> None:
    assert humane.count(1234567) == "1,234,567"
    assert humane.plural(1, "violation") == "1 violation"
    assert humane.plural(0, "violation") == "0 violations"
    assert humane.plural(1204, "silent device") == "1,204 silent devices"


def test_dates_name_the_weekday_and_times_say_utc() -> None:
    assert humane.day(date(2026, 11, 16)) == "Mon 16 Nov"
    assert humane.day(date(2026, 11, 1)) == "Sun 1 Nov"
    assert humane.day_with_year(date(2025, 9, 30)) == "Tue 30 Sep 2025"
    assert humane.day_time(datetime(2026, 11, 18, 14, 5)) == "Wed 18 Nov 14:05 UTC"


def test_every_policy_category_has_a_name_for_people() -> None:
    assert [humane.category_label(c) for c in CATEGORIES] == [
        "Email",
        "Instant messaging",
        "Text messaging",
        "Social networking",
        "Teleconferencing",
        "Video sharing",
    ]
    assert humane.category_label("carrier_pigeon") == "Carrier pigeon"
