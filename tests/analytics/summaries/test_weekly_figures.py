"""Each director's figures as the collector serves them (WeeklySummaries over real gRPC, from
the lake it published) and as the sending side reads them (gather.py): strictly the director's
own workgroups, and the same numbers as the report SQL run for that workgroup."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import grpc
import pytest

from admin.connection import Connection
from analytics.summaries.gather import fetch_weeks
from analytics.summaries.model import DirectorWeek, Week
from tests.analytics.summaries.week_world import build_week_world
from tests.collector.collector_harness import RunningCollector, wait_published

W47 = Week(date(2026, 11, 16))


@dataclass
class Served:
    connection: Connection
    collector: RunningCollector


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    state = tmp_path_factory.mktemp("summaries") / "collector"
    state.mkdir()
    credential = build_week_world(state / "commaudit.duckdb")
    collector = RunningCollector(state, publish_interval_s=60)
    wait_published(state / "lake")
    yield Served(Connection(collector.address, None, credential), collector)
    collector.stop()


@pytest.fixture(scope="module")
def weeks(served: Served) -> dict[str, DirectorWeek]:
    return {w.director.employee_id: w for w in fetch_weeks(served.connection, W47, None)}


def test_every_director_of_the_week_gets_one_summary_with_their_own_workgroups(
    weeks: dict[str, DirectorWeek],
) -> None:
    assert {d: [(g.workgroup_id, g.name) for g in w.director.workgroups]
            for d, w in weeks.items()} == {
        "E100": [("wg-parks", "Parks")],
        "E200": [("wg-fin", "Finance")],
        "L100": [("wg-main", "Main Library")],
    }  # fmt: skip
    dana = weeks["E100"].director
    assert (dana.full_name, dana.email, dana.org, dana.title) == (
        "Dana Dogwood", "dana@city.example", "city", "Department Director",
    )  # fmt: skip
    lee = weeks["L100"].director
    assert (lee.email, lee.title) == (None, "Associate Director")


def test_a_directors_figures_hold_only_their_workgroups(weeks: dict[str, DirectorWeek]) -> None:
    dana = weeks["E100"]
    assert [(u.category, u.app_id, u.hours) for u in dana.usage] == [
        ("email", "outlook", Decimal("1.50")),
        ("teleconferencing", "zoom", Decimal("1.00")),
        ("video_sharing", "youtube", Decimal("0.50")),
    ]
    assert [(v.employee_name, v.app_id, v.start, v.minutes, v.clause) for v in dana.violations] == [
        ("Bob Birch", "youtube", datetime(2026, 11, 17, 10), Decimal("30.0"), "4.01.06 §4.4"),
    ]
    assert dana.previous_week_violations == 0
    assert [t.full_name for t in dana.training_overdue] == ["Dana Dogwood"]
    assert [(f.finding, f.hostname) for f in dana.silent_devices] == [("silent", "bob-phone")]
    finn = weeks["E200"]
    assert [(v.employee_name, v.app_id) for v in finn.violations] == [("Finn Fir", "facebook")]
    assert sorted(t.full_name for t in finn.training_overdue) == ["Ann Alder", "Finn Fir"]
    for week in weeks.values():
        own = {g.workgroup_id for g in week.director.workgroups}
        rows = [*week.usage, *week.violations, *week.training_overdue, *week.coverage]
        assert {row.workgroup_id for row in rows} <= own, week.director.employee_id


def test_the_days_and_the_trend_add_up_to_the_usage_report(
    weeks: dict[str, DirectorWeek],
) -> None:
    dana = weeks["E100"]
    assert [(d.day, d.category, d.hours) for d in dana.usage_by_day] == [
        (date(2026, 11, 16), "email", Decimal("1.50")),
        (date(2026, 11, 17), "video_sharing", Decimal("0.50")),
        (date(2026, 11, 22), "teleconferencing", Decimal("1.00")),
    ]
    assert [(w.monday, w.category, w.hours) for w in dana.usage_by_week] == [
        (date(2026, 11, 2), "email", Decimal("2.00")),
        (date(2026, 11, 9), "video_sharing", Decimal("0.75")),
        (date(2026, 11, 16), "email", Decimal("1.50")),
        (date(2026, 11, 16), "teleconferencing", Decimal("1.00")),
        (date(2026, 11, 16), "video_sharing", Decimal("0.50")),
    ]
    assert dana.snapshot_at <= datetime.now(UTC).replace(tzinfo=None)


def test_one_director_or_all_but_some_and_an_unknown_director_is_not_found(
    served: Served,
) -> None:
    assert [w.director.employee_id for w in fetch_weeks(served.connection, W47, "E200")] == ["E200"]
    rest = fetch_weeks(served.connection, W47, None, except_directors=["E100", "L100"])
    assert [w.director.employee_id for w in rest] == ["E200"]
    with pytest.raises(grpc.RpcError) as raised:
        list(fetch_weeks(served.connection, W47, "E101"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert "'E101' directs no workgroup" in raised.value.details()  # type: ignore[attr-defined]
