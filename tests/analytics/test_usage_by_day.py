"""usage_by_day: usage.sql's sessions cut at each UTC midnight, on the small world of
org_fixture.py; its exact milliseconds add up to usage.sql's hours."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from tests.analytics.org_fixture import World


def by_day(world: World, **params: object) -> list[tuple[object, ...]]:
    return [
        (r["day"], r["category"], r["sessions"], r["milliseconds"], r["hours"])
        for r in world.rows("usage_by_day", **params)
    ]


def test_a_session_across_midnight_gives_each_day_its_own_hours(world: World) -> None:
    world.session("d-bob", "zoom", datetime(2026, 11, 17, 23), 120)  # Tue 23:00 - Wed 01:00
    world.session("d-bob", "outlook", datetime(2026, 11, 17, 9), 90)
    world.session("d-bob", "outlook", datetime(2026, 11, 18, 22), 120)  # ends at midnight
    assert by_day(world) == [
        (date(2026, 11, 17), "email", 1, 5_400_000, Decimal("1.50")),
        (date(2026, 11, 17), "teleconferencing", 1, 3_600_000, Decimal("1.00")),
        (date(2026, 11, 18), "email", 1, 7_200_000, Decimal("2.00")),
        (date(2026, 11, 18), "teleconferencing", 1, 3_600_000, Decimal("1.00")),
    ]


def test_the_range_clips_and_an_unended_session_counts_on_its_day_with_no_hours(
    world: World,
) -> None:
    world.session("d-bob", "outlook", datetime(2026, 11, 15, 23), 120)  # Sun 23:00 - Mon 01:00
    world.session("d-bob", "youtube", datetime(2026, 11, 22, 12), 0, end_reason="unknown")
    world.session("d-bob", "outlook", datetime(2026, 11, 23, 0), 60)  # the next week
    assert by_day(world) == [
        (date(2026, 11, 16), "email", 1, 3_600_000, Decimal("1.00")),
        (date(2026, 11, 22), "video_sharing", 1, 0, Decimal("0.00")),
    ]


def test_scope_keeps_only_the_readers_workgroups_and_days_add_up_to_usage(world: World) -> None:
    world.session("d-bob", "outlook", datetime(2026, 11, 16, 9), 61)  # wg-parks
    world.session("d-bob", "outlook", datetime(2026, 11, 19, 9), 47)
    world.session("d-finn", "slack", datetime(2026, 11, 18, 9), 30)  # wg-fin
    scoped = by_day(world, scope=["wg-parks"])
    assert {row[1] for row in scoped} == {"email"}
    usage = world.rows("usage", scope=["wg-parks"])
    exact = sum(int(row[3]) for row in scoped)  # type: ignore[call-overload]
    assert Decimal(exact) / 3_600_000 == Decimal(108) / 60
    assert [row["hours"] for row in usage] == [Decimal("1.80")]
