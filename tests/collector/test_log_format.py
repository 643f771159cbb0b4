"""Log lines as text or as one JSON object per line, from the real logging machinery."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from collector.log_format import LogFormat, configure_logging

log = logging.getLogger("collector.test")


@contextlib.contextmanager
def logging_to(level: int | str, fmt: LogFormat) -> Iterator[io.StringIO]:
    """configure_logging into a buffer for the with block; the root logger's handlers and level
    come back after it (inside the test, so that pytest's own handlers are the ones restored)."""
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    buffer = io.StringIO()
    try:
        configure_logging(level, fmt, buffer)
        yield buffer
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(root_level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_time_level_logger_message_and_extra_fields() -> None:
    with logging_to("info", "json") as stream:
        log.info("report from %s refused", "ipv4:127.0.0.1:5000", extra={"reason": "invalid"})
        log.warning("second")

    first, second = lines(stream)
    assert {key: first[key] for key in ("level", "logger", "message", "reason")} == {
        "level": "INFO",
        "logger": "collector.test",
        "message": "report from ipv4:127.0.0.1:5000 refused",
        "reason": "invalid",
    }
    assert first["time"].endswith("Z")
    assert abs(datetime.fromisoformat(first["time"]).timestamp() - time.time()) < 60
    assert second["level"] == "WARNING"
    assert "reason" not in second


def test_a_multi_line_message_and_its_traceback_stay_one_json_line() -> None:
    with logging_to(logging.INFO, "json") as stream:
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            log.exception("commit failed:\n%d reports", 3)

    assert len(stream.getvalue().splitlines()) == 1
    (entry,) = lines(stream)
    assert entry["message"] == "commit failed:\n3 reports"
    assert entry["level"] == "ERROR"
    assert "ValueError: bad\nvalue" in entry["exception"]


def test_a_value_json_cannot_hold_is_written_as_its_text() -> None:
    with logging_to("INFO", "json") as stream:
        log.info("published", extra={"lake": _Unencodable()})

    assert lines(stream)[0]["lake"] == "<lake>"


def test_records_below_the_level_are_left_out() -> None:
    with logging_to("WARNING", "json") as stream:
        log.info("quiet")
        log.error("loud")

    assert [entry["message"] for entry in lines(stream)] == ["loud"]


def test_text_is_the_time_level_logger_and_message_on_one_line() -> None:
    with logging_to("INFO", "text") as stream:
        log.info("stopped")

    line = stream.getvalue()
    assert line.endswith(" INFO collector.test: stopped\n")
    assert line[:4].isdigit()


def test_calling_it_again_replaces_the_format_instead_of_adding_a_second_handler() -> None:
    with logging_to("INFO", "text") as stream:
        configure_logging("INFO", "json", stream)
        log.info("once")

    assert [entry["message"] for entry in lines(stream)] == ["once"]


def test_an_unknown_format_is_refused_and_changes_nothing() -> None:
    root = logging.getLogger()
    handlers = root.handlers[:]

    with pytest.raises(ValueError, match="'xml'"):
        configure_logging("INFO", "xml", io.StringIO())  # type: ignore[arg-type]

    assert root.handlers == handlers


class _Unencodable:
    def __str__(self) -> str:
        return "<lake>"
