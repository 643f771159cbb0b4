"""Every shipped report on a realistic fleet's week, read from the published lake, against a plain
full scan of the same lake's sessions measured in the same run.

Generates --devices devices x --days days (report_fleet.py: roster, restrictions, training and
the events of ~2-4M sessions for 10,000 devices over ISO week 2026-W47), publishes it into a
DuckLake with the collector's Publisher (which folds the events into sessions and device health
first), then attaches the lake read-only in a fresh in-memory DuckDB and runs each report 3
times (the first cold) over the whole fleet, 3 times scoped to the workgroups of a director of
more than one, and, if it takes a device, 3 times for one device. Baseline: `count(*)` and the
summed duration of all sessions, the least any report reading sessions can cost. Targets
(issue): every report < 2 s, the whole weekly set < 10 s, on this 2-core machine. A report that
misses gets the hot spots of its plan; one past --limit seconds is stopped.

    python benchmarks/reports.py [--devices 10000] [--days 7] [--quick] [--keep DIR] [--file]
                                 [--limit 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from report_fleet import FLEET_VERSION, WEEK_START, FleetShape, directors_scope, generate

from analytics.report_files import ReportFile, list_reports
from analytics.run import run_report_arrow
from collector.lake import Publisher, attach_lake, lake_exists
from collector.session_table import NOTHING_FOLDED, refresh_derived

REPORT_TARGET_S, SET_TARGET_S = 2.0, 10.0
RUNS = 3
# Joins that compare every pair of rows: over millions of sessions they turn seconds into hours.
NESTED_LOOPS = {"BLOCKWISE_NL_JOIN", "NESTED_LOOP_JOIN", "CROSS_PRODUCT"}
SCAN = "SELECT count(*), sum(epoch_ms(ended_at) - epoch_ms(started_at)) FROM sessions"


@dataclass(frozen=True)
class Timing:
    """Seconds of each run, first (cold) first, and the rows the last run returned; a run
    stopped at the time limit ends the series (rows None): repeating it would tell nothing.
    `cpu` is the process's CPU seconds per run, all threads: unlike the wall clock it does not
    grow when other processes share the cores, and cpu / cores is the least wall time."""

    seconds: list[float]
    rows: int | None
    cpu: list[float]

    @property
    def stopped(self) -> bool:
        return self.rows is None

    @property
    def cold(self) -> float:
        return self.seconds[0]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def worst(self) -> float:
        return max(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def step(message: str) -> None:
    print(f"  {message}", flush=True)


@contextmanager
def deadline(con: duckdb.DuckDBPyConnection, seconds: float) -> Iterator[None]:
    """Interrupt `con`'s query after `seconds`: a report planned badly can run for hours."""
    timer = threading.Timer(seconds, con.interrupt)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def timed(con: duckdb.DuckDBPyConnection, action: Callable[[], int], limit: float) -> Timing:
    seconds: list[float] = []
    cpu: list[float] = []
    rows: int | None = None
    for _ in range(RUNS):
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            with deadline(con, limit):
                rows = action()
        except duckdb.InterruptException:
            rows = None
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        if rows is None:
            break
    return Timing(seconds, rows, cpu)


def size_on_disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def prepare(work: Path, shape: FleetShape, lake: bool) -> tuple[float | None, float | None]:
    """Generate the fleet into `work` unless it holds this shape's already (--keep), then publish
    it (or, for --file, fold its sessions as a publish does first); the seconds each took, None
    for a step a kept fleet did not need."""
    marker, db, lake_dir = work / "fleet.json", work / "fleet.duckdb", work / "lake"
    wanted = {"devices": shape.devices, "days": shape.days, "generator": FLEET_VERSION}
    generating = publishing = None
    if not (db.exists() and marker.exists() and json.loads(marker.read_text()) == wanted):
        marker.unlink(missing_ok=True)
        db.unlink(missing_ok=True)
        shutil.rmtree(lake_dir, ignore_errors=True)
        started = time.perf_counter()
        generate(db, shape, lambda name, seconds: step(f"{name:<46}{seconds:6.1f} s"))
        generating = time.perf_counter() - started
        marker.write_text(json.dumps(wanted))
    else:
        step(f"reusing the fleet in {work}")
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    try:
        if lake and not lake_exists(lake_dir):
            publisher = Publisher(con, lake_dir)
            result = publisher.publish_once()
            publisher.close()
            publishing = time.perf_counter() - started
            step(f"published {result.events:,} events, {result.sessions_changed:,} sessions"
                 f" into the lake in {publishing:.1f} s")  # fmt: skip
        elif not lake and con.execute("SELECT count(*) FROM sessions").fetchall() == [(0,)]:
            fold(con)
            publishing = time.perf_counter() - started
            step(f"sessions folded from the events in {publishing:.1f} s")
    finally:
        con.close()
    return generating, publishing


def fold(con: duckdb.DuckDBPyConnection) -> None:
    """What a publish does first: fold every event into `sessions` and `device_health`."""
    con.execute("BEGIN TRANSACTION")
    refresh_derived(con, NOTHING_FOLDED)
    con.execute("COMMIT")


@contextmanager
def reader(work: Path, lake: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh connection that sees the fleet as `commaudit report` does: the lake attached
    read-only and made the default database, or (--file) the DuckDB file opened read-only."""
    if not lake:
        con = duckdb.connect(str(work / "fleet.duckdb"), read_only=True)
    else:
        con = duckdb.connect()
        attach_lake(con, work / "lake", read_only=True)
        con.execute("USE lake")
    try:
        yield con
    finally:
        con.close()


def measure_report(
    con: duckdb.DuckDBPyConnection, report: ReportFile, params: Mapping[str, object], limit: float
) -> Timing:
    # As the collector runs them (report_runner.py): rows stay in Arrow, never Python tuples.
    return timed(con, lambda: run_report_arrow(con, report.name, params)[1].num_rows, limit)


def hot_spots(
    con: duckdb.DuckDBPyConnection, report: ReportFile, params: Mapping[str, object], limit: float
) -> list[str]:
    """The 3 operators that took longest in one profiled run of `report`; for a run past the
    time limit, the nested-loop joins of its plan (the runner's views exist: it ran before)."""
    bound = {name: params[name] for name in report.params}  # naive UTC, as run_report binds
    try:
        with deadline(con, limit):
            row = con.execute(f"EXPLAIN (ANALYZE, FORMAT json) {report.sql}", bound).fetchone()
        operators = _operators(json.loads(row[1]) if row else {})
        operators.sort(key=lambda node: -float(node["operator_timing"]))
        return [
            f"{node['operator_timing']:6.2f} s  {node['operator_name']:<18}"
            f"{node.get('operator_cardinality', 0):>11,} rows  {_detail(node)}"
            for node in operators[:3]
        ]
    except duckdb.InterruptException:
        row = con.execute(f"EXPLAIN (FORMAT json) {report.sql}", bound).fetchone()
        plan = json.loads(row[1]) if row else []
        nodes = _operators({"children": plan})
        loops = [node for node in nodes if node["name"] in NESTED_LOOPS]
        if not loops:
            return [
                f"(past {limit:g} s) no nested-loop join in its plan; a larger --limit profiles it"
            ]
        return [f"(past {limit:g} s; plan) {node['name']:<18} {_detail(node)}" for node in loops]


def _operators(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node] if "operator_timing" in node or "name" in node else []
    for child in node.get("children", []):
        found.extend(_operators(child))
    return found


def _detail(node: dict[str, Any]) -> str:
    info = node.get("extra_info", {})
    for key in ("Condition", "Conditions", "Table", "Groups", "Filters", "Aggregates"):
        if key in info:
            value = info[key]
            text = " AND ".join(value) if isinstance(value, list) else str(value)
            return f"{key}: {text[:90]}"
    return ""


def verdict(timings: list[Timing], target: float, total: bool = False) -> str:
    """PASS when every run (or, `total`, the first runs together) took less than `target`."""
    if any(timing.stopped for timing in timings):
        return "MISS"
    took = sum(t.cold for t in timings) if total else max(t.worst for t in timings)
    return "PASS" if took < target else "MISS"


def cells(timing: Timing | None, *fields: str) -> str:
    """Right-aligned columns of a timing (rows, cold, median, worst); a run stopped at the
    limit shows '>' the limit for every time and no rows."""
    out = ""
    for name in fields:
        if timing is None or (timing.stopped and name == "rows"):
            text = "-"
        elif name == "rows":
            text = f"{timing.rows:,}"
        elif timing.stopped:
            text = "-" if name == "cpu_median" else f">{timing.worst:.3g}"
        else:
            text = f"{getattr(timing, name):.2f}"
        out += f"{text:>{10 if name == 'rows' else 8}}"
    return out


def print_results(
    scan: Timing, fleet: dict[str, Timing], scoped: dict[str, Timing], device: dict[str, Timing]
) -> None:
    print(f"\n{'':<22}{'whole fleet':-^50}{'':8}{'one director':-^18}{'device':>8}")
    print(f"{'report':<22}{'rows':>10}{'cold s':>8}{'med s':>8}{'max s':>8}{'cpu s':>8}"
          f"{'x scan':>8}{'med s':>8}{'rows':>10}{'med s':>8}"
          f"  target {REPORT_TARGET_S:g} s")  # fmt: skip
    print(f"{'(baseline) full scan':<22}"
          f"{cells(scan, 'rows', 'cold', 'median', 'worst', 'cpu_median')}{1:>8.1f}")  # fmt: skip
    for name, timing in fleet.items():
        inner, one = scoped.get(name), device.get(name)
        runs = [t for t in (timing, inner, one) if t]
        ratio = "-" if timing.stopped else f"{timing.median / scan.median:,.1f}"
        print(
            f"{name:<22}{cells(timing, 'rows', 'cold', 'median', 'worst', 'cpu_median')}"
            f"{ratio:>8}"
            f"{cells(inner, 'median', 'rows')}{cells(one, 'median')}"
            f"  {verdict(runs, REPORT_TARGET_S)}"
        )
    print()
    director = {name: scoped.get(name, timing) for name, timing in fleet.items()}
    for label, timings in (("over the whole fleet", fleet), ("scoped to one director", director)):
        cold = sum(timing.cold for timing in timings.values())
        warm = sum(timing.median for timing in timings.values())
        over = ">" if any(timing.stopped for timing in timings.values()) else ""
        print(
            f"whole set, each report once {label}: {over}{cold:.2f} s cold (first runs),"
            f" {over}{warm:.2f} s warm (medians); target {SET_TARGET_S:g} s:"
            f" {verdict(list(timings.values()), SET_TARGET_S, total=True)}"
        )


def run(work: Path, shape: FleetShape, lake: bool, limit: float) -> None:
    """Time every report over the whole fleet, scoped to one director, and for one device."""
    week: dict[str, object] = {
        "from": WEEK_START, "to": shape.week_end, "org": None, "workgroup": None,
        "scope": None, "device": None, "silent_hours": 24,
    }  # fmt: skip
    with reader(work, lake) as con:
        director, groups = directors_scope(con)
        row = con.execute("SELECT min(device_id) FROM devices").fetchone()
        one_device = row[0] if row else None
        step(f"one director: {director}, workgroups {', '.join(groups)}; device {one_device}")
        scan = timed(con, lambda: int(con.execute(SCAN).fetchall()[0][0]), limit)
        fleet, scoped, device, misses = {}, {}, {}, []
        for report in list_reports():
            fleet[report.name] = measure_report(con, report, week, limit)
            if "scope" in report.params:
                scope = {**week, "scope": groups}
                scoped[report.name] = measure_report(con, report, scope, limit)
            if "device" in report.params:
                alone = {**week, "device": one_device}
                device[report.name] = measure_report(con, report, alone, limit)
            step(f"{report.name:<24}{cells(fleet[report.name], 'cold', 'median')}")
            if verdict([fleet[report.name]], REPORT_TARGET_S) == "MISS":
                misses.append(report)
        print_results(scan, fleet, scoped, device)
        for report in misses:
            print(f"\nhot spots of {report.name} (one profiled run over the fleet):")
            for line in hot_spots(con, report, week, limit):
                print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="1,000 devices: a fast smoke run")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="generate into DIR once, reuse it")
    parser.add_argument(
        "--file", action="store_true", help="read the DuckDB file instead of the lake"
    )
    parser.add_argument(
        "--limit", type=float, default=30.0, help="stop a report's run after this many seconds"
    )
    args = parser.parse_args()
    shape = FleetShape(1_000 if args.quick else args.devices, args.days)
    lake = not args.file
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"{shape.devices:,} devices x {shape.days} days from {WEEK_START:%Y-%m-%d} (UTC);"
              f" {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        generating, publishing = prepare(work, shape, lake)
        run(work, shape, lake, args.limit)
        source = work / ("lake" if lake else "fleet.duckdb")
        size = size_on_disk(source) / 2**20
    made = "reused" if generating is None else f"{generating:.1f} s"
    sent = "reused" if publishing is None else f"{publishing:.1f} s"
    print(f"\ngenerating: {made}; {'publishing' if lake else 'folding'}: {sent}")
    print(f"{'lake' if lake else 'DuckDB file'} on disk: {size:,.0f} MiB")
    print(f"whole benchmark: {time.perf_counter() - started:.0f} s;"
          f" load average now {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
