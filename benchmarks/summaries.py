"""Every director's weekly summary for a realistic fleet's week, against the usage report over
the whole fleet measured in the same run.

Uses the fleet of reports.py (report_fleet.py: --devices devices over ISO week 2026-W47,
published into a DuckLake by the collector's Publisher). Then, as `commaudit summaries send`
does for each director: the collector reads their figures (collector/summary_data.py: six
reports scoped to their workgroups, in one snapshot) and encodes them as the RPC's message; the
sending side decodes them (gather.py) and composes the email with its three charts (compose.py).
Baseline: one run of the usage report over the whole fleet, the report an analyst runs for the
same week. The timer sends once a week, so the question is whether a whole organisation's
summaries take minutes or hours on a 2-core collector host.

    python benchmarks/summaries.py [--devices 10000] [--quick] [--keep DIR] [--directors N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from report_fleet import WEEK_START, FleetShape
from reports import prepare

from analytics.summaries.compose import compose
from analytics.summaries.gather import director_week
from analytics.summaries.model import Week
from collector.report_runner import run_lake_report
from collector.summary_data import director_tables, recipients, summary_message

T = TypeVar("T")
SENDER = "commaudit <commaudit@city.example>"


def timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 devices: a fast smoke run")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="generate into DIR once, reuse it")
    parser.add_argument("--directors", type=int, default=0, help="only the first N (0: all)")
    args = parser.parse_args()
    shape = FleetShape(1_000 if args.quick else args.devices, 7)
    week_start = WEEK_START.replace(tzinfo=UTC)
    week = Week(week_start.date())
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"{shape.devices:,} devices, week {week.label}; {os.cpu_count()} cores,"
              f" load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        prepare(work, shape, lake=True)
        lake = work / "lake"
        params = {"from": week_start, "to": week_start + timedelta(days=7),
                  "org": None, "workgroup": None, "scope": None, "device": None}  # fmt: skip
        _, cold = timed(lambda: run_lake_report(lake, "usage", params))
        _, baseline = timed(lambda: run_lake_report(lake, "usage", params))
        found, listing = timed(lambda: recipients(lake, week_start, None))
        chosen = found[: args.directors] if args.directors else found
        figures, encoding, composing, sizes = [], [], [], []
        now = datetime.now(UTC)
        for recipient in chosen:
            tables, seconds = timed(lambda r=recipient: director_tables(lake, week_start, r))
            figures.append(seconds)
            message, seconds = timed(lambda t=tables: director_week(summary_message(t), week))
            encoding.append(seconds)
            if message.director.email:
                mid = f"<summary.{week.label}.{recipient.director_id}@city.example>"
                email, seconds = timed(lambda m=message, i=mid: bytes(compose(m, SENDER, i, now)))
                composing.append(seconds)
                sizes.append(len(email))
    total = listing + sum(figures) + sum(encoding) + sum(composing)
    print(f"\n{'step':<44}{'count':>7}{'median s':>10}{'max s':>8}{'total s':>9}")
    print(f"{'(baseline) usage report, whole fleet':<44}{1:>7}{baseline:>10.2f}"
          f"{max(cold, baseline):>8.2f}{baseline:>9.2f}")  # fmt: skip
    for name, series in (
        ("directors of the week", [listing]),
        ("figures per director (collector, 6 reports)", figures),
        ("encode + decode per director (Arrow IPC)", encoding),
        ("compose per email (3 charts, HTML, text)", composing),
    ):
        if series:
            print(f"{name:<44}{len(series):>7}{statistics.median(series):>10.2f}"
                  f"{max(series):>8.2f}{sum(series):>9.2f}")  # fmt: skip
    print(f"\nall {len(chosen)} directors' summaries: {total:.1f} s, {total / baseline:.0f}x the"
          f" whole-fleet usage report; median email {statistics.median(sizes or [0]) / 1024:.0f}"
          f" KiB")  # fmt: skip


if __name__ == "__main__":
    main()
