"""`commaudit report`: in-process through typer's CliRunner, and once as the installed script."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner, Result

from analytics.cli import app, day_range
from tests.analytics.event_rows import EventLog

COMMAUDIT = Path(sys.executable).parent / "commaudit"
RANGE = ["--from", "2026-11-18", "--to", "2026-11-18"]
LOCKED = "the database is in use by a running collector; stop it or read the published lake"


@pytest.fixture
def db(log: EventLog) -> Path:
    log.session("d1", "outlook", datetime(2026, 11, 18, 9), minutes=90)
    log.session("d2", "zoom", datetime(2026, 11, 18, 23), minutes=120, category="teleconferencing")
    return log.close()


def commaudit(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_the_usage_table_cites_the_clause_and_counts_whole_days(db: Path) -> None:
    result = commaudit("report", "usage", "--db", str(db), *RANGE)
    assert result.exit_code == 0, result.output
    clause = "City 4.01.06 §1.1 / Library CS3.1 (the communication technologies the policy covers)"
    assert clause in result.stdout.splitlines()
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "┃ category" in line)
    outlook = next(line for line in lines if "outlook" in line)
    zoom = next(line for line in lines if "zoom" in line)  # 23:00-01:00: one hour on the 18th
    # right-aligned: the figures end where the column's title ends
    assert outlook.index("1.50") + 4 == zoom.index("1.00") + 4 == header.index("hours") + 5


def test_the_csv_format_parses_with_hours_to_two_decimals(db: Path) -> None:
    result = commaudit("report", "usage", "--db", str(db), *RANGE, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(row["category"], row["app_id"], row["hours"]) for row in rows] == [
        ("email", "outlook", "1.50"),
        ("teleconferencing", "zoom", "1.00"),
    ]


def test_the_json_format_is_a_list_of_objects(db: Path) -> None:
    result = commaudit("report", "usage", "--db", str(db), *RANGE, "--format", "json")
    assert json.loads(result.stdout) == [
        {"category": "email", "app_id": "outlook", "devices": 1, "users": 1, "sessions": 1,
         "hours": 1.5},
        {"category": "teleconferencing", "app_id": "zoom", "devices": 1, "users": 1,
         "sessions": 1, "hours": 1.0},
    ]  # fmt: skip


def test_json_timestamps_are_iso_8601_in_utc(db: Path) -> None:
    result = commaudit("report", "session-log", "--db", str(db), *RANGE, "--format", "json")
    started = [row["started_at"] for row in json.loads(result.stdout)]
    assert started == ["2026-11-18T09:00:00Z", "2026-11-18T23:00:00Z"]
    assert datetime.fromisoformat(started[0]).utcoffset() is not None


def test_the_device_option_keeps_one_device(db: Path) -> None:
    result = commaudit("report", "usage", "--db", str(db), *RANGE, "--device", "d2", "--format",
                       "csv")  # fmt: skip
    assert [row["app_id"] for row in csv.DictReader(io.StringIO(result.stdout))] == ["zoom"]


def test_the_default_range_is_the_last_seven_days_up_to_today() -> None:
    assert day_range(None, None, today=date(2026, 11, 18)) == (
        datetime(2026, 11, 12),
        datetime(2026, 11, 19),
    )


def test_to_includes_its_whole_day() -> None:
    assert day_range("2026-11-16", "2026-11-22") == (datetime(2026, 11, 16), datetime(2026, 11, 23))


def test_a_bad_date_exits_2_naming_the_option(db: Path) -> None:
    result = commaudit("report", "usage", "--db", str(db), "--from", "18/11/2026")
    assert result.exit_code == 2
    assert result.stderr == "commaudit: --from: '18/11/2026' is not a date (YYYY-MM-DD)\n"


def test_a_bad_to_date_names_to(db: Path) -> None:
    result = commaudit("report", "usage", "--db", str(db), "--to", "2026-02-30")
    assert (result.exit_code, result.stderr) == (
        2,
        "commaudit: --to: '2026-02-30' is not a date (YYYY-MM-DD)\n",
    )


def test_from_after_to_exits_2(db: Path) -> None:
    result = commaudit("report", "usage", "--db", str(db), "--from", "2026-11-19", "--to",
                       "2026-11-18")  # fmt: skip
    assert result.exit_code == 2
    assert "--from 2026-11-19 is after --to 2026-11-18" in result.stderr


def test_an_unknown_format_exits_2(db: Path) -> None:
    result = commaudit("report", "usage", "--db", str(db), "--format", "xml")
    assert (result.exit_code, result.stderr) == (
        2,
        "commaudit: --format: 'xml' is not one of table, csv, json\n",
    )


def test_a_missing_database_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    result = commaudit("report", "usage", "--db", str(missing))
    assert (result.exit_code, result.stderr) == (2, f"commaudit: --db: {missing} does not exist\n")


def test_a_database_without_events_exits_2(tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    result = commaudit("report", "usage", "--db", str(other))
    assert result.exit_code == 2
    assert "has no events table; is it a commaudit collector database?" in result.stderr


def test_a_database_held_by_a_running_collector_exits_2_with_what_to_do(db: Path) -> None:
    hold = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "print('held', flush=True)\n"
        "time.sleep(30)\n"  # bounded, should the test die before killing it
    )
    with subprocess.Popen(
        [sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            result = commaudit("report", "usage", "--db", str(db))
        finally:
            holder.kill()
    assert result.exit_code == 2
    assert result.stderr == f"commaudit: --db: {db}: {LOCKED}\n"


def test_report_list_shows_each_report_with_its_clause() -> None:
    result = commaudit("report", "list")
    assert result.exit_code == 0
    usage = result.stdout.splitlines().index(
        next(line for line in result.stdout.splitlines() if line.startswith("usage "))
    )
    assert "hours of use by communication category and app" in result.stdout.splitlines()[usage]
    assert "City 4.01.06 §1.1 / Library CS3.1" in result.stdout.splitlines()[usage + 1]


def test_the_installed_script_prints_the_usage_table(db: Path) -> None:
    result = subprocess.run(
        [str(COMMAUDIT), "report", "usage", "--db", str(db), *RANGE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Library CS3.1" in result.stdout and "outlook" in result.stdout
