"""The weekly summary's charts: drawn only with data, valid PNGs at twice their shown size, alt
texts that state the numbers, and categories that stay apart in grey scale."""

from __future__ import annotations

import io
import itertools
import time
from dataclasses import replace

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from agent.catalog import CATEGORIES
from analytics.summaries.charts import (
    SCALE,
    STYLES,
    TREND,
    USAGE_BY_DAY,
    VIOLATIONS_BY_WORKGROUP,
    Chart,
    week_charts,
)
from tests.analytics.summaries.director_weeks import (
    EMPTY_WEEK,
    FINANCE_WEEK,
    LIBRARY_WEEK,
    QUIET_WEEK,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}


def _chunks(png: bytes) -> list[bytes]:
    """The PNG's chunk types, in order."""
    types, offset = [], len(PNG_SIGNATURE)
    while offset < len(png):
        length = int.from_bytes(png[offset : offset + 4], "big")
        types.append(png[offset + 4 : offset + 8])
        offset += 12 + length
    return types


@pytest.fixture(scope="module")
def charts() -> list[Chart]:
    """FINANCE_WEEK's charts, drawn once for the tests that only read them."""
    return week_charts(FINANCE_WEEK)


def test_a_week_with_everything_gets_three_charts_in_the_emails_order(charts: list[Chart]) -> None:
    assert [c.kind for c in charts] == [USAGE_BY_DAY, TREND, VIOLATIONS_BY_WORKGROUP]
    assert [c.filename for c in charts] == [
        "usage-by-day.png",
        "trend.png",
        "violations-by-workgroup.png",
    ]
    assert [c.content_id for c in charts] == [
        "usage-by-day.2026-W47.e1001@commaudit",
        "trend.2026-W47.e1001@commaudit",
        "violations-by-workgroup.2026-W47.e1001@commaudit",
    ]


def test_charts_without_data_are_not_drawn() -> None:
    assert [c.kind for c in week_charts(QUIET_WEEK)] == [USAGE_BY_DAY, TREND]
    assert week_charts(EMPTY_WEEK) == []
    no_use_this_week = replace(FINANCE_WEEK, usage_by_day=(), violations=())
    assert [c.kind for c in week_charts(no_use_this_week)] == [TREND]


def test_each_chart_is_a_valid_png_at_twice_its_shown_size(charts: list[Chart]) -> None:
    for chart in charts:
        assert chart.png.startswith(PNG_SIGNATURE)
        image = Image.open(io.BytesIO(chart.png))
        image.load()
        assert image.size == (chart.width * SCALE, chart.height * SCALE)
        assert chart.width == 600
        assert 100 <= chart.height <= 400


def test_pngs_carry_no_timestamp_or_software_and_repeat_byte_for_byte(
    charts: list[Chart],
) -> None:
    for chart, again in zip(charts, week_charts(FINANCE_WEEK), strict=True):
        assert b"tIME" not in _chunks(chart.png)
        assert b"matplotlib" not in chart.png.lower()
        assert chart.png == again.png


def test_alt_texts_state_the_numbers_in_words(charts: list[Chart]) -> None:
    usage, trend, violations = (c.alt for c in charts)
    assert usage == (
        "Hours by category per day, Mon 16 Nov to Sun 22 Nov: Email 12 h 30 min; "
        "Instant messaging 6 h; Text messaging 2 h 45 min; Social networking 2 h 45 min; "
        "Teleconferencing 5 h 30 min; Video sharing 3 h 15 min. "
        "Busiest day Wed 18 Nov, 7 h 45 min."
    )
    assert trend.startswith(
        "Hours by category per week, 2026-W43 (from Mon 19 Oct) to 2026-W47 (this week), "
        "oldest first: Email 10 h, 11 h 30 min, 9 h, 12 h, 12 h 30 min; "
        "Instant messaging 4 h, 5 h, 6 h 30 min, 5 h 30 min, 6 h;"
    )
    assert "Video sharing 0 min, 0 min, 1 h, 2 h, 3 h 15 min." in trend
    assert violations == (
        "Violations by workgroup this week, with their minutes: Finance 3 violations, 2 h 21 min."
    )
    library = week_charts(LIBRARY_WEEK)[2].alt
    assert library == (
        "Violations by workgroup this week, with their minutes: "
        "Branch Services 9 violations, 2 h 6 min; Cataloguing 5 violations, 1 h 45 min; "
        "Community Outreach none."
    )


def test_three_charts_render_in_under_a_second(charts: list[Chart]) -> None:
    started = time.perf_counter()
    week_charts(FINANCE_WEEK)
    assert time.perf_counter() - started < 3 * 0.3


def test_styles_use_okabe_ito_and_a_distinct_second_channel_per_category() -> None:
    assert set(STYLES) == set(CATEGORIES)
    assert {style.colour for style in STYLES.values()} <= OKABE_ITO
    for channel in ("colour", "hatch", "marker", "line_style"):
        values = [getattr(style, channel) for style in STYLES.values()]
        assert len(set(values)) == len(values), channel


WINDOW = 48
"""Device pixels on a side of the patch compared; every category has a bar segment taller."""


def _best_window(mask: NDArray[np.bool_], away_from: int | None = None) -> tuple[int, int, float]:
    """The WINDOW-square that holds the most True pixels (its top, left, share), optionally
    away from the bar at column away_from."""
    if away_from is not None:
        mask = mask.copy()
        mask[:, max(away_from - 60, 0) : away_from + WINDOW + 60] = False
    table = np.pad(mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    k = WINDOW
    sums = table[k:, k:] - table[:-k, k:] - table[k:, :-k] + table[:-k, :-k]
    top, left = np.unravel_index(int(sums.argmax()), sums.shape)
    return int(top), int(left), float(sums.max()) / k / k


def _pattern_distance(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """The smallest mean grey difference between two patches over every shift of up to half
    a patch: 0 when one is the other's pattern moved, large when the patterns differ."""
    reach, k, best = WINDOW // 2, WINDOW, float("inf")
    for dy, dx in itertools.product(range(-reach, reach + 1), repeat=2):
        pa = a[max(dy, 0) : k + min(dy, 0), max(dx, 0) : k + min(dx, 0)]
        pb = b[max(-dy, 0) : k + min(-dy, 0), max(-dx, 0) : k + min(-dx, 0)]
        best = min(best, float(np.abs(pa - pb).mean()))
    return best


def test_categories_bars_stay_apart_in_grey_scale(charts: list[Chart]) -> None:
    """Face colours alone do not survive grey scale: Okabe-Ito orange and sky blue come within a
    few grey levels. So each category's bar region, found by its exact face colour in the
    colour PNG, is cut from the grey version and compared with every other category's over all
    shifts: the hatches must keep every pair apart, while the same category in two different
    bars (the control) must match."""
    image = Image.open(io.BytesIO(charts[0].png)).convert("RGB")
    colours = np.asarray(image).astype(np.int64)
    grey = np.asarray(image.convert("L")).astype(np.float64)
    face_grey = {
        c: float(np.asarray(Image.new("RGB", (1, 1), s.colour).convert("L"))[0, 0])
        for c, s in STYLES.items()
    }
    assert abs(face_grey["instant_messaging"] - face_grey["teleconferencing"]) < 8

    patches, places = {}, {}
    for category, style in STYLES.items():
        rgb = [int(style.colour[i : i + 2], 16) for i in (1, 3, 5)]
        mask = np.all(colours == rgb, axis=2)
        top, left, share = _best_window(mask)
        assert share > 0.6, f"{category}: no bar segment of {WINDOW} px found"
        patches[category] = grey[top : top + WINDOW, left : left + WINDOW]
        places[category] = (mask, left)

    for first, second in itertools.combinations(CATEGORIES, 2):
        distance = _pattern_distance(patches[first], patches[second])
        assert distance > 15, f"{first} and {second} look alike in grey ({distance:.1f})"

    # Control: categories with a second tall segment, on another day, match themselves.
    for category in ("email", "instant_messaging", "teleconferencing", "video_sharing"):
        mask, left = places[category]
        top, other, share = _best_window(mask, away_from=left)
        assert share > 0.5
        twin = grey[top : top + WINDOW, other : other + WINDOW]
        assert _pattern_distance(patches[category], twin) < 3, category
