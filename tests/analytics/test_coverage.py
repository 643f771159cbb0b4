"""Coverage findings (§2.3 / CS3.2.3) in org_fixture.py's world, as of Monday 2026-11-23."""

from __future__ import annotations

from datetime import datetime

from tests.analytics.org_fixture import World


def health(world: World, device: str, last_seen: datetime, agent: str | None = "0.10.0",
           catalog: str | None = "2026.11.1", offset_ms: int | None = None) -> None:  # fmt: skip
    world.sql(
        "INSERT INTO device_health VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
        device, datetime(2026, 10, 1), last_seen, last_seen, agent, catalog, offset_ms,
    )  # fmt: skip


def gap(world: World, device: str, first: int, last: int, detected: datetime) -> None:
    world.sql("INSERT INTO seq_gaps VALUES (?, ?, ?, ?)", device, first, last, detected)


def fleet(world: World) -> None:
    health(world, "d-ann", datetime(2026, 11, 22, 23), offset_ms=360_000)  # 6 min ahead
    health(world, "d-bob", datetime(2026, 11, 21, 12), agent="0.9.2", catalog="2026.9.3",
           offset_ms=-900_000)  # fmt: skip
    health(world, "d-finn", datetime(2026, 11, 22, 12), offset_ms=300_000)  # 5 min: not above
    health(world, "d-bob-phone", datetime(2026, 11, 22, 6))
    # d-liz: revoked, long silent and out of date, yet its missing events still count
    health(world, "d-liz", datetime(2026, 11, 19), agent="0.1.0", catalog="2026.1.1")
    world.sql("INSERT INTO device_revocations VALUES ('d-liz', ?, 'admin', 'lost')",
              datetime(2026, 11, 20))  # fmt: skip
    # d-kiosk: enrolled, never heard from (no device_health row)
    gap(world, "d-ann", 5, 9, datetime(2026, 11, 17))
    gap(world, "d-ann", 20, 20, datetime(2026, 11, 1))  # detected earlier, still open
    gap(world, "d-ann", 30, 31, datetime(2026, 11, 23, 1))  # after the end of the week
    gap(world, "d-liz", 3, 4, datetime(2026, 11, 18))


def test_every_kind_of_finding_once_per_device_with_its_own_clause(world: World) -> None:
    fleet(world)
    rows = world.rows("coverage")
    assert [tuple(r.values()) for r in rows] == [
        ("clock_skew", "d-ann", "ANN-LAPTOP", "E101", "wg-fin",
         "clock ahead by at least 6.0 min", "4.01.06 §2.3"),
        ("never_enrolled", None, "fin-spare", "E200", "wg-fin",
         "assigned since 2026-01-01, not enrolled",
         "4.01.06 §2.3"),
        ("old_agent", "d-bob", "bob-pc", "E102", "wg-parks",
         "agent 0.9.2, newest in service 0.10.0", "4.01.06 §2.3"),
        ("old_catalog", "d-bob", "bob-pc", "E102", "wg-parks",
         "catalog 2026.9.3, newest in service 2026.11.1", "4.01.06 §2.3"),
        ("seq_gap", "d-ann", "ANN-LAPTOP", "E101", "wg-fin",
         "6 events missing: seq 5..9, 20..20", "4.01.06 §2.3"),
        ("seq_gap", "d-liz", "liz-desk", "L101", "wg-main",
         "2 events missing: seq 3..4", "CS3.2.3"),
        ("silent", "d-kiosk", "kiosk-1", "L100", "wg-main",
         "never heard from since enrolling at 2026-10-01 00:00 UTC", "CS3.2.3"),
        ("silent", "d-bob", "bob-pc", "E102", "wg-parks",
         "last heard from at 2026-11-21 12:00 UTC", "4.01.06 §2.3"),
    ]  # fmt: skip
    assert list(rows[0]) == [
        "finding", "device_id", "hostname", "employee_id", "workgroup_id", "detail", "clause"
    ]  # fmt: skip


def test_silent_hours_sets_how_long_a_device_may_be_quiet(world: World) -> None:
    fleet(world)
    silent = [r["device_id"] for r in world.rows("coverage", silent_hours=48)
              if r["finding"] == "silent"]  # fmt: skip
    assert silent == ["d-kiosk"]  # d-bob was heard from 36 hours before the end


def test_scope_hides_every_other_workgroup(world: World) -> None:
    fleet(world)
    rows = world.rows("coverage", scope=["wg-parks"])
    assert [(r["finding"], r["device_id"]) for r in rows] == [
        ("old_agent", "d-bob"),
        ("old_catalog", "d-bob"),
        ("silent", "d-bob"),
    ]
    library = world.rows("coverage", org="library")
    assert {r["clause"] for r in library} == {"CS3.2.3"}
    assert [r["finding"] for r in library] == ["seq_gap", "silent"]
