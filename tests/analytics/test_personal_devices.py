"""Enrolled personal devices (§3.2 / CS3.3.2) in org_fixture.py's world, as of 2026-11-23."""

from __future__ import annotations

from datetime import datetime

from tests.analytics.org_fixture import World


def more_devices(world: World) -> None:
    """A Library tablet enrolled for Lee, assigned by host name to Liz and since revoked; a
    personal device enrolled after the week; d-bob-phone (City, personal) has been seen."""
    for device, employee, hostname, enrolled in [
        ("d-lee-tablet", "L100", "Lee-Tablet", datetime(2026, 10, 5)),
        ("d-late", "L100", "late-phone", datetime(2026, 11, 24)),
    ]:
        world.sql(
            "INSERT INTO devices (device_id, key_sha256, org, ownership, employee_id, hostname,"
            " token_id, enrolled_at) VALUES (?, '', 'library', 'personal', ?, ?, 'tok', ?)",
            device, employee, hostname, enrolled,
        )  # fmt: skip
    world.sql("INSERT INTO device_assignments VALUES ('lee-tablet', 'library', 'L101', ?, NULL,"
              " 'imp')", datetime(2026, 10, 1))  # fmt: skip
    world.sql("INSERT INTO device_revocations VALUES ('d-lee-tablet', ?, 'admin', 'left')",
              datetime(2026, 11, 20))  # fmt: skip
    seen = datetime(2026, 11, 22, 6)
    world.sql("INSERT INTO device_health VALUES ('d-bob-phone', ?, ?, ?, '0.1.0', 'c', 0, 0)",
              datetime(2026, 10, 2), seen, seen)  # fmt: skip


def test_personal_devices_enrolled_by_the_end_are_listed_with_their_own_clause(
    world: World,
) -> None:
    more_devices(world)
    assert world.rows("personal_devices") == [
        {"device_id": "d-lee-tablet", "hostname": "Lee-Tablet", "employee_id": "L101",
         "workgroup_id": "wg-main", "enrolled_at": datetime(2026, 10, 5), "last_seen_at": None,
         "revoked_at": datetime(2026, 11, 20), "clause": "CS3.3.2"},
        {"device_id": "d-bob-phone", "hostname": "bob-phone", "employee_id": "E102",
         "workgroup_id": "wg-parks", "enrolled_at": datetime(2026, 10, 1),
         "last_seen_at": datetime(2026, 11, 22, 6), "revoked_at": None,
         "clause": "4.01.06 §3.2"},
    ]  # fmt: skip


def test_a_revocation_after_the_end_is_not_yet_shown(world: World) -> None:
    more_devices(world)
    rows = world.rows("personal_devices", to=datetime(2026, 11, 19))
    assert [(r["device_id"], r["revoked_at"]) for r in rows] == [
        ("d-lee-tablet", None),
        ("d-bob-phone", None),
    ]


def test_scope_and_org_keep_only_their_own_devices(world: World) -> None:
    more_devices(world)
    assert [r["device_id"] for r in world.rows("personal_devices", scope=["wg-parks"])] == [
        "d-bob-phone"
    ]
    assert [r["device_id"] for r in world.rows("personal_devices", org="library")] == [
        "d-lee-tablet"
    ]
    assert world.rows("personal_devices", scope=["wg-fin"]) == []
