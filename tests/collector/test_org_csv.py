"""Reading one organisation CSV file on its own (collector/org_csv.py): columns, values, keys,
and every bad row reported with its file, line and column."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from collector.org_csv import KINDS, RowError, kind_for_file_name, parse_org_csv

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "org"
TODAY = date(2026, 11, 27)

EMPLOYEES_HEADER = "employee_id,org,full_name,email,workgroup_id,manager_id,effective_from\n"


def parse(kind: str, text: str, name: str = "") -> tuple[list[dict[str, object]], list[str]]:
    """(values of each good row, str of each error) of a file given as text."""
    parsed = parse_org_csv(kind, name or f"{kind}.csv", text.encode(), today=TODAY)
    return [dict(row.values) for row in parsed.rows], [str(error) for error in parsed.errors]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("employees.csv", "employees"),
        ("employees-2026-11-20.csv", "employees"),
        ("2026-11-20_training.csv", "training"),
        ("2026-11-20-workgroups.csv", "workgroups"),
        ("device_assignments_2026-11-20.csv", "device_assignments"),
        ("device-assignments.csv", "device_assignments"),
        ("Employees.CSV", "employees"),
        ("employee.csv", None),
        ("employees.txt", None),
        ("employees-final.csv", None),
        ("2026-11-20_employees_2026-11-21.csv", None),
        ("employees-2026-11.csv", None),
        (".employees.csv", None),
        ("roster.csv", None),
    ],
)
def test_a_file_name_maps_to_a_kind_only_by_the_documented_rule(
    name: str, kind: str | None
) -> None:
    assert kind_for_file_name(name) == kind


@pytest.mark.parametrize("kind", KINDS)
def test_each_sample_file_reads_without_an_error(kind: str) -> None:
    parsed = parse_org_csv(kind, f"{kind}.csv", (SAMPLES / f"{kind}.csv").read_bytes(), today=TODAY)
    assert parsed.errors == ()
    expected_rows = {"workgroups": 7, "employees": 27, "device_assignments": 22, "training": 24}
    assert len(parsed.rows) == parsed.rows_read == expected_rows[kind]


def test_values_are_parsed_and_optional_ones_are_none() -> None:
    rows, errors = parse(
        "employees",
        "\ufeff" + EMPLOYEES_HEADER + "E1, city , Ann Lee ,,,,\n"
        "E2,library,Bo Ruiz,bo@library.example,lib-tech,E1,2026-03-08\n",
    )
    assert errors == []
    assert rows == [
        {
            "employee_id": "E1",
            "org": "city",
            "full_name": "Ann Lee",
            "email": None,
            "workgroup_id": None,
            "manager_id": None,
            "effective_from": None,
        },
        {
            "employee_id": "E2",
            "org": "library",
            "full_name": "Bo Ruiz",
            "email": "bo@library.example",
            "workgroup_id": "lib-tech",
            "manager_id": "E1",
            "effective_from": date(2026, 3, 8),
        },
    ]


def test_columns_may_come_in_any_order() -> None:
    rows, errors = parse("training", "completed_on,course,employee_id\n2026-01-05,ECP,E1\n")
    assert errors == []
    assert rows == [{"employee_id": "E1", "course": "ECP", "completed_on": date(2026, 1, 5)}]


def test_a_header_with_an_extra_a_missing_and_a_repeated_column_is_refused_whole() -> None:
    rows, errors = parse(
        "device_assignments",
        "hostname,org,org,employee,effective_from\nlt-1,city,city,E1,\n",
        name="d.csv",
    )
    assert rows == []
    assert errors == [
        "d.csv:1: org: column appears twice",
        "d.csv:1: employee: unknown column for device_assignments:"
        " expected hostname, org, employee_id, effective_from",
        "d.csv:1: employee_id: column missing from the header",
    ]


def test_an_empty_file_needs_its_header() -> None:
    assert parse("training", "") == ([], ["training.csv:1: empty file: the header row is required"])


def test_every_bad_row_is_reported_with_its_line_and_column() -> None:
    text = (
        EMPLOYEES_HEADER
        + "E1,city,Ann Lee,ann@city.example,city-ims,,2026-01-12\n"  # line 2: good
        + "E2,town,Bo Ruiz,not-an-email,city-ims,,2026-02-30\n"  # line 3: three errors
        + "\n"  # line 4: blank, skipped
        + "E 3,city,,,,,\n"  # line 5: bad id, no name
        + "E4,city,Cy Dee,,city-ims,E1,2026-12-01\n"  # line 6: future effective day
        + "E5,city,Di Eve\n"  # line 7: too few fields
    )
    rows, errors = parse("employees", text)
    assert [row["employee_id"] for row in rows] == ["E1"]
    assert errors == [
        "employees.csv:3: org: 'town' is not an organisation (city or library)",
        "employees.csv:3: email: 'not-an-email' is not an email address",
        "employees.csv:3: effective_from: '2026-02-30' is not a day of the calendar",
        "employees.csv:5: employee_id: 'E 3' is not an id (letters, digits, '.', '_', '-')",
        "employees.csv:5: full_name: required",
        "employees.csv:6: effective_from: 2026-12-01 is in the future"
        " (the import day is 2026-11-27)",
        "employees.csv:7: 3 fields, but the header has 7",
    ]


def test_row_errors_carry_file_line_column_and_reason() -> None:
    parsed = parse_org_csv(
        "employees",
        "employees.csv",
        (EMPLOYEES_HEADER + "E1,city,A,,,x y,\n").encode(),
        today=TODAY,
    )
    assert parsed.errors == (
        RowError(
            "employees.csv", 2, "manager_id", "'x y' is not an id (letters, digits, '.', '_', '-')"
        ),
    )
    assert str(parsed.errors[0]).startswith("employees.csv:2: manager_id: ")


def test_a_duplicate_key_names_both_lines_and_compares_host_names_in_lower_case() -> None:
    rows, errors = parse(
        "device_assignments",
        "hostname,org,employee_id,effective_from\n"
        "CITY-IMS-LT-0042,city,E1,\n"
        "city-ims-lt-0043,city,E2,\n"
        "city-ims-lt-0042,city,E3,\n",
    )
    assert [row["hostname"] for row in rows] == ["city-ims-lt-0042", "city-ims-lt-0043"]
    assert errors == ["device_assignments.csv:4: hostname: duplicate hostname: also on line 2"]


def test_a_training_record_is_keyed_by_employee_course_and_day() -> None:
    rows, errors = parse(
        "training",
        "employee_id,course,completed_on\n"
        "E1,ECP,2025-01-10\n"
        "E1,ECP,2026-01-10\n"
        "E1,Records,2026-01-10\n"
        "E1,ECP,2026-01-10\n",
    )
    assert len(rows) == 3
    assert errors == [
        "training.csv:5: employee_id: duplicate employee_id, course, completed_on: also on line 3"
    ]


def test_completed_on_is_required_and_not_in_the_future() -> None:
    _, errors = parse(
        "training",
        "employee_id,course,completed_on\nE1,ECP,\nE2,ECP,2026-11-28\nE3,ECP,2026-11-27\n",
    )
    assert errors == [
        "training.csv:2: completed_on: required",
        "training.csv:3: completed_on: 2026-11-28 is in the future (the import day is 2026-11-27)",
    ]


def test_host_names_and_emails_are_checked() -> None:
    rows, errors = parse(
        "device_assignments",
        "hostname,org,employee_id,effective_from\n"
        "Lib-Main-WS-0012.library.example,library,L1,\n"
        "-bad-,library,L2,\n"
        "two words,library,L3,\n",
    )
    assert [row["hostname"] for row in rows] == ["lib-main-ws-0012.library.example"]
    assert errors == [
        "device_assignments.csv:3: hostname: '-bad-' is not a host name",
        "device_assignments.csv:4: hostname: 'two words' is not a host name",
    ]


def test_a_quoted_field_spanning_lines_keeps_the_line_numbers_of_the_file() -> None:
    text = (
        "workgroup_id,org,name,director_id,effective_from\n"
        'wg-1,city,"Finance, Budget",,\n'  # line 2: a quoted comma is fine
        'wg-2,city,"Two\nlines",,\n'  # lines 3-4: a line break inside a name is not
        "wg-3,city,Ok,bad id,\n"  # line 5
    )
    rows, errors = parse("workgroups", text)
    assert rows[0]["name"] == "Finance, Budget"
    assert errors == [
        "workgroups.csv:3: name: contains a line break or other control character",
        "workgroups.csv:5: director_id: 'bad id' is not an id (letters, digits, '.', '_', '-')",
    ]


def test_text_that_is_not_utf8_is_reported_at_its_line() -> None:
    content = b"employee_id,course,completed_on\nE1,ECP,2026-01-10\nE2,Caf\xe9,2026-01-10\n"
    parsed = parse_org_csv("training", "training.csv", content, today=TODAY)
    assert [str(error) for error in parsed.errors] == ["training.csv:3: not UTF-8 text"]
    assert parsed.rows == ()


def test_malformed_quoting_is_reported_at_its_line() -> None:
    _, errors = parse("training", 'employee_id,course,completed_on\nE1,"EC"P,2026-01-10\n')
    assert errors == ["training.csv:2: not valid CSV: ',' expected after '\"'"]


def test_a_bad_row_still_counts_its_key_for_references_but_not_as_a_row() -> None:
    parsed = parse_org_csv(
        "employees",
        "employees.csv",
        (EMPLOYEES_HEADER + "E1,city,Ann Lee,nope,,,\nE2,city,Bo Ruiz,,,E1,\n").encode(),
        today=TODAY,
    )
    assert [row.line for row in parsed.rows] == [3]
    assert parsed.keys == {("E1",), ("E2",)}
    assert parsed.rows_read == 2
