"""`commaudit report`, run as the installed console script, as an analyst would."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.analytics.event_rows import EventLog

COMMAUDIT = str(Path(sys.executable).parent / "commaudit")
RANGE = ["--from", "2026-11-18", "--to", "2026-11-18"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    log = EventLog(tmp_path / "events.duckdb")
    log.session("d1", "outlook", datetime(2026, 11, 18, 9), minutes=90)
    log.session("d2", "zoom", datetime(2026, 11, 18, 23), minutes=120, category="teleconferencing")
    return log.close()


def commaudit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMMAUDIT, *args], capture_output=True, text=True, timeout=60)


def test_the_usage_table_cites_the_clause_and_counts_whole_days(db: Path) -> None:
    result = commaudit("report", "usage", "--db", str(db), *RANGE)
    assert result.returncode == 0, result.stderr
    assert "City 4.01.06 §1.1 / Library CS3.1" in result.stdout
    assert "outlook" in result.stdout and "1.50" in result.stdout
    assert "1.00" in result.stdout  # zoom 23:00-01:00: one hour on the 18th


def test_csv_and_json_outputs_parse(db: Path) -> None:
    as_csv = commaudit("report", "usage", "--db", str(db), *RANGE, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {row["app_id"]: row["hours"] for row in rows} == {"outlook": "1.5", "zoom": "1.0"}
    as_json = commaudit("report", "usage", "--db", str(db), *RANGE, "--format", "json")
    assert {r["app_id"]: r["sessions"] for r in json.loads(as_json.stdout)} == {
        "outlook": 1,
        "zoom": 1,
    }


def test_a_bad_date_exits_2_naming_the_option(db: Path) -> None:
    result = commaudit("report", "usage", "--db", str(db), "--from", "18/11/2026")
    assert result.returncode == 2
    assert "--from: '18/11/2026' is not a date (YYYY-MM-DD)" in result.stderr


def test_a_reversed_range_exits_2(db: Path) -> None:
    result = commaudit(
        "report", "usage", "--db", str(db), "--from", "2026-11-19", "--to", "2026-11-18"
    )
    assert result.returncode == 2
    assert "--from 2026-11-19 is after --to 2026-11-18" in result.stderr


def test_a_missing_database_exits_2(tmp_path: Path) -> None:
    result = commaudit("report", "usage", "--db", str(tmp_path / "none.duckdb"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_a_database_held_by_a_running_collector_gets_a_clear_message(db: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, sys, time; c = duckdb.connect({str(db)!r}); print('held', flush=True);"
         " sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as holder:  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            result = commaudit("report", "usage", "--db", str(db))
        finally:
            holder.kill()
    assert result.returncode == 2
    assert "in use by a running collector" in result.stderr


def test_report_list_shows_each_report_with_its_clause() -> None:
    result = commaudit("report", "list")
    assert result.returncode == 0
    assert "usage" in result.stdout and "CS3.1" in result.stdout
