"""The usage report over the sessions table, by organisation and workgroup (org_fixture.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tests.analytics.org_fixture import World


def hours(world: World, **params: object) -> list[tuple[object, ...]]:
    """(org, workgroup_id, app_id, sessions, hours) per row, in the report's order."""
    return [
        (r["org"], r["workgroup_id"], r["app_id"], r["sessions"], r["hours"])
        for r in world.rows("usage", **params)
    ]


def test_the_columns_are_org_workgroup_category_app_and_counts(world: World) -> None:
    world.session("d-bob", "outlook", datetime(2026, 11, 16, 15), 60)
    assert world.rows("usage") == [
        {"org": "city", "workgroup_id": "wg-parks", "category": "email", "app_id": "outlook",
         "surface": None, "devices": 1, "users": 1, "employees": 1, "sessions": 1,
         "hours": Decimal("1.00"), "foreground_seconds": None, "cpu_seconds": None},
    ]  # fmt: skip


def test_a_session_counts_for_the_workgroup_its_employee_was_in_when_it_started(
    world: World,
) -> None:
    # Ann moves from wg-parks to wg-fin on Wednesday 12:00.
    world.session("d-ann", "outlook", datetime(2026, 11, 16, 15), 60)  # Monday: wg-parks
    world.session("d-ann", "outlook", datetime(2026, 11, 19, 15), 30)  # Thursday: wg-fin
    world.session("d-ann", "zoom", datetime(2026, 11, 18, 11, 30), 60)  # runs over the move
    assert hours(world) == [
        ("city", "wg-fin", "outlook", 1, Decimal("0.50")),
        ("city", "wg-parks", "outlook", 1, Decimal("1.00")),
        ("city", "wg-parks", "zoom", 1, Decimal("1.00")),
    ]


def test_sessions_crossing_either_week_boundary_are_clipped_to_the_week(world: World) -> None:
    # Sunday 23:30 -> Monday 00:30 into the week: 0.5 h; Sunday 23:00 -> Monday 01:00 out of
    # it: 1 h.
    world.session("d-bob", "outlook", datetime(2026, 11, 15, 23, 30), 60)
    world.session("d-bob", "outlook", datetime(2026, 11, 22, 23), 120)
    assert hours(world) == [("city", "wg-parks", "outlook", 2, Decimal("1.50"))]


def test_a_session_crossing_midnight_inside_the_week_counts_whole(world: World) -> None:
    world.session("d-bob", "zoom", datetime(2026, 11, 17, 23), 120)  # Tuesday 23:00 -> 01:00
    assert hours(world) == [("city", "wg-parks", "zoom", 1, Decimal("2.00"))]


def test_a_device_with_no_assignment_answers_to_the_employee_it_was_enrolled_for(
    world: World,
) -> None:
    world.session("d-kiosk", "youtube", datetime(2026, 11, 19, 10), 30)  # L100, wg-main
    assert hours(world) == [("library", "wg-main", "youtube", 1, Decimal("0.50"))]


def a_session_in_every_workgroup(world: World) -> None:
    world.session("d-bob", "outlook", datetime(2026, 11, 16, 15), 60)  # wg-parks
    world.session("d-finn", "outlook", datetime(2026, 11, 16, 15), 30)  # wg-fin
    world.session("d-liz", "slack", datetime(2026, 11, 18, 10), 45)  # wg-main
    world.session("d-unknown", "outlook", datetime(2026, 11, 16, 9), 15)  # not enrolled: none


def test_without_filters_every_session_counts_even_one_of_no_workgroup(world: World) -> None:
    a_session_in_every_workgroup(world)
    assert hours(world) == [
        ("city", "wg-fin", "outlook", 1, Decimal("0.50")),
        ("city", "wg-parks", "outlook", 1, Decimal("1.00")),
        ("library", "wg-main", "slack", 1, Decimal("0.75")),
        (None, None, "outlook", 1, Decimal("0.25")),
    ]


def test_scope_hides_every_other_workgroup(world: World) -> None:
    a_session_in_every_workgroup(world)
    assert hours(world, scope=["wg-fin"]) == [("city", "wg-fin", "outlook", 1, Decimal("0.50"))]
    assert hours(world, scope=[]) == []


def test_org_and_workgroup_keep_their_own_rows(world: World) -> None:
    a_session_in_every_workgroup(world)
    assert hours(world, org="library") == [("library", "wg-main", "slack", 1, Decimal("0.75"))]
    assert hours(world, workgroup="wg-parks") == [
        ("city", "wg-parks", "outlook", 1, Decimal("1.00"))
    ]
    assert hours(world, org="library", workgroup="wg-parks") == []


def test_the_device_parameter_keeps_one_device(world: World) -> None:
    a_session_in_every_workgroup(world)
    assert hours(world, device="d-finn") == [("city", "wg-fin", "outlook", 1, Decimal("0.50"))]


def test_a_row_whose_start_has_not_arrived_is_not_a_session(world: World) -> None:
    world.session("d-bob", "outlook", None, 0)
    assert hours(world) == []
