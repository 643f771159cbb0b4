"""Training overdue by manager (§4.3 / §2.2, CS3.4.3 / CS3.2.2) in org_fixture.py's world.

The week ends Monday 2026-11-23: the City's 12 months reach back to 2025-11-23; the Library is
given 24 months here, back to 2024-11-23.
"""

from __future__ import annotations

from datetime import date, datetime

from tests.analytics.org_fixture import World


def trained(world: World) -> None:
    world.sql("UPDATE org_policies SET training_interval_months = 24 WHERE org = 'library'")
    world.training("E101", date(2024, 5, 1))
    world.training("E101", date(2025, 11, 22), course="refresher")  # one day short of a year
    world.training("E102", date(2025, 11, 23))  # exactly a year before: not older
    world.training("E200", date(2026, 6, 1))
    world.training("L101", date(2024, 11, 1))  # 22 days past the Library's 24 months
    world.training("L100", date(2025, 1, 1))  # overdue under 12 months, not under 24
    # E100 Dana never trained; a leaver who never trained is not on the roster at the end.
    world.sql("INSERT INTO employees VALUES ('E103', 'city', 'Cy Cedar', NULL, 'wg-parks',"
              " 'E100', ?, ?, 'imp')", datetime(2026, 1, 1, 7), datetime(2026, 11, 20))  # fmt: skip


def test_overdue_and_never_trained_employees_are_listed_by_manager(world: World) -> None:
    trained(world)
    assert world.rows("training_overdue") == [
        {"manager_id": "E200", "manager_name": "Finn Fir", "workgroup_id": "wg-fin",
         "employee_id": "E101", "full_name": "Ann Alder",
         "last_trained_on": date(2025, 11, 22), "days_overdue": 1, "clause": "4.01.06 §4.3"},
        {"manager_id": "L100", "manager_name": "Lee Larch", "workgroup_id": "wg-main",
         "employee_id": "L101", "full_name": "Liz Lime",
         "last_trained_on": date(2024, 11, 1), "days_overdue": 22, "clause": "CS3.4.3"},
        {"manager_id": None, "manager_name": None, "workgroup_id": "wg-parks",
         "employee_id": "E100", "full_name": "Dana Dogwood",
         "last_trained_on": None, "days_overdue": None, "clause": "4.01.06 §4.3"},
    ]  # fmt: skip


def test_the_roster_and_the_interval_are_taken_as_of_to(world: World) -> None:
    trained(world)
    # On Wednesday 2026-11-18 Ann's training of 2025-11-22 was not yet a year old, and the
    # leaver was still employed.
    rows = world.rows("training_overdue", to=datetime(2026, 11, 18))
    assert [(r["employee_id"], r["manager_id"], r["days_overdue"]) for r in rows] == [
        ("E103", "E100", None),
        ("L101", "L100", 17),
        ("E100", None, None),
    ]


def test_scope_and_org_keep_only_their_own_employees(world: World) -> None:
    trained(world)
    assert [r["employee_id"] for r in world.rows("training_overdue", scope=["wg-parks"])] == [
        "E100"
    ]
    assert [r["employee_id"] for r in world.rows("training_overdue", org="library")] == ["L101"]
    assert [r["employee_id"] for r in world.rows("training_overdue", workgroup="wg-fin")] == [
        "E101"
    ]
