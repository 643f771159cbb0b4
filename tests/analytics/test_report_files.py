"""Report files: every shipped one carries its full header; a broken one is refused by name."""

from __future__ import annotations

import re

import pytest

from analytics.report_files import (
    ReportFileError,
    list_reports,
    load_report,
    parse_report,
    session_people_query,
    sessions_query,
)

GOOD_HEADER = "-- name: x\n-- description: y\n-- clause: City 4.01.06 §1.1\n-- params: from, to\n"


def sql_parameters(sql: str) -> set[str]:
    """The `$name` parameters a query uses, its comments removed."""
    code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return set(re.findall(r"\$([a-z_][a-z0-9_]*)", code))


def test_every_report_file_has_every_header_field_and_cites_both_policies() -> None:
    reports = list_reports()
    assert "usage" in [report.name for report in reports]
    for report in reports:
        assert report.description, report.name
        assert "4.01.06" in report.clause and "CS3" in report.clause, report.name
        assert set(report.params) == sql_parameters(report.sql), report.name


def test_the_sessions_query_has_a_header_and_takes_no_parameters() -> None:
    sessions = sessions_query()
    assert (sessions.name, sessions.params) == ("sessions", ())
    assert sessions.description and sessions.clause
    assert sql_parameters(sessions.sql) == set()


def test_the_session_people_query_has_a_header_and_takes_no_parameters() -> None:
    people = session_people_query()
    assert (people.name, people.params) == ("session_people", ())
    assert people.description and people.clause
    assert sql_parameters(people.sql) == set()


def test_the_usage_header_is_parsed_into_its_fields() -> None:
    usage = load_report("usage")
    assert usage.description == (
        "hours of use by communication category and app, per organisation and workgroup"
    )
    assert usage.clause.startswith("City 4.01.06 §1.1 / Library CS3.1")
    assert usage.params == ("from", "to", "org", "workgroup", "scope", "device")


@pytest.mark.parametrize("field", ["name", "description", "clause", "params"])
def test_a_report_file_missing_a_header_field_is_refused_naming_the_file(field: str) -> None:
    text = "".join(line + "\n" for line in GOOD_HEADER.splitlines() if f" {field}:" not in line)
    with pytest.raises(ReportFileError, match=rf"^x\.sql: header has no '-- {field}:' line$"):
        parse_report(text + "SELECT 1", "x.sql")


def test_an_empty_params_line_means_no_parameters() -> None:
    text = GOOD_HEADER.replace("from, to", "") + "SELECT 1"
    assert parse_report(text, "x.sql").params == ()


def test_header_fields_after_the_first_statement_line_are_not_read() -> None:
    text = "-- name: x\n-- description: y\nSELECT 1\n-- clause: z\n-- params:\n"
    with pytest.raises(ReportFileError, match=r"x\.sql: header has no '-- clause:' line"):
        parse_report(text, "x.sql")
