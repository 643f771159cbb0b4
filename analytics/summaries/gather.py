"""A director's figures as the collector sends them (Arrow tables) turned into a DirectorWeek.

The collector runs the report SQL scoped to the director (collector/summary_data.py); this side
only reshapes the rows: the trend's weekly totals are sums of usage_by_day's exact milliseconds,
and everything else is the reports' own rows, typed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pyarrow as pa

from admin.connection import Connection
from analytics.summaries.model import (
    TREND_WEEKS,
    AppUsage,
    CoverageFinding,
    DayUsage,
    Director,
    DirectorWeek,
    OverdueTraining,
    Violation,
    Week,
    WeekUsage,
    Workgroup,
)
from collector.report_runner import from_ipc
from commaudit.v1 import admin_service_pb2, admin_service_pb2_grpc

T = TypeVar("T")

SUMMARY_TIMEOUT_S = 900.0
"""A whole fleet's directors, read one after another on a small collector host."""

_HOUR_MS = Decimal(3_600_000)
_CENTI = Decimal("0.01")


def week_start_ms(week: Week) -> int:
    return int(datetime.combine(week.monday, datetime.min.time(), UTC).timestamp() * 1000)


def fetch_weeks(
    connection: Connection,
    week: Week,
    director_id: str | None,
    except_directors: Iterable[str] = (),
) -> Iterator[DirectorWeek]:
    """Each director's week, as the collector streams them (one message per director)."""
    request = admin_service_pb2.WeeklySummariesRequest(
        week_start_ms=week_start_ms(week),
        director_id=director_id or "",
        except_directors=sorted(except_directors),
    )
    with connection.channel() as channel:
        answers = admin_service_pb2_grpc.AdminServiceStub(channel).WeeklySummaries(
            request, metadata=connection.metadata, timeout=SUMMARY_TIMEOUT_S
        )
        for answer in answers:
            yield director_week(answer, week)


def director_week(answer: admin_service_pb2.DirectorSummary, week: Week) -> DirectorWeek:
    tables = {table.name: from_ipc(table.arrow_ipc) for table in answer.tables}
    names = {row["employee_id"]: row["full_name"] for row in _rows(tables["people"])}
    days = [
        (row["day"], row["category"], int(row["milliseconds"]))
        for row in _rows(tables["usage_by_day"])
    ]
    return DirectorWeek(
        director=Director(
            employee_id=answer.director_id,
            full_name=answer.full_name,
            email=answer.email or None,
            org=answer.org,
            title=answer.title,
            workgroups=tuple(Workgroup(w.workgroup_id, w.name) for w in answer.workgroups),
        ),
        week=week,
        usage_by_day=tuple(
            DayUsage(day, category, _hours(ms))
            for day, category, ms in days
            if week.monday <= day < week.next_monday
        ),
        usage_by_week=_weekly(days, week),
        usage=tuple(_typed(AppUsage, row) for row in _rows(tables["usage"])),
        violations=tuple(
            _typed(Violation, row, employee_name=names.get(row["employee_id"]))
            for row in _rows(tables["violations"])
        ),
        previous_week_violations=tables["previous_violations"].num_rows,
        training_overdue=tuple(
            _typed(OverdueTraining, row) for row in _rows(tables["training_overdue"])
        ),
        coverage=tuple(
            _typed(CoverageFinding, row, detail=row["detail"] or "")
            for row in _rows(tables["coverage"])
        ),
        snapshot_id=answer.snapshot_id,
        snapshot_at=datetime.fromtimestamp(answer.snapshot_at_ms / 1000, UTC).replace(tzinfo=None),
    )


def _weekly(days: list[tuple[date, str, int]], week: Week) -> tuple[WeekUsage, ...]:
    """Each trend week's exact total per category, rounded once."""
    first = week.earlier(TREND_WEEKS - 1).monday
    totals: dict[tuple[date, str], int] = defaultdict(int)
    for day, category, ms in days:
        monday = day - timedelta(days=day.weekday())
        if first <= monday <= week.monday:
            totals[monday, category] += ms
    return tuple(
        WeekUsage(monday, category, _hours(ms)) for (monday, category), ms in sorted(totals.items())
    )


def _typed(model: type[T], row: dict[str, Any], **given: Any) -> T:
    """A report row as the model's dataclass: its fields by name (the report's columns are
    named as the model's fields), `given` for those the row does not hold as they are."""
    taken = {f.name: row[f.name] for f in fields(model) if f.name not in given}  # type: ignore[arg-type]
    return model(**taken, **given)


def _hours(ms: int) -> Decimal:
    return (Decimal(ms) / _HOUR_MS).quantize(_CENTI)


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows
