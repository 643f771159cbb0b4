"""Restriction violations (§4.4 / CS3.4.4) on the small world of org_fixture.py.

Denver is UTC-6 until Sunday 2026-11-01 02:00 local, UTC-7 after: 'Mon-Fri 08:00-17:00' is
14:00-23:00 UTC in October and 15:00-00:00 UTC in November.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tests.analytics.org_fixture import World

OFFICE_HOURS = [(day, 8 * 60, 17 * 60) for day in range(1, 6)]


def restrict(world: World) -> None:
    """Video in wg-parks from Tuesday 2026-11-17 (local midnight); facebook in wg-fin in office
    hours since October; social networking in the Library's wg-main since November."""
    world.restriction("R-video", "wg-parks", datetime(2026, 11, 17, 7), category="video_sharing")
    world.restriction("R-fb", "wg-fin", datetime(2026, 10, 1, 6), app_id="facebook",
                      windows=OFFICE_HOURS)  # fmt: skip
    world.restriction("R-social", "wg-main", datetime(2026, 11, 1, 6),
                      category="social_networking")  # fmt: skip


def found(world: World, **params: object) -> list[tuple[object, ...]]:
    """(device_id, workgroup_id, restriction_id, start, minutes) per row, in the report's order."""
    return [
        (r["device_id"], r["workgroup_id"], r["restriction_id"], r["start"], r["minutes"])
        for r in world.rows("violations", **params)
    ]


def test_a_session_begun_before_the_restriction_took_effect_counts_from_then(
    world: World,
) -> None:
    restrict(world)
    world.session("d-bob", "youtube", datetime(2026, 11, 17, 6), 120)  # 06:00-08:00 UTC
    assert world.rows("violations") == [
        {"device_id": "d-bob", "employee_id": "E102", "workgroup_id": "wg-parks",
         "app_id": "youtube", "category": "video_sharing", "surface": None,
         "restriction_id": "R-video", "start": datetime(2026, 11, 17, 7),
         "minutes": Decimal("60.0"), "clause": "4.01.06 §4.4"},
    ]  # fmt: skip


def test_a_restricted_app_in_a_browser_tab_is_a_violation_like_its_desktop_client(
    world: World,
) -> None:
    restrict(world)  # video restricted in wg-parks from Tuesday 07:00 UTC
    tuesday = datetime(2026, 11, 17, 10)
    world.session("d-bob", "youtube", tuesday, 20, surfaces=["browser_tab"], foreground_ms=600_000)
    world.session("d-bob", "youtube", tuesday.replace(hour=12), 15,
                  surfaces=["app_window", "browser_tab"])  # fmt: skip
    world.session("d-bob", "youtube", tuesday.replace(hour=14), 5, surfaces=["process"])
    world.session("d-bob", "outlook", tuesday, 30, surfaces=["browser_tab"])  # not restricted
    world.session("d-finn", "youtube", tuesday, 30, surfaces=["browser_tab"])  # wg-fin: allowed
    rows = world.rows("violations")
    assert [(r["app_id"], r["surface"], r["restriction_id"], r["start"], r["minutes"])
            for r in rows] == [
        ("youtube", "browser_tab", "R-video", tuesday, Decimal("20.0")),
        ("youtube", "app_window+browser_tab", "R-video", tuesday.replace(hour=12),
         Decimal("15.0")),
        ("youtube", "process", "R-video", tuesday.replace(hour=14), Decimal("5.0")),
    ]  # fmt: skip


def test_an_employee_who_moves_answers_to_the_workgroup_they_were_in_at_each_session(
    world: World,
) -> None:
    restrict(world)  # Ann: wg-parks (video restricted) until Wednesday 12:00, then wg-fin
    world.session("d-ann", "youtube", datetime(2026, 11, 17, 10), 30)  # Tue, wg-parks
    world.session("d-ann", "youtube", datetime(2026, 11, 19, 10), 30)  # Thu, wg-fin: allowed
    world.session("d-ann", "facebook", datetime(2026, 11, 16, 16), 30)  # Mon, wg-parks: allowed
    world.session("d-ann", "facebook", datetime(2026, 11, 19, 16), 30)  # Thu 09:00 local, wg-fin
    assert found(world) == [
        ("d-ann", "wg-parks", "R-video", datetime(2026, 11, 17, 10), Decimal("30.0")),
        ("d-ann", "wg-fin", "R-fb", datetime(2026, 11, 19, 16), Decimal("30.0")),
    ]


def test_a_session_crossing_midnight_gives_one_row_per_window_it_overlaps(world: World) -> None:
    restrict(world)
    # Thursday 16:00 local to Friday 09:00 local: the last hour of Thursday's window and the
    # first of Friday's.
    world.session("d-ann", "facebook", datetime(2026, 11, 19, 23), 17 * 60)
    assert found(world) == [
        ("d-ann", "wg-fin", "R-fb", datetime(2026, 11, 19, 23), Decimal("60.0")),
        ("d-ann", "wg-fin", "R-fb", datetime(2026, 11, 20, 15), Decimal("60.0")),
    ]


def test_windows_are_local_time_so_daylight_saving_time_moves_them(world: World) -> None:
    restrict(world)
    # Friday 2026-10-30 13:30 UTC to Monday 2026-11-02 15:30 UTC, across the end of DST.
    world.session("d-finn", "facebook", datetime(2026, 10, 30, 13, 30), (3 * 24 + 2) * 60)
    assert found(world, **{"from": datetime(2026, 10, 30), "to": datetime(2026, 11, 3)}) == [
        ("d-finn", "wg-fin", "R-fb", datetime(2026, 10, 30, 14), Decimal("540.0")),  # 08-17 MDT
        ("d-finn", "wg-fin", "R-fb", datetime(2026, 11, 2, 15), Decimal("30.0")),  # 08:00 MST
    ]


def test_sessions_outside_the_windows_or_touching_their_edges_are_not_violations(
    world: World,
) -> None:
    restrict(world)
    world.session("d-finn", "facebook", datetime(2026, 11, 19, 14), 60)  # ends at 08:00 local
    world.session("d-finn", "facebook", datetime(2026, 11, 20, 0), 30)  # starts at 17:00 local
    world.session("d-finn", "facebook", datetime(2026, 11, 21, 17), 60)  # Saturday 10:00 local
    assert found(world) == []


def test_a_library_device_cites_the_library_clause_and_the_week_start_clips(
    world: World,
) -> None:
    restrict(world)
    world.session("d-liz", "facebook", datetime(2026, 11, 15, 23, 30), 60)  # Sun -> Mon 00:30
    rows = world.rows("violations")
    assert [(r["start"], r["minutes"], r["clause"]) for r in rows] == [
        (datetime(2026, 11, 16), Decimal("30.0"), "CS3.4.4")
    ]


def test_a_session_crossing_the_week_end_is_clipped_to_the_week(world: World) -> None:
    restrict(world)
    world.session("d-bob", "youtube", datetime(2026, 11, 22, 23), 120)  # Sun 23:00 -> Mon 01:00
    assert found(world) == [
        ("d-bob", "wg-parks", "R-video", datetime(2026, 11, 22, 23), Decimal("60.0"))
    ]


def test_the_newest_version_of_a_restriction_is_the_one_in_force(world: World) -> None:
    restrict(world)
    world.restriction("R-video", "wg-parks", datetime(2026, 11, 17, 7), category="video_sharing",
                      effective_to=datetime(2026, 11, 19, 7), version=2)  # fmt: skip
    world.session("d-bob", "youtube", datetime(2026, 11, 18, 10), 30)  # Wednesday: in force
    world.session("d-bob", "youtube", datetime(2026, 11, 20, 10), 30)  # Friday: ended
    assert found(world) == [
        ("d-bob", "wg-parks", "R-video", datetime(2026, 11, 18, 10), Decimal("30.0"))
    ]


def test_a_session_with_no_evidence_of_its_end_counts_where_it_started(world: World) -> None:
    restrict(world)
    world.session("d-bob", "youtube", datetime(2026, 11, 18, 10), 0, end_reason="no_evidence")
    assert found(world) == [
        ("d-bob", "wg-parks", "R-video", datetime(2026, 11, 18, 10), Decimal("0.0"))
    ]


def test_scope_org_and_workgroup_keep_only_their_own_findings(world: World) -> None:
    restrict(world)
    world.session("d-bob", "youtube", datetime(2026, 11, 18, 10), 30)  # wg-parks
    world.session("d-finn", "facebook", datetime(2026, 11, 18, 16), 30)  # wg-fin
    world.session("d-liz", "facebook", datetime(2026, 11, 18, 16), 30)  # wg-main
    assert [r[1] for r in found(world)] == ["wg-parks", "wg-fin", "wg-main"]
    assert [r[1] for r in found(world, scope=["wg-fin"])] == ["wg-fin"]
    assert [r[1] for r in found(world, org="library")] == ["wg-main"]
    assert [r[1] for r in found(world, workgroup="wg-parks")] == ["wg-parks"]
