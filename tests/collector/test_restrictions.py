"""Restrictions (§4.4 / CS3.4.4) as the collector records them: only the workgroup's director
decides, versions are added and never edited, local days become UTC instants."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from collector.restrictions import (
    RestrictionError,
    UnknownRestriction,
    add_restriction,
    end_restriction,
    list_restrictions,
)
from collector.schema import apply_migrations

NOW_MS = int(datetime(2026, 11, 27, 12, tzinfo=UTC).timestamp() * 1000)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(tmp_path / "c.duckdb")) as con:
        apply_migrations(con)
        con.execute(
            """INSERT INTO workgroups VALUES
            ('city-ims', 'city', 'IMS', 'e-dir', TIMESTAMP '2026-01-01 07:00', NULL, 'i1'),
            ('lib-branch', 'library', 'Branches', 'e-assoc', TIMESTAMP '2026-01-01 07:00',
             NULL, 'i1'),
            ('city-old', 'city', 'Gone', 'e-dir', TIMESTAMP '2025-01-01 07:00',
             TIMESTAMP '2026-01-01 07:00', 'i1')"""
        )
        con.execute(
            "INSERT INTO catalog_apps VALUES ('tiktok', 'TikTok', 'ByteDance',"
            " 'video_sharing', 'personal')"
        )
        yield con


def add(con: duckdb.DuckDBPyConnection, **changes: str):  # type: ignore[no-untyped-def]
    fields = {
        "workgroup_id": "city-ims", "category": "video_sharing", "app_id": "",
        "effective_from": "2026-12-01", "effective_to": "", "schedule": "",
        "set_by": "e-dir", "reason": "bandwidth during opening hours",
    }  # fmt: skip
    fields.update(changes)
    return add_restriction(con, **fields, operator_id="admin", now_ms=NOW_MS)


def test_a_restriction_starts_at_local_midnight_and_cites_its_orgs_clause(
    con: duckdb.DuckDBPyConnection,
) -> None:
    city = add(con, schedule="mon-fri 08:00-17:00")
    # 2026-12-01 00:00 in Denver is 07:00 UTC (MST, UTC-7)
    assert city.effective_from_ms == ms(2026, 12, 1, 7)
    assert (city.version, city.effective_to_ms, city.clause) == (1, 0, "4.01.06 §4.4")
    assert city.schedule == "Mon-Fri 08:00-17:00"
    windows = con.execute(
        "SELECT iso_day, start_minute, end_minute FROM restriction_windows"
        " WHERE restriction_id = ? ORDER BY iso_day",
        [city.restriction_id],
    ).fetchall()
    assert windows == [(day, 480, 1020) for day in range(1, 6)]
    library = add(con, workgroup_id="lib-branch", set_by="e-assoc", app_id="tiktok", category="")
    assert (library.org, library.clause, library.app_id) == ("library", "CS3.4.4", "tiktok")
    # summer time: 2026-07-01 00:00 in Denver is 06:00 UTC (MDT, UTC-6)
    summer = add(con, effective_from="2026-07-01")
    assert summer.effective_from_ms == ms(2026, 7, 1, 6)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"set_by": "e-assoc"}, "is not the director of 'city-ims' \\(e-dir\\)"),
        ({"workgroup_id": "city-old"}, "'city-old' is not a current workgroup"),
        ({"category": "gaming"}, "category: 'gaming' is not one of email"),
        ({"category": "", "app_id": "myspace"}, "app: 'myspace' is not an app of the catalog"),
        ({"app_id": "tiktok"}, "either a --category or an --app"),
        ({"effective_from": "1 Dec"}, "from: '1 Dec' is not a day"),
        ({"effective_to": "2026-11-30"}, "to: 2026-11-30 is not after from"),
        ({"schedule": "Mon 17:00-08:00"}, "schedule: 'Mon 17:00-08:00': the window must end"),
        ({"reason": "  "}, "reason: say why"),
    ],
)
def test_refusals_name_the_field_and_record_nothing(
    con: duckdb.DuckDBPyConnection, changes: dict[str, str], message: str
) -> None:
    with pytest.raises(RestrictionError, match=message):
        add(con, **changes)
    assert con.execute("SELECT count(*) FROM restrictions").fetchone() == (0,)


def test_ending_adds_a_version_and_keeps_the_first(con: duckdb.DuckDBPyConnection) -> None:
    first = add(con, schedule="Sat 10:00-14:00")
    ended = end_restriction(
        con, restriction_id=first.restriction_id, effective_to="2027-01-01",
        reason="trial over", scope=None, operator_id="admin", now_ms=NOW_MS,
    )  # fmt: skip
    assert (ended.version, ended.effective_to_ms, ended.reason) == (
        2,
        ms(2027, 1, 1, 7),
        "trial over",
    )
    assert ended.effective_from_ms == first.effective_from_ms
    assert ended.schedule == first.schedule
    versions = con.execute(
        "SELECT version, epoch_ms(effective_to), reason FROM restrictions ORDER BY version"
    ).fetchall()
    assert versions == [(1, None, "bandwidth during opening hours"),
                        (2, ms(2027, 1, 1, 7), "trial over")]  # fmt: skip
    assert con.execute(
        "SELECT version, count(*) FROM restriction_windows GROUP BY version ORDER BY version"
    ).fetchall() == [(1, 1), (2, 1)]
    [listed] = list_restrictions(con, org="", workgroup_id="", all_versions=False, scope=None)
    assert listed.version == 2
    both = list_restrictions(con, org="city", workgroup_id="", all_versions=True, scope=None)
    assert [r.version for r in both] == [1, 2]
    with pytest.raises(RestrictionError, match="already ends at or before that"):
        end_restriction(
            con, restriction_id=first.restriction_id, effective_to="2027-02-01",
            reason="again", scope=None, operator_id="admin", now_ms=NOW_MS,
        )  # fmt: skip


def test_a_director_neither_sees_nor_ends_another_workgroups_restriction(
    con: duckdb.DuckDBPyConnection,
) -> None:
    city = add(con)
    add(con, workgroup_id="lib-branch", set_by="e-assoc")
    mine = list_restrictions(con, org="", workgroup_id="", all_versions=False,
                             scope=["lib-branch"])  # fmt: skip
    assert [r.workgroup_id for r in mine] == ["lib-branch"]
    with pytest.raises(UnknownRestriction, match=city.restriction_id):
        end_restriction(
            con, restriction_id=city.restriction_id, effective_to="", reason="mine now",
            scope=["lib-branch"], operator_id="assoc", now_ms=NOW_MS,
        )  # fmt: skip
