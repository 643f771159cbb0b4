"""The dry run's outbox: .eml files written whole, owner-only, readable back as sent."""

from __future__ import annotations

import stat
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import pytest

from analytics.summaries.outbox import write_eml


def summary(subject: str = "Communication apps, week 2026-W47") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "commaudit <commaudit@city.example>"
    message["To"] = "Dana Director <dana.director@city.example>"
    message["Subject"] = subject
    message["Message-ID"] = "<summary-1@city.example>"
    message.set_content("Finance: 12.5 hours of email.\n")
    message.add_alternative("<p>Finance: 12.5 hours of email.</p>\n", subtype="html")
    return message


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_email_is_written_owner_only_into_a_new_owner_only_folder(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox" / "2026-W47"
    path = write_eml(outbox, "2026-W47-E1042", summary())
    assert path == outbox / "2026-W47-E1042.eml"
    assert (mode(path), mode(outbox)) == (0o600, 0o700)
    assert [p.name for p in outbox.iterdir()] == ["2026-W47-E1042.eml"]


def test_the_file_reads_back_as_the_message_with_crlf_line_ends(tmp_path: Path) -> None:
    data = write_eml(tmp_path, "dana", summary()).read_bytes()
    assert data.count(b"\r\n") > 0 and data.count(b"\n") == data.count(b"\r\n")
    read = BytesParser(policy=default).parsebytes(data.replace(b"\r\n", b"\n"))
    assert isinstance(read, EmailMessage)
    assert (read["Subject"], read["To"], read["Message-ID"]) == (
        "Communication apps, week 2026-W47",
        "Dana Director <dana.director@city.example>",
        "<summary-1@city.example>",
    )
    texts = [part.get_content() for part in read.walk() if not part.is_multipart()]
    assert texts == ["Finance: 12.5 hours of email.\n", "<p>Finance: 12.5 hours of email.</p>\n"]


def test_a_rerun_replaces_the_file_and_leaves_no_partial_behind(tmp_path: Path) -> None:
    write_eml(tmp_path, "dana.eml", summary("first"))
    path = write_eml(tmp_path, "dana.eml", summary("second"))
    assert path.name == "dana.eml"
    assert b"Subject: second\r\n" in path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["dana.eml"]


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir(mode=0o750)
    outbox.chmod(0o750)
    path = write_eml(outbox, "dana", summary())
    assert (mode(outbox), mode(path)) == (0o750, 0o600)


@pytest.mark.parametrize("name", ["", "../dana", "week/dana", ".hidden", "a\\b"])
def test_a_name_that_is_not_one_plain_file_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name for the outbox"):
        write_eml(tmp_path / "outbox", name, summary())
    assert not (tmp_path / "outbox").exists()
