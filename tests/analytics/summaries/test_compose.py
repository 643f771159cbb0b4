"""The weekly summary email: its MIME tree, its headers, what it puts first, how it writes
numbers, and that it shows nothing beyond the director's own week."""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import EmailMessage, Message
from html.parser import HTMLParser

import pytest

from analytics.summaries.charts import week_charts
from analytics.summaries.compose import attention_lines, compose, html_preview, subject
from analytics.summaries.model import DirectorWeek
from tests.analytics.summaries.director_weeks import (
    EMPTY_WEEK,
    FINANCE_VIOLATIONS,
    FINANCE_WEEK,
    LIBRARY_WEEK,
    QUIET_WEEK,
    SENDER,
    SENT_AT,
    message_id,
    sent_and_received,
)


class _Images(HTMLParser):
    """Every <img>'s attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.found.append(dict(attrs))


def _parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


def _everything(message: EmailMessage) -> str:
    """All a reader can see: both parts, alt texts included (they are in the HTML)."""
    text, html = _parts(message)
    return f"{message['Subject']}\n{text}\n{html}"


@pytest.fixture(scope="module")
def finance() -> EmailMessage:
    return sent_and_received(FINANCE_WEEK)


@pytest.fixture(scope="module")
def library() -> EmailMessage:
    return sent_and_received(LIBRARY_WEEK)


def test_the_tree_is_text_then_html_with_its_charts(finance: EmailMessage) -> None:
    assert finance.get_content_type() == "multipart/alternative"
    text, related = finance.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, *images = related.iter_parts()
    assert html.get_content_type() == "text/html"
    assert [image.get_content_type() for image in images] == ["image/png"] * 3
    assert [image.get_filename() for image in images] == [
        "usage-by-day.png",
        "trend.png",
        "violations-by-workgroup.png",
    ]
    assert all(image.get_content_disposition() == "inline" for image in images)
    for image in images:
        assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")


def test_every_cid_is_attached_and_every_attachment_is_referenced(finance: EmailMessage) -> None:
    _, html = _parts(finance)
    referenced = set(re.findall(r"cid:([^\"'\s)>]+)", html))
    attached = {
        part["Content-ID"].strip("<>")
        for part in finance.walk()
        if part.get_content_maintype() == "image"
    }
    assert referenced == attached
    assert len(attached) == 3


def test_each_img_has_alt_width_and_height_of_its_chart(finance: EmailMessage) -> None:
    _, html = _parts(finance)
    images = _Images(html).found
    charts = week_charts(FINANCE_WEEK)
    assert [image["src"] for image in images] == [f"cid:{c.content_id}" for c in charts]
    assert [image["alt"] for image in images] == [c.alt for c in charts]
    assert [(image["width"], image["height"]) for image in images] == [
        (str(c.width), str(c.height)) for c in charts
    ]
    assert "Email 12 h 30 min" in str(images[0]["alt"])


def test_headers_address_the_director_and_name_week_and_recipient(finance: EmailMessage) -> None:
    assert finance["To"] == "Dana Whitfield <dana.whitfield@city.example>"
    assert finance["From"] == SENDER
    assert finance["Message-ID"] == message_id(FINANCE_WEEK)
    assert finance["Date"] == "Mon, 23 Nov 2026 07:00:00 -0000"
    assert finance["X-Commaudit-Week"] == "2026-W47"
    assert finance["X-Commaudit-Director"] == "E1001"


def test_a_director_without_an_address_gets_no_email() -> None:
    nameless = replace(FINANCE_WEEK, director=replace(FINANCE_WEEK.director, email=None))
    with pytest.raises(ValueError, match="E1001"):
        compose(nameless, SENDER, message_id(nameless), SENT_AT)


def test_subject_counts_what_needs_attention() -> None:
    assert subject(FINANCE_WEEK) == (
        "commaudit week 2026-W47, Finance: 3 violations, 2 overdue training, 1 silent device"
    )
    assert subject(LIBRARY_WEEK) == "commaudit week 2026-W47, Branch Services and 2 more: " + (
        "14 violations"
    )
    assert subject(QUIET_WEEK) == (
        "commaudit week 2026-W47, Parks and Recreation: nothing needs your attention"
    )


def test_the_subject_survives_sending(finance: EmailMessage) -> None:
    assert finance["Subject"] == subject(FINANCE_WEEK)
    # A subject that fits a line of its own is folded before its first word, and Python 3.11's
    # parser keeps that fold's space (CPython gh-124452, fixed in later releases); mail clients
    # drop it.
    assert sent_and_received(QUIET_WEEK)["Subject"].lstrip() == subject(QUIET_WEEK)


def test_attention_lines_come_most_urgent_first_citing_the_clauses() -> None:
    assert attention_lines(FINANCE_WEEK) == [
        "3 violations of workgroup restrictions (4.01.06 §4.4), up from 1 the week before",
        "2 employees overdue for training (4.01.06 §4.3)",
        "1 silent device: not heard from lately, so its use is not known (4.01.06 §2.3)",
    ]
    assert attention_lines(LIBRARY_WEEK) == [
        "14 violations of workgroup restrictions (CS3.4.4), down from 20 the week before"
    ]
    assert attention_lines(QUIET_WEEK) == []
    assert attention_lines(EMPTY_WEEK) == []


@pytest.mark.parametrize(
    ("before", "said"),
    [(0, "none the week before"), (3, "as many as the week before (3)"),
     (1_500, "down from 1,500 the week before")],
)  # fmt: skip
def test_violations_are_compared_with_the_week_before(before: int, said: str) -> None:
    week = replace(FINANCE_WEEK, previous_week_violations=before)
    assert attention_lines(week)[0].endswith(said)


def test_both_parts_open_with_greeting_then_attention_before_any_total(
    finance: EmailMessage,
) -> None:
    text, html = _parts(finance)
    lines = text.splitlines()
    assert lines[0] == "Dear Department Director Dana Whitfield,"
    assert lines[2] == "Needs your attention in Finance, week 2026-W47:"
    assert lines[3:6] == [f"- {line}" for line in attention_lines(FINANCE_WEEK)]
    assert text.index("- 3 violations") < text.index("USE THIS WEEK") < text.index("32 h 45 min")
    body = html[html.index("<body") :]
    assert body.index("Dear Department Director Dana Whitfield,") < body.index("3 violations")
    assert body.index("3 violations") < body.index("Use this week") < body.index("32 h 45 min")
    assert body.index("Silent devices") < body.index("Use this week")


def test_details_say_who_which_app_when_and_how_long(finance: EmailMessage) -> None:
    text, html = _parts(finance)
    assert "- Blake Rivera: youtube (Video sharing), Fri 20 Nov 09:30 UTC, 1 h 36 min" in text
    assert "- Avery Stone: youtube (Video sharing), Wed 18 Nov 14:05 UTC, 45 min" in text
    assert "no employee on record (device dev-unassigned): vimeo (Video sharing)" in text
    assert text.index("Blake Rivera") < text.index("Avery Stone")  # longest first
    assert "VIOLATIONS (4.01.06 §4.4), longest first, 2 h 21 min in all" in text
    assert "- Casey Moreau (manager: Jordan Ellis): last trained Tue 30 Sep 2025, 54 days" in text
    assert "- Drew Nakamura (manager: none on record): never trained" in text
    assert "- fin-ledger-07: last heard from Thu 19 Nov 16:42 UTC" in text
    assert "fin-avery-01" not in text  # an old agent is IMS's to fix, not a silent device
    assert "Figures from the data as\npublished Mon 23 Nov 06:00 UTC (snapshot 4812)." in text
    for shown in ("Blake Rivera", "Fri 20 Nov 09:30 UTC", "last trained Tue 30 Sep 2025",
                  "fin-ledger-07", "Mon 23 Nov 06:00 UTC"):  # fmt: skip
        assert shown in html


def test_long_lists_show_ten_and_count_the_rest(library: EmailMessage) -> None:
    text, html = _parts(library)
    listed = [line for line in text.splitlines() if line.startswith("- Reader")]
    assert len(listed) == 10
    assert listed[0] == (
        "- Reader 13: tiktok (Social networking), Fri 20 Nov 03:00 UTC, 23 min (Cataloguing)"
    )
    assert "  and 4 more violations" in text
    assert "and 4 more violations" in html
    for shortest in ("Reader 00", "Reader 01", "Reader 02", "Reader 03"):
        assert shortest not in text and shortest not in html


def test_numbers_are_written_for_people(finance: EmailMessage, library: EmailMessage) -> None:
    seen = _everything(finance) + _everything(library)
    assert "12 h 30 min" in seen and "1,234 h 30 min" in seen and "9,876" in seen
    assert "1,204" in seen
    for raw in ("seconds", "12.5", "12.50", "1234", "95.5", "Decimal", "2026-11-", "T14:05"):
        assert raw not in seen, raw


def test_a_week_with_nothing_to_attend_to_says_so_first_and_draws_what_it_has() -> None:
    quiet = sent_and_received(QUIET_WEEK)
    text, html = _parts(quiet)
    assert text.splitlines()[2] == (
        "Nothing needs your attention in Parks and Recreation, week 2026-W47: no violations "
        "(2 the week before), no one overdue for training, no silent devices."
    )
    assert "Nothing needs your attention in Parks and Recreation" in html
    assert "No violations this week." in text and "No violations this week." in html
    assert len(_Images(html).found) == 2
    assert "VIOLATIONS" not in text and "OVERDUE TRAINING" not in text


def test_an_empty_week_has_no_images_only_sentences() -> None:
    empty = sent_and_received(EMPTY_WEEK)
    text, html = _parts(empty)
    assert [part.get_content_type() for part in empty.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    assert "<img" not in html and "cid:" not in html
    for sentence in (
        "No use of communication apps was recorded this week.",
        "Nothing to draw by day: no use was recorded this week.",
        "No use was recorded in the last five weeks.",
        "No violations this week.",
    ):
        assert sentence in text and sentence in html


def _other_weeks_words(week: DirectorWeek) -> set[str]:
    """Names that belong to the other fixture weeks' directors only."""
    words = set()
    for other in (FINANCE_WEEK, LIBRARY_WEEK, QUIET_WEEK):
        if other.director != week.director:
            words |= {wg.name for wg in other.director.workgroups}
            words |= {other.director.full_name}
            words |= {v.employee_name for v in other.violations if v.employee_name}
            words |= {t.full_name for t in other.training_overdue}
    return words


@pytest.mark.parametrize(
    "week", [FINANCE_WEEK, LIBRARY_WEEK, QUIET_WEEK], ids=lambda w: w.director.employee_id
)
def test_only_the_directors_own_week_appears(week: DirectorWeek) -> None:
    seen = _everything(sent_and_received(week))
    for word in _other_weeks_words(week):
        assert word not in seen, word


def test_the_organisations_own_clauses_are_cited(library: EmailMessage) -> None:
    seen = _everything(library)
    assert "CS3.4.4" in seen
    assert "4.01.06" not in seen
    assert "Dear Associate Director Morgan Okafor," in seen


def test_names_are_escaped_in_html() -> None:
    tricky = replace(FINANCE_VIOLATIONS[0], employee_name="Sam <b>Bold</b> & Co")
    week = replace(FINANCE_WEEK, violations=(tricky,))
    text, html = _parts(sent_and_received(week))
    assert "Sam &lt;b&gt;Bold&lt;/b&gt; &amp; Co" in html
    assert "<b>Bold</b>" not in html
    assert "- Sam <b>Bold</b> & Co: youtube" in text


def test_the_html_is_for_mail_clients(finance: EmailMessage) -> None:
    _, html = _parts(finance)
    lowered = html.lower()
    assert "<script" not in lowered
    assert "http://" not in lowered and "https://" not in lowered
    assert "max-width:640px" in lowered
    for colour in ("#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"):
        assert colour not in lowered


def test_the_preview_inlines_every_chart(finance: EmailMessage) -> None:
    preview = html_preview(finance)
    assert "cid:" not in preview
    sources = [image["src"] for image in _Images(preview).found]
    assert len(sources) == 3
    assert all(str(s).startswith("data:image/png;base64,iVBORw0KGgo") for s in sources)


def test_the_preview_leaves_a_reference_without_its_part_missing(finance: EmailMessage) -> None:
    sent = compose(FINANCE_WEEK, SENDER, message_id(FINANCE_WEEK), SENT_AT)
    _, related = sent.iter_parts()
    kept: list[Message[str, str] | str] = []
    kept.extend(related.iter_parts())
    related.set_payload(kept[:-1])  # without the violations chart
    preview = html_preview(sent)
    assert preview.count("data:image/png;base64,") == 2
    assert "cid:violations-by-workgroup.2026-W47.e1001@commaudit" in preview
