"""Personal use in work hours (§4.1 / CS3.4.1), aggregated, in org_fixture.py's world.

Work hours default to Monday-Friday 08:00-17:00 in Denver: 15:00-00:00 UTC in November.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tests.analytics.org_fixture import World


def enable(world: World, org: str) -> None:
    world.sql("UPDATE org_policies SET personal_use_report = true WHERE org = ?", org)


def city_week(world: World) -> None:
    world.session("d-ann", "youtube", datetime(2026, 11, 16, 15), 60)  # Mon 08:00 local, parks
    world.session("d-bob", "youtube", datetime(2026, 11, 16, 23, 30), 60)  # 16:30-17:30: 0.5 h
    world.session("d-bob", "facebook", datetime(2026, 11, 21, 17), 60)  # Saturday: not work
    world.session("d-bob", "outlook", datetime(2026, 11, 16, 16), 60)  # a business app
    world.session("d-bob", "slack", datetime(2026, 11, 16, 16), 60)  # mixed: not personal
    world.session("d-ann", "youtube", datetime(2026, 11, 19, 15), 60)  # Thu: Ann now in wg-fin
    world.session("d-finn", "youtube", datetime(2026, 11, 20, 23, 30), 60)  # Fri 16:30: 0.5 h
    world.session("d-liz", "facebook", datetime(2026, 11, 16, 16), 30)  # Library


def test_the_report_is_off_unless_the_organisation_enabled_it(world: World) -> None:
    city_week(world)
    assert world.rows("personal_use") == []


def test_hours_in_work_hours_per_workgroup_and_nothing_that_names_a_person(
    world: World,
) -> None:
    city_week(world)
    enable(world, "city")
    assert world.rows("personal_use") == [
        {"org": "city", "workgroup_id": "wg-fin", "employees": 2, "hours": Decimal("1.50"),
         "clause": "4.01.06 §4.1"},
        {"org": "city", "workgroup_id": "wg-parks", "employees": 2, "hours": Decimal("1.50"),
         "clause": "4.01.06 §4.1"},
    ]  # fmt: skip


def test_each_organisation_uses_its_own_work_hours_and_clause(world: World) -> None:
    enable(world, "library")
    world.sql("UPDATE org_policies SET work_start_minute = 540 WHERE org = 'library'")  # 09:00
    world.session("d-liz", "facebook", datetime(2026, 11, 16, 15, 30), 30)  # 08:30 local
    world.session("d-liz", "facebook", datetime(2026, 11, 16, 16), 30)  # 09:00 local
    world.session("d-ann", "youtube", datetime(2026, 11, 16, 15), 60)  # the City: not enabled
    assert world.rows("personal_use") == [
        {"org": "library", "workgroup_id": "wg-main", "employees": 1, "hours": Decimal("0.50"),
         "clause": "CS3.4.1"},
    ]  # fmt: skip


def test_scope_hides_every_other_workgroup(world: World) -> None:
    city_week(world)
    enable(world, "city")
    enable(world, "library")
    assert [r["workgroup_id"] for r in world.rows("personal_use")] == [
        "wg-fin", "wg-parks", "wg-main"
    ]  # fmt: skip
    assert [r["workgroup_id"] for r in world.rows("personal_use", scope=["wg-fin"])] == ["wg-fin"]
    assert [r["workgroup_id"] for r in world.rows("personal_use", org="library")] == ["wg-main"]
