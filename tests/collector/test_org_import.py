"""Importing organisation files into a real DuckDB file (collector/org_import.py): history,
references, all-or-nothing, idempotence, and the error crossing the writer's process pipe.

Times are stated by hand. America/Denver is UTC-07:00 in winter (MST) and UTC-06:00 in summer
(MDT); in 2026 summer time runs from 2026-03-08 02:00 to 2026-11-01 02:00 local time, so the
midnights of both change-over days are still on the old offset.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.org_import import (
    KINDS,
    ImportSummary,
    OrgImportError,
    RowError,
    import_org_file,
)
from collector.schema import apply_migrations
from collector.writer_process import WriterProcess

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "org"
TABLES = ("org_imports", "workgroups", "employees", "device_assignments", "training_records")

WORKGROUPS = "workgroup_id,org,name,director_id,effective_from\n"
EMPLOYEES = "employee_id,org,full_name,email,workgroup_id,manager_id,effective_from\n"
ASSIGNMENTS = "hostname,org,employee_id,effective_from\n"
TRAINING = "employee_id,course,completed_on\n"


def utc_ms(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


# 2026-11-27 09:00 in Salt Lake City (MST, -07:00).
NOW_MS = utc_ms(2026, 11, 27, 16, 0)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "commaudit.duckdb"))
    apply_migrations(connection)
    yield connection
    connection.close()


Importer = Callable[..., ImportSummary]


@pytest.fixture
def run(con: duckdb.DuckDBPyConnection) -> Importer:
    """run(kind, text_or_bytes, file_name=..., now_ms=...): one import in one transaction, as the
    collector's writer runs it (BEGIN, the function, COMMIT; ROLLBACK on any exception)."""

    def run(
        kind: str, content: str | bytes, file_name: str = "", now_ms: int = NOW_MS
    ) -> ImportSummary:
        data = content.encode() if isinstance(content, str) else content
        con.execute("BEGIN TRANSACTION")
        try:
            summary = import_org_file(
                con, kind, file_name or f"{kind}.csv", data, imported_by="admin-1", now_ms=now_ms
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        return summary

    return run


def dump(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {table: con.execute(f"FROM {table} ORDER BY ALL").fetchall() for table in TABLES}


def versions(con: duckdb.DuckDBPyConnection, employee_id: str) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT workgroup_id, manager_id, valid_from, valid_to FROM employees"
        " WHERE employee_id = ? ORDER BY valid_from",
        [employee_id],
    ).fetchall()


def import_samples(run: Importer) -> list[ImportSummary]:
    return [run(kind, (SAMPLES / f"{kind}.csv").read_bytes()) for kind in KINDS]


def base_roster(run: Importer) -> None:
    """Two City workgroups and three City employees, and one Library employee."""
    run(
        "workgroups",
        WORKGROUPS
        + "city-ims,city,Information Management Services,C1,2024-07-01\n"
        + "city-fin,city,Finance,,2024-07-01\n"
        + "lib-tech,library,Technical Services,,2024-07-01\n",
    )
    run(
        "employees",
        EMPLOYEES
        + "C1,city,Ann Lee,ann.lee@city.example,city-ims,,2024-07-01\n"
        + "C2,city,Bo Ruiz,bo.ruiz@city.example,city-ims,C1,2026-01-12\n"
        + "C3,city,Cy Dee,,city-fin,C1,2026-01-12\n"
        + "L1,library,Di Eve,,lib-tech,,2024-07-01\n",
    )


def test_every_sample_file_imports_cleanly_in_order(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    summaries = import_samples(run)
    assert [(s.kind, s.rows_read, s.rows_changed, s.unchanged) for s in summaries] == [
        ("workgroups", 7, 7, False),
        ("employees", 27, 27, False),
        ("device_assignments", 22, 22, False),
        ("training", 24, 24, False),
    ]
    counts = {table: len(rows) for table, rows in dump(con).items()}
    assert counts == {
        "org_imports": 4,
        "workgroups": 7,
        "employees": 27,
        "device_assignments": 22,
        "training_records": 24,
    }
    # 2024-07-01 00:00 MDT (-06:00) and 2025-02-03 00:00 MST (-07:00).
    assert versions(con, "C1001") == [("city-ims", None, datetime(2024, 7, 1, 6), None)]
    assert versions(con, "C1003") == [("city-ims", "C1002", datetime(2025, 2, 3, 7), None)]
    row = con.execute(
        "SELECT import_id, kind, file_name, imported_at, imported_by, rows_read, rows_changed"
        " FROM org_imports WHERE kind = 'training'"
    ).fetchone()
    assert row == (
        summaries[3].import_id,
        "training",
        "training.csv",
        datetime(2026, 11, 27, 16, 0),
        "admin-1",
        24,
        24,
    )


def test_importing_the_same_files_again_changes_nothing(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    first = import_samples(run)
    before = dump(con)
    again = import_samples(run)
    assert dump(con) == before
    assert [(s.import_id, s.rows_read, s.rows_changed, s.unchanged) for s in again] == [
        (s.import_id, s.rows_read, 0, True) for s in first
    ]


def test_a_file_with_other_bytes_but_the_same_rows_adds_no_version(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    import_samples(run)
    before = dump(con)
    lines = (SAMPLES / "employees.csv").read_text(encoding="utf-8").splitlines()
    reordered = "\ufeff" + "\r\n".join([lines[0], *reversed(lines[1:])]) + "\r\n"
    summary = run("employees", reordered, file_name="employees-2026-11-27.csv")
    assert (summary.rows_read, summary.rows_changed, summary.unchanged) == (27, 0, False)
    after = dump(con)
    assert after["employees"] == before["employees"]
    assert len(after["org_imports"]) == len(before["org_imports"]) + 1


def test_a_file_with_three_bad_rows_reports_all_three_and_changes_nothing(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    base_roster(run)
    before = dump(con)
    text = (
        EMPLOYEES
        + "C1,city,Ann Lee,ann.lee@city.example,city-ims,,2024-07-01\n"
        + "C2,city,Bo Ruiz,bo.ruiz(at)city.example,city-ims,C1,2026-01-12\n"  # line 3
        + "C3,city,Cy Dee,,city-fin,C1,2026-01-12\n"
        + "C4,city,Ed Fox,,city-pu,C1,\n"  # line 5: no such workgroup
        + "C5,city,Flo Gil,,city-fin,C9,\n"  # line 6: no such manager
        + "L1,library,Di Eve,,lib-tech,,2024-07-01\n"
    )
    with pytest.raises(OrgImportError) as caught:
        run("employees", text)
    assert caught.value.errors == (
        RowError("employees.csv", 3, "email", "'bo.ruiz(at)city.example' is not an email address"),
        RowError(
            "employees.csv", 5, "workgroup_id", "'city-pu' is not a current workgroup of city"
        ),
        RowError(
            "employees.csv", 6, "manager_id", "'C9' is not an employee in this file or on record"
        ),
    )
    assert dump(con) == before


def test_an_employee_moving_workgroup_gets_two_versions(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    base_roster(run)
    moved = (
        EMPLOYEES
        + "C1,city,Ann Lee,ann.lee@city.example,city-ims,,2024-07-01\n"
        + "C2,city,Bo Ruiz,bo.ruiz@city.example,city-fin,C1,2026-02-02\n"
        + "C3,city,Cy Dee,,city-fin,C1,2026-01-12\n"
    )
    summary = run("employees", moved, file_name="employees-2026-02-02.csv")
    assert summary.rows_changed == 1
    # 2026-01-12 00:00 MST = 07:00 UTC; 2026-02-02 00:00 MST = 07:00 UTC.
    assert versions(con, "C2") == [
        ("city-ims", "C1", datetime(2026, 1, 12, 7), datetime(2026, 2, 2, 7)),
        ("city-fin", "C1", datetime(2026, 2, 2, 7), None),
    ]
    import_ids = con.execute(
        "SELECT import_id FROM employees WHERE employee_id = 'C2' ORDER BY valid_from"
    ).fetchall()
    assert import_ids[1] == (summary.import_id,)
    assert import_ids[0] != import_ids[1]


def test_an_employee_missing_from_a_later_snapshot_is_closed_at_the_import_day(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    base_roster(run)
    without_c3 = (
        EMPLOYEES
        + "C1,city,Ann Lee,ann.lee@city.example,city-ims,,2024-07-01\n"
        + "C2,city,Bo Ruiz,bo.ruiz@city.example,city-ims,C1,2026-01-12\n"
    )
    # 2026-11-28 03:30 UTC is still 2026-11-27 (20:30 MST) in Salt Lake City: the import day
    # is the 27th, which starts at 2026-11-27 07:00 UTC.
    summary = run("employees", without_c3, now_ms=utc_ms(2026, 11, 28, 3, 30))
    assert summary.rows_changed == 1
    assert versions(con, "C3") == [
        ("city-fin", "C1", datetime(2026, 1, 12, 7), datetime(2026, 11, 27, 7))
    ]
    assert versions(con, "C2")[0][3] is None
    # The file lists no Library employee, so the Library's roster is not its business.
    assert versions(con, "L1") == [("lib-tech", None, datetime(2024, 7, 1, 6), None)]


def test_effective_days_are_local_midnights_across_daylight_saving_changes(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    base_roster(run)
    run(
        "device_assignments",
        ASSIGNMENTS
        + "city-ims-lt-0307,city,C1,2026-03-07\n"  # MST: 07:00 UTC
        + "city-ims-lt-0308,city,C1,2026-03-08\n"  # summer time starts at 02:00: still 07:00
        + "city-ims-lt-0309,city,C1,2026-03-09\n"  # MDT: 06:00 UTC
        + "city-ims-lt-1101,city,C2,2026-11-01\n"  # summer time ends at 02:00: still 06:00
        + "CITY-IMS-LT-1102,city,C2,2026-11-02\n",  # MST: 07:00 UTC
    )
    rows = con.execute("SELECT hostname, valid_from FROM device_assignments ORDER BY 1").fetchall()
    assert rows == [
        ("city-ims-lt-0307", datetime(2026, 3, 7, 7)),
        ("city-ims-lt-0308", datetime(2026, 3, 8, 7)),
        ("city-ims-lt-0309", datetime(2026, 3, 9, 6)),
        ("city-ims-lt-1101", datetime(2026, 11, 1, 6)),
        ("city-ims-lt-1102", datetime(2026, 11, 2, 7)),
    ]


def test_an_empty_effective_from_is_the_import_day(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    base_roster(run)
    run("device_assignments", ASSIGNMENTS + "city-fin-lt-0415,city,C3,\n")
    assert con.execute("SELECT valid_from FROM device_assignments").fetchall() == [
        (datetime(2026, 11, 27, 7),)
    ]


def test_a_change_dated_before_the_version_on_record_is_refused(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    base_roster(run)
    before = dump(con)
    backdated = (
        EMPLOYEES
        + "C1,city,Ann Lee,ann.lee@city.example,city-ims,,2024-07-01\n"
        + "C2,city,Bo Ruiz,bo.ruiz@city.example,city-fin,C1,2026-01-05\n"
        + "C3,city,Cy Dee,,city-fin,C1,2025-12-01\n"  # unchanged: its date does not matter
    )
    with pytest.raises(OrgImportError) as caught:
        run("employees", backdated)
    assert [str(error) for error in caught.value.errors] == [
        "employees.csv:3: effective_from: 2026-01-05 is earlier than the version on record,"
        " in effect since 2026-01-12"
    ]
    assert dump(con) == before


def test_a_correction_on_the_same_day_closes_the_old_version_where_it_began(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    base_roster(run)
    corrected = (
        EMPLOYEES
        + "C1,city,Ann Lee,ann.lee@city.example,city-ims,,2024-07-01\n"
        + "C2,city,Bo Ruiz,bo.ruiz@city.example,city-ims,C1,2026-01-12\n"
        + "C3,city,Cy Dee-Ray,,city-fin,C1,2026-01-12\n"
    )
    run("employees", corrected)
    rows = con.execute(
        "SELECT full_name, valid_from, valid_to FROM employees WHERE employee_id = 'C3'"
        " ORDER BY full_name"
    ).fetchall()
    assert rows == [
        ("Cy Dee", datetime(2026, 1, 12, 7), datetime(2026, 1, 12, 7)),
        ("Cy Dee-Ray", datetime(2026, 1, 12, 7), None),
    ]


def test_managers_must_be_in_the_file_or_current_in_an_organisation_it_does_not_cover(
    run: Importer,
) -> None:
    base_roster(run)
    text = (
        EMPLOYEES
        + "C1,city,Ann Lee,,city-ims,C1,2024-07-01\n"  # line 2: their own manager
        + "C3,city,Cy Dee,,city-fin,L1,2026-01-12\n"  # line 3: Library is not in the file: ok
        + "C4,city,Ed Fox,,city-fin,C2,\n"  # line 4: C2 is on record but left the City file
    )
    with pytest.raises(OrgImportError) as caught:
        run("employees", text)
    assert [str(error) for error in caught.value.errors] == [
        "employees.csv:2: manager_id: an employee's own id",
        "employees.csv:4: manager_id: 'C2' is not an employee in this file or on record",
    ]


def test_a_workgroup_may_name_a_director_not_yet_on_record(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    run("workgroups", WORKGROUPS + "city-pu,city,Public Utilities,C2001,2024-07-01\n")
    assert con.execute("SELECT director_id FROM workgroups").fetchall() == [("C2001",)]


def test_a_device_is_assigned_only_to_a_current_employee_of_its_organisation(
    run: Importer,
) -> None:
    base_roster(run)
    with pytest.raises(OrgImportError) as caught:
        run(
            "device_assignments",
            ASSIGNMENTS
            + "city-ims-lt-0042,city,C2,\n"
            + "city-ims-lt-0043,city,L1,\n"
            + "city-ims-lt-0044,city,C99,\n",
        )
    assert [str(error) for error in caught.value.errors] == [
        "device_assignments.csv:3: employee_id: 'L1' is not a current employee of city",
        "device_assignments.csv:4: employee_id: 'C99' is not a current employee of city",
    ]


def test_training_adds_only_new_records_for_employees_ever_on_record(
    con: duckdb.DuckDBPyConnection, run: Importer
) -> None:
    base_roster(run)
    run("employees", EMPLOYEES + "C1,city,Ann Lee,ann.lee@city.example,city-ims,,2024-07-01\n")
    first = run("training", TRAINING + "C1,ECP 4.01.06,2025-11-03\n")
    # C3 left the City's roster above, but training they did stays on record.
    second = run(
        "training",
        TRAINING
        + "C1,ECP 4.01.06,2025-11-03\nC1,ECP 4.01.06,2026-11-02\nC3,ECP 4.01.06,2025-01-07\n",
        file_name="2026-11-27_training.csv",
    )
    assert (first.rows_changed, second.rows_read, second.rows_changed) == (1, 3, 2)
    assert len(con.execute("FROM training_records").fetchall()) == 3
    with pytest.raises(OrgImportError) as caught:
        run("training", TRAINING + "C77,ECP 4.01.06,2025-11-03\n")
    assert [str(error) for error in caught.value.errors] == [
        "training.csv:2: employee_id: 'C77' is not an employee on record"
    ]


def test_an_unknown_kind_is_a_caller_error(run: Importer) -> None:
    with pytest.raises(ValueError, match="unknown kind 'roster'"):
        run("roster", EMPLOYEES)


def test_org_import_error_survives_pickling(run: Importer) -> None:
    with pytest.raises(OrgImportError) as caught:
        run("training", TRAINING + "C77,ECP,2025-11-03\nC78,ECP,2099-01-01\n")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is OrgImportError
    assert copy.file_name == "training.csv"
    assert copy.errors == caught.value.errors
    assert len(copy.errors) == 2
    assert str(copy) == str(caught.value)


def test_every_row_error_crosses_the_writer_process_pipe(tmp_path: Path) -> None:
    writer = WriterProcess(tmp_path / "commaudit.duckdb")
    try:
        text = WORKGROUPS + "wg 1,city,A,,\nwg-2,town,B,,\nwg-3,city,,,\n"
        with pytest.raises(OrgImportError) as caught:
            writer.transaction(
                import_org_file,
                "workgroups",
                "wg.csv",
                text.encode(),
                imported_by="folder",
                now_ms=NOW_MS,
            )
        assert [(e.line, e.column) for e in caught.value.errors] == [
            (2, "workgroup_id"),
            (3, "org"),
            (4, "name"),
        ]
        assert writer.rows("SELECT count(*) FROM org_imports") == [(0,)]
    finally:
        writer.close()
