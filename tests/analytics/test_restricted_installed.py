"""Restricted apps installed (§4.4 / CS3.4.4), as of the end of the week, in org_fixture.py's
world; installs are the agent's app_installed / app_removed events."""

from __future__ import annotations

from datetime import datetime

from tests.analytics.org_fixture import CATEGORY, World


def restrict(world: World) -> None:
    world.restriction("R-video", "wg-parks", datetime(2026, 11, 17, 7), category="video_sharing")
    world.restriction("R-fb", "wg-fin", datetime(2026, 10, 1, 6), app_id="facebook",
                      windows=[(1, 480, 1020)])  # fmt: skip
    world.restriction("R-social", "wg-main", datetime(2026, 11, 1, 6),
                      category="social_networking")  # fmt: skip


def install(world: World, device: str, app_id: str, at: datetime, path: str = "",
            kind: str = "app_installed") -> None:  # fmt: skip
    world.event(device, kind, at, app_id=app_id, category=CATEGORY[app_id],
                path=path or f"/opt/{app_id}")  # fmt: skip


def found(world: World, **params: object) -> list[tuple[object, ...]]:
    """(device_id, workgroup_id, app_id, path, restriction_id, clause) per row, in order."""
    return [
        (r["device_id"], r["workgroup_id"], r["app_id"], r["path"], r["restriction_id"],
         r["clause"])
        for r in world.rows("restricted_installed", **params)
    ]  # fmt: skip


def test_an_app_installed_before_its_restriction_is_found_once_it_is_in_force(
    world: World,
) -> None:
    restrict(world)
    install(world, "d-bob", "youtube", datetime(2026, 11, 10, 9))
    assert world.rows("restricted_installed") == [
        {"device_id": "d-bob", "hostname": "bob-pc", "employee_id": "E102",
         "workgroup_id": "wg-parks", "app_id": "youtube", "category": "video_sharing",
         "path": "/opt/youtube", "installed_at": datetime(2026, 11, 10, 9),
         "restriction_id": "R-video", "clause": "4.01.06 §4.4"},
    ]  # fmt: skip


def test_the_workgroup_is_the_one_the_employee_is_in_at_the_end_of_the_week(
    world: World,
) -> None:
    restrict(world)  # Ann moved from wg-parks (video restricted) to wg-fin (facebook restricted)
    install(world, "d-ann", "youtube", datetime(2026, 11, 16, 9))
    install(world, "d-ann", "facebook", datetime(2026, 11, 16, 9))  # schedule or not, it is there
    assert found(world) == [
        ("d-ann", "wg-fin", "facebook", "/opt/facebook", "R-fb", "4.01.06 §4.4"),
    ]


def test_the_latest_event_of_each_path_decides_and_only_events_before_the_end_count(
    world: World,
) -> None:
    restrict(world)
    install(world, "d-finn", "facebook", datetime(2026, 11, 2, 9))
    install(world, "d-finn", "facebook", datetime(2026, 11, 3, 9), kind="app_removed")
    install(world, "d-finn", "facebook", datetime(2026, 11, 4, 9), path="/snap/facebook")
    install(world, "d-finn", "facebook", datetime(2026, 11, 24, 9), path="/usr/bin/facebook")
    install(world, "d-bob", "youtube", datetime(2026, 11, 2, 9))
    install(world, "d-bob", "youtube", datetime(2026, 11, 20, 9), kind="app_removed")
    install(world, "d-bob", "youtube", datetime(2026, 11, 23, 0), path="/snap/youtube")  # at $to
    assert found(world) == [
        ("d-finn", "wg-fin", "facebook", "/snap/facebook", "R-fb", "4.01.06 §4.4"),
    ]


def test_an_unrestricted_app_and_a_revoked_device_are_not_findings(world: World) -> None:
    restrict(world)
    install(world, "d-bob", "zoom", datetime(2026, 11, 2, 9))
    install(world, "d-kiosk", "facebook", datetime(2026, 11, 2, 9))
    world.sql("INSERT INTO device_revocations VALUES ('d-kiosk', ?, 'admin', 'retired')",
              datetime(2026, 11, 20))  # fmt: skip
    assert found(world) == []


def test_a_library_device_cites_the_library_clause(world: World) -> None:
    restrict(world)
    install(world, "d-liz", "facebook", datetime(2026, 11, 2, 9))
    assert found(world) == [
        ("d-liz", "wg-main", "facebook", "/opt/facebook", "R-social", "CS3.4.4"),
    ]


def test_a_restriction_ended_before_the_end_of_the_week_is_not_in_force(world: World) -> None:
    restrict(world)
    world.restriction("R-social", "wg-main", datetime(2026, 11, 1, 6),
                      category="social_networking", effective_to=datetime(2026, 11, 22, 7),
                      version=2)  # fmt: skip
    install(world, "d-liz", "facebook", datetime(2026, 11, 2, 9))
    assert found(world) == []
    assert found(world, to=datetime(2026, 11, 22)) == [
        ("d-liz", "wg-main", "facebook", "/opt/facebook", "R-social", "CS3.4.4"),
    ]


def test_scope_hides_every_other_workgroup(world: World) -> None:
    restrict(world)
    install(world, "d-bob", "youtube", datetime(2026, 11, 2, 9))
    install(world, "d-finn", "facebook", datetime(2026, 11, 2, 9))
    install(world, "d-liz", "facebook", datetime(2026, 11, 2, 9))
    assert [row[1] for row in found(world)] == ["wg-fin", "wg-main", "wg-parks"]
    assert [row[1] for row in found(world, scope=["wg-parks"])] == ["wg-parks"]
    assert [row[1] for row in found(world, org="city")] == ["wg-fin", "wg-parks"]
