"""`commaudit report` as analysts run it: through a real collector (plaintext on loopback) that
runs the report over the lake it published, rendered here by typer's CliRunner, and once as the
installed script."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from admin.connection import Connection, save_connection
from analytics.cli import app, day_range, week_range
from collector.enrollment import add_operator
from tests.analytics.event_rows import EventLog
from tests.collector.collector_harness import RunningCollector, wait_published

COMMAUDIT = Path(sys.executable).parent / "commaudit"
RANGE = ["--from", "2026-11-18", "--to", "2026-11-18"]


@dataclass
class Served:
    connection: Path
    collector: RunningCollector


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """Two devices' sessions in a collector's database, an analyst, and the collector serving
    (it publishes its lake at start)."""
    state = tmp_path / "collector"
    state.mkdir()
    log = EventLog(state / "commaudit.duckdb")
    log.session("d1", "outlook", datetime(2026, 11, 18, 9), minutes=90)
    log.session("d2", "zoom", datetime(2026, 11, 18, 23), minutes=120, category="teleconferencing")
    credential = add_operator(log.con, "ana", "analyst", now_ms=time.time_ns() // 10**6)
    log.close()
    collector = RunningCollector(state, publish_interval_s=60)
    wait_published(state / "lake")
    connection = tmp_path / "analyst.json"
    save_connection(connection, Connection(collector.address, None, credential))
    yield Served(connection, collector)
    collector.stop()


def commaudit(served: Served, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--connection", str(served.connection)])


def test_the_usage_table_cites_the_clause_and_counts_whole_days(served: Served) -> None:
    result = commaudit(served, "report", "usage", *RANGE)
    assert result.exit_code == 0, result.output
    clause = "City 4.01.06 §1.1 / Library CS3.1"
    assert any(line.startswith(clause) for line in result.stdout.splitlines())
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "┃ " in line and "hours" in line)
    outlook = next(line for line in lines if "outlook" in line)
    zoom = next(line for line in lines if "zoom" in line)  # 23:00-01:00: one hour on the 18th
    # right-aligned: the figures end where the column's title ends
    assert outlook.index("1.50") + 4 == zoom.index("1.00") + 4 == header.index("hours") + 5


def test_the_csv_format_parses_with_hours_to_two_decimals(served: Served) -> None:
    result = commaudit(served, "report", "usage", *RANGE, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(row["category"], row["app_id"], row["hours"]) for row in rows] == [
        ("email", "outlook", "1.50"),
        ("teleconferencing", "zoom", "1.00"),
    ]


def test_json_timestamps_are_iso_8601_in_utc(served: Served) -> None:
    result = commaudit(served, "report", "session-log", *RANGE, "--format", "json")
    assert result.exit_code == 0, result.output
    started = [row["started_at"] for row in json.loads(result.stdout)]
    assert started == ["2026-11-18T09:00:00Z", "2026-11-18T23:00:00Z"]
    assert datetime.fromisoformat(started[0]).utcoffset() is not None


def test_the_device_option_keeps_one_device(served: Served) -> None:
    result = commaudit(served, "report", "usage", *RANGE, "--device", "d2", "--format", "csv")
    assert [row["app_id"] for row in csv.DictReader(io.StringIO(result.stdout))] == ["zoom"]


def test_parquet_goes_to_the_output_file_with_its_types(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "usage.parquet"
    result = commaudit(served, "report", "usage", *RANGE, "--format", "parquet", "--output",
                       str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.column("app_id").to_pylist() == ["outlook", "zoom"]
    assert str(table.schema.field("hours").type) == "decimal128(12, 2)"
    missing = commaudit(served, "report", "usage", *RANGE, "--format", "parquet")
    assert missing.exit_code == 2
    assert "--format parquet writes a file: give --output" in missing.stderr


def test_the_week_option_is_monday_to_monday_utc() -> None:
    assert week_range("2026-W47") == (
        datetime(2026, 11, 16, tzinfo=UTC),
        datetime(2026, 11, 23, tzinfo=UTC),
    )


def test_the_default_range_is_the_last_seven_days_up_to_today() -> None:
    assert day_range(None, None, today=date(2026, 11, 18)) == (
        datetime(2026, 11, 12, tzinfo=UTC),
        datetime(2026, 11, 19, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "18/11/2026"], "commaudit: --from: '18/11/2026' is not a date (YYYY-MM-DD)\n"),
        (["--to", "2026-02-30"], "commaudit: --to: '2026-02-30' is not a date (YYYY-MM-DD)\n"),
        (["--from", "2026-11-19", "--to", "2026-11-18"],
         "commaudit: --from 2026-11-19 is after --to 2026-11-18\n"),
        (["--week", "2026-W54"],
         "commaudit: --week: '2026-W54' is not an ISO week like 2026-W47, or 'last'\n"),
        (["--week", "2026-W47", "--from", "2026-11-18"],
         "commaudit: --week cannot be combined with --from/--to\n"),
        (["--format", "xml"],
         "commaudit: --format: 'xml' is not one of table, csv, json, parquet\n"),
        (["--org", "county"], "commaudit: --org: 'county' is not city or library\n"),
    ],
)  # fmt: skip
def test_bad_options_exit_2_naming_the_option(
    served: Served, args: list[str], message: str
) -> None:
    result = commaudit(served, "report", "usage", *args)
    assert (result.exit_code, result.stderr) == (2, message)


def test_a_collector_that_is_down_exits_1_with_its_status(tmp_path: Path) -> None:
    connection = tmp_path / "c.json"
    save_connection(connection, Connection("127.0.0.1:9", None, "cao1.x.y"))
    result = CliRunner().invoke(app, ["report", "usage", "--connection", str(connection)])
    assert result.exit_code == 1
    assert result.stderr.startswith("commaudit: collector said UNAVAILABLE")


def test_report_list_shows_each_report_with_its_clause() -> None:
    result = CliRunner().invoke(app, ["report", "list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    violations = next(i for i, line in enumerate(lines) if line.startswith("violations "))
    assert "4.01.06 §4.4" in lines[violations + 1] and "CS3.4.4" in lines[violations + 1]


def test_the_installed_script_prints_the_usage_table(served: Served) -> None:
    result = subprocess.run(
        [str(COMMAUDIT), "report", "usage", *RANGE, "--connection", str(served.connection)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Library CS3.1" in result.stdout and "outlook" in result.stdout


def test_lake_info_prints_statements_an_analyst_runs_while_the_collector_serves(
    served: Served, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["lake", "info", "--state-dir", str(served.collector.state_dir)]
    )
    assert result.exit_code == 0, result.output
    script = tmp_path / "attach.py"
    script.write_text(
        "import sys, duckdb\n"
        "con = duckdb.connect()\n"
        "for statement in sys.stdin.read().split(';'):\n"
        "    if statement.strip() and not statement.strip().startswith('--'):\n"
        "        con.execute(statement)\n"
        "print(con.execute('SELECT app_id FROM sessions ORDER BY app_id').fetchall())\n"
    )
    other = subprocess.run(
        [sys.executable, str(script)], input=result.stdout, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "[('outlook',), ('zoom',)]"


def test_lake_info_without_a_lake_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["lake", "info", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "has no lake yet" in result.stderr
