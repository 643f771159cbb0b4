"""The summary email as a browser renders it: every chart decodes and its pixels are on screen.

Headless Chromium opens html_preview() (the HTML with its cid: images inlined, as a mail client
shows them) twice: once with a small probe script added, whose --dump-dom output says for each
<img> whether it decoded and where it sits, and once as it is, for a screenshot at the charts'
own resolution. A chart counts as shown when it decoded and its box in the screenshot holds
Okabe-Ito pixels, colours the HTML itself never uses. The same check on a copy with one chart's
data corrupted must find exactly that chart missing, so the check can fail.
"""

from __future__ import annotations

import base64
import io
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from analytics.summaries.charts import STYLES, VERMILLION, Chart, week_charts
from analytics.summaries.compose import html_preview
from tests import chromium
from tests.analytics.summaries.director_weeks import FINANCE_WEEK, sent_and_received

SCALE = 2
WINDOW = (800, 2400)
PALETTE = np.array(
    sorted({int(s.colour[1:], 16) for s in STYLES.values()} | {int(VERMILLION[1:], 16)})
)
"""The charts' colours as 0xRRGGBB."""
PROBE = """<script>
window.addEventListener("load", () => {
  for (const img of document.images) {
    const box = img.getBoundingClientRect();
    img.dataset.decoded = img.complete && img.naturalWidth > 0 ? "yes" : "no";
    img.dataset.box = [box.left, box.top, box.width, box.height].map(Math.round).join(",");
  }
});
</script>
"""


@dataclass(frozen=True)
class Shown:
    alt: str
    decoded: bool
    box: tuple[int, int, int, int]
    """left, top, width, height in CSS pixels."""
    palette_pixels: int = 0
    """Pixels of the box in the screenshot that have one of the charts' colours."""


class _ProbedImages(HTMLParser):
    def __init__(self, dom: str) -> None:
        super().__init__()
        self.found: list[Shown] = []
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            found = dict(attrs)
            left, top, width, height = (int(n) for n in str(found["data-box"]).split(","))
            decoded = found["data-decoded"] == "yes"
            self.found.append(Shown(str(found["alt"]), decoded, (left, top, width, height)))


def _palette_mask(png: Path | io.BytesIO) -> NDArray[np.bool_]:
    """Pixels of exactly a chart colour: at the charts' own resolution Chromium copies them."""
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(np.int64)
    packed = (pixels[:, :, 0] << 16) | (pixels[:, :, 1] << 8) | pixels[:, :, 2]
    return np.isin(packed, PALETTE)


def _render(page: Path) -> tuple[list[Shown], NDArray[np.bool_]]:
    """Each <img> as shown, and the screenshot's chart-coloured pixels; Chromium runs twice,
    side by side."""
    probed = page.with_name(page.stem + "-probed.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    shot = page.with_suffix(".png")
    with ThreadPoolExecutor(2) as pool:
        dom = pool.submit(chromium.dump_dom, probed, window=WINDOW, scale=SCALE)
        pool.submit(chromium.screenshot, page, shot, window=WINDOW, scale=SCALE).result()
        images = _ProbedImages(dom.result()).found
    mask = _palette_mask(shot)
    shown = []
    for image in images:
        left, top, width, height = (n * SCALE for n in image.box)
        pixels = int(mask[top : top + height, left : left + width].sum())
        shown.append(Shown(image.alt, image.decoded, image.box, pixels))
    outside = mask.copy()
    for image in images:
        left, top, width, height = (n * SCALE for n in image.box)
        outside[top : top + height, left : left + width] = False
    return shown, outside


def _missing(shown: list[Shown], charts: list[Chart]) -> list[str]:
    """The alt texts of the charts a reader would not see: not decoded, or with fewer than 90%
    of their own chart-coloured pixels on screen."""
    missing = []
    for image, chart in zip(shown, charts, strict=True):
        drawn = int(_palette_mask(io.BytesIO(chart.png)).sum())
        if not image.decoded or image.palette_pixels < 0.9 * drawn:
            missing.append(image.alt)
    return missing


def _corrupt(html: str, chart: Chart) -> str:
    """The page with that chart's PNG signature and header overwritten."""
    encoded = base64.b64encode(chart.png).decode("ascii")
    broken = base64.b64encode(b"\0" * 33 + chart.png[33:]).decode("ascii")
    assert encoded in html
    return html.replace(encoded, broken)


def test_every_chart_shows_in_a_browser_and_a_broken_one_is_caught(tmp_path: Path) -> None:
    chromium.chromium_binary()  # installs or skips before any page is written
    html = html_preview(sent_and_received(FINANCE_WEEK))
    charts = week_charts(FINANCE_WEEK)
    whole = tmp_path / "summary.html"
    whole.write_text(html)
    broken = tmp_path / "broken.html"
    broken.write_text(_corrupt(html, charts[2]))

    with ThreadPoolExecutor(2) as pool:
        whole_rendered, broken_rendered = pool.map(_render, (whole, broken))
    shown, outside = whole_rendered
    assert [s.alt for s in shown] == [c.alt for c in charts]
    assert [s.box[2:] for s in shown] == [(c.width, c.height) for c in charts]
    assert _missing(shown, charts) == []
    assert int(outside.sum()) == 0, "the HTML itself uses the charts' colours"

    shown_broken, _ = broken_rendered
    assert _missing(shown_broken, charts) == [charts[2].alt]
    assert [s.decoded for s in shown_broken] == [True, True, False]
    assert shown_broken[2].palette_pixels == 0


def test_the_preview_has_no_unresolved_references() -> None:
    html = html_preview(sent_and_received(FINANCE_WEEK))
    assert re.search(r"src=\"(?!data:image/png;base64,)", html) is None
