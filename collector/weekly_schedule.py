"""Weekly windows in local wall-clock time, as people write them: 'Mon-Fri 08:00-17:00'.

Why text: a director says "no streaming video during opening hours, Monday to Saturday"; the
restriction keeps the words as given and the windows the reports compute with
(restriction_windows, org_policies.work_days). Several parts are separated by ';', e.g.
'Mon-Fri 08:00-12:00; Mon-Fri 13:00-17:00; Sat 10:00-14:00'. A window ends at or before 24:00
of its day; one that crosses midnight is written as two.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(
    r"^\s*(?P<days>[A-Za-z,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)


class ScheduleError(ValueError):
    """The schedule text cannot be read; the message quotes the part and says why."""


@dataclass(frozen=True, order=True)
class Window:
    """[start_minute, end_minute) of ISO day iso_day (1 = Monday), local time."""

    iso_day: int
    start_minute: int
    end_minute: int


def parse_schedule(text: str) -> list[Window]:
    """Every window the text names, sorted; ScheduleError on anything unclear or overlapping."""
    windows: list[Window] = []
    parts = [part for part in text.split(";") if part.strip()]
    if not parts:
        raise ScheduleError("schedule is empty; write e.g. 'Mon-Fri 08:00-17:00'")
    for part in parts:
        match = _PART.match(part)
        if not match:
            raise ScheduleError(
                f"{part.strip()!r}: write days then hours, e.g. 'Mon-Fri 08:00-17:00'"
            )
        start = _minute(match.group("start"), part)
        end = _minute(match.group("end"), part)
        if start >= end:
            raise ScheduleError(
                f"{part.strip()!r}: the window must end after it starts (a window crossing"
                " midnight is written as two)"
            )
        windows.extend(Window(day, start, end) for day in _days(match.group("days"), part))
    windows.sort()
    for before, after in itertools.pairwise(windows):
        if before.iso_day == after.iso_day and after.start_minute < before.end_minute:
            raise ScheduleError(f"windows overlap on {DAYS[before.iso_day - 1].title()}")
    return windows


def format_schedule(windows: list[Window]) -> str:
    """Back to text, days with the same hours grouped: the inverse of parse_schedule."""
    by_hours: dict[tuple[int, int], list[int]] = {}
    for window in sorted(windows):
        by_hours.setdefault((window.start_minute, window.end_minute), []).append(window.iso_day)
    parts = []
    for (start, end), days in by_hours.items():
        parts.append(f"{_day_ranges(days)} {_clock(start)}-{_clock(end)}")
    return "; ".join(parts)


def _minute(text: str, part: str) -> int:
    hours, minutes = (int(piece) for piece in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ScheduleError(f"{part.strip()!r}: {text} is not a time of day (00:00-24:00)")
    return hours * 60 + minutes


def _days(text: str, part: str) -> list[int]:
    days: list[int] = []
    for item in text.replace(" ", "").lower().split(","):
        first, _, last = item.partition("-")
        try:
            start = DAYS.index(first[:3]) + 1
            end = DAYS.index(last[:3]) + 1 if last else start
        except ValueError:
            raise ScheduleError(
                f"{part.strip()!r}: {item!r} is not a day or day range (Mon..Sun)"
            ) from None
        if len(first) < 3 or (last and len(last) < 3) or end < start:
            raise ScheduleError(f"{part.strip()!r}: {item!r} is not a day or day range (Mon..Sun)")
        days.extend(range(start, end + 1))
    return days


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _day_ranges(days: list[int]) -> str:
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    names = [DAYS[run[0] - 1].title() + (f"-{DAYS[run[-1] - 1].title()}" if len(run) > 1 else "")
             for run in runs]  # fmt: skip
    return ",".join(names)
