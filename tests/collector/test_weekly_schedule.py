"""Weekly schedules as people write them, and every way one can be wrong."""

from __future__ import annotations

import pytest

from collector.weekly_schedule import ScheduleError, Window, format_schedule, parse_schedule


def test_a_working_week_is_five_windows() -> None:
    assert parse_schedule("Mon-Fri 08:00-17:00") == [Window(day, 480, 1020) for day in range(1, 6)]


def test_parts_lists_and_midnight_end_read_and_print_back() -> None:
    windows = parse_schedule("mon,wed 08:00-12:00; Sat 10:00-24:00; Mon 13:00-17:30")
    assert windows == [
        Window(1, 480, 720), Window(1, 780, 1050), Window(3, 480, 720), Window(6, 600, 1440),
    ]  # fmt: skip
    assert format_schedule(windows) == "Mon,Wed 08:00-12:00; Mon 13:00-17:30; Sat 10:00-24:00"
    assert parse_schedule(format_schedule(windows)) == windows


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "schedule is empty"),
        ("weekdays 8-5", "write days then hours"),
        ("Fri-Mon 08:00-17:00", "'fri-mon' is not a day or day range"),
        ("Mo 08:00-17:00", "'mo' is not a day"),
        ("Mon 17:00-08:00", "must end after it starts"),
        ("Mon 08:00-24:30", "24:30 is not a time of day"),
        ("Mon 08:61-09:00", "08:61 is not a time of day"),
        ("Mon 08:00-12:00; Mon 11:00-13:00", "windows overlap on Mon"),
    ],
)
def test_bad_schedules_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(text)
