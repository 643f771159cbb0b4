"""`commaudit summaries send|build|status` end to end: a real collector serving the week of
week_world.py from its lake, a real SMTP server on loopback (aiosmtpd), the commands as a user
runs them. The received email is parsed back and checked against the report SQL run for the
director's workgroup; a rerun sends only what failed; a third run sends nothing."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from admin.connection import Connection, save_connection
from analytics.cli import app
from analytics.summaries.humane import category_label, hours_text
from tests.analytics.summaries.smtp_server import SENDER, LoopbackSmtp
from tests.analytics.summaries.week_world import WEEK, build_week_world
from tests.collector.collector_harness import RunningCollector, wait_published

OTHERS = ("Finn Fir", "Finance", "Ann Alder", "Liz Lime", "Main Library", "facebook", "slack",
          "liz-desk", "kiosk", "finn-pc", "ANN-LAPTOP", "fin-spare")  # fmt: skip
"""Everything of the week that is not Dana's (wg-parks) to see."""


@dataclass
class Served:
    connection: Path
    collector: RunningCollector

    def commaudit(self, *args: str, env: Mapping[str, str] | None = None) -> Result:
        return CliRunner().invoke(app, [*args, "--connection", str(self.connection)], env=env)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    state = tmp_path / "collector"
    state.mkdir()
    credential = build_week_world(state / "commaudit.duckdb")
    collector = RunningCollector(state, publish_interval_s=60)
    wait_published(state / "lake")
    connection = tmp_path / "admin.json"
    save_connection(connection, Connection(collector.address, None, credential))
    yield Served(connection, collector)
    collector.stop()


def smtp_env(server: LoopbackSmtp) -> dict[str, str]:
    return {
        "COMMAUDIT_SMTP_HOST": "127.0.0.1",
        "COMMAUDIT_SMTP_PORT": str(server.port),
        "COMMAUDIT_SMTP_SECURITY": "none",
        "COMMAUDIT_SMTP_SENDER": SENDER,
    }


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_a_week_is_sent_once_to_each_director_and_a_rerun_sends_only_what_failed(
    served: Served,
) -> None:
    busy = {"finn@city.example": "451 4.2.1 mailbox busy, try later"}
    with LoopbackSmtp("none", refuse=busy) as server:
        first = served.commaudit("summaries", "send", "--week", WEEK, env=smtp_env(server))
        assert first.exit_code == 1, first.output
        assert [list(m.rcpt_tos) for m in server.messages] == [["dana@city.example"]]
        assert "2 of 3 not delivered" in first.stderr
        assert "E200: failed:" in first.stderr and "451 4.2.1 mailbox busy" in first.stderr
        assert "L100: no_address: the roster has no email address" in first.stderr

        busy.clear()  # the mailbox is free again
        second = served.commaudit("summaries", "send", "--week", WEEK, env=smtp_env(server))
        assert second.exit_code == 1, second.output  # Lee still has no address
        assert [list(m.rcpt_tos) for m in server.messages] == [
            ["dana@city.example"], ["finn@city.example"]
        ]  # fmt: skip
        third = served.commaudit("summaries", "send", "--week", WEEK, env=smtp_env(server))
        assert len(server.messages) == 2, third.output
        assert "1 of 3 not delivered" in third.stderr
        dana, finn = (received.message for received in server.messages)

    status = served.commaudit("summaries", "status", "--week", WEEK)
    assert status.exit_code == 0, status.output
    cells = [line.split("│")[1:4] for line in status.stdout.splitlines() if "│" in line]
    attempts = [[cell.strip() for cell in row] for row in cells if row[0].strip()]
    assert attempts == [
        ["E100", "1", "sent"], ["E200", "1", "failed"], ["E200", "2", "sent"],
        ["L100", "1", "no_address"], ["L100", "2", "no_address"], ["L100", "3", "no_address"],
    ]  # fmt: skip
    # the same Message-ID on every attempt, so a resent copy can be recognised
    assert dana["Message-ID"] == "<summary.2026-W47.E100@city.example>"
    assert finn["To"] == "Finn Fir <finn@city.example>"


def test_the_email_holds_the_report_numbers_of_the_directors_workgroup_and_nothing_else(
    served: Served,
) -> None:
    with LoopbackSmtp("none") as server:
        sent = served.commaudit("summaries", "send", "--week", WEEK, "--director", "E100",
                                env=smtp_env(server))  # fmt: skip
        assert sent.exit_code == 0, sent.output
        [received] = server.messages
    message = received.message
    text, html = parts(message)
    for other in OTHERS:
        assert other not in text and other not in html and other not in message["Subject"]

    def report(name: str) -> list[dict[str, object]]:
        result = served.commaudit("report", name, "--week", WEEK, "--workgroup", "wg-parks",
                                  "--format", "json")  # fmt: skip
        assert result.exit_code == 0, result.output
        rows: list[dict[str, object]] = json.loads(result.stdout)
        return rows

    hours: dict[str, Decimal] = defaultdict(Decimal)
    for row in report("usage"):
        hours[str(row["category"])] += Decimal(str(row["hours"]))
    assert len(hours) == 3
    for category, total in hours.items():
        line = rf"^\s*{category_label(category)}\s+{hours_text(total)}\s"
        assert re.search(line, text, re.MULTILINE), (line, text)
    violations = report("violations")
    overdue = report("training-overdue")
    silent = [row for row in report("coverage") if row["finding"] == "silent"]
    assert (len(violations), len(overdue), len(silent)) == (1, 1, 1)
    subject = message["Subject"]
    assert "1 violation" in subject and "1 overdue training" in subject
    assert "1 silent device" in subject
    # attention comes before any totals, in both parts
    for body in (text, html):
        assert body.index("Bob Birch") < body.index(hours_text(hours["email"]))
    assert "bob-phone" in text and "Dana Dogwood" in text

    # every chart the HTML shows is attached, and every attachment is shown
    cids = {part["Content-ID"].strip("<>") for part in message.walk()
            if part.get_content_type() == "image/png"}  # fmt: skip
    shown = {cid for cid in cids if f"cid:{cid}" in html}
    assert len(cids) == 3 and shown == cids


def test_build_writes_each_email_and_a_preview_and_dry_run_leaves_the_ledger_alone(
    served: Served, tmp_path: Path
) -> None:
    out = tmp_path / "built"
    built = served.commaudit("summaries", "build", "--week", WEEK, "--out", str(out))
    assert built.exit_code == 0, built.output
    folder = out / WEEK
    assert sorted(p.name for p in folder.iterdir()) == [
        "E100.eml", "E100.html", "E200.eml", "E200.html",
    ]  # fmt: skip
    assert "data:image/png;base64," in (folder / "E100.html").read_text()
    assert "(no email address in the roster)" in built.stdout
    outbox = tmp_path / "outbox"
    dry = served.commaudit("summaries", "send", "--week", WEEK, "--dry-run", "--outbox",
                           str(outbox))  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert sorted(p.name for p in (outbox / WEEK).iterdir()) == ["E100.eml", "E200.eml"]
    assert "dry run: nothing sent, the ledger unchanged" in dry.stderr
    status = served.commaudit("summaries", "status", "--week", WEEK)
    assert "E100" not in status.stdout


def test_send_without_a_mail_server_or_with_a_bad_week_says_what_to_do(served: Served) -> None:
    unset = served.commaudit("summaries", "send", "--week", WEEK, env={"COMMAUDIT_SMTP_HOST": ""})
    assert unset.exit_code == 2
    assert "no SMTP host configured" in unset.stderr and "--dry-run" in unset.stderr
    bad = served.commaudit("summaries", "send", "--week", "2026-W99")
    assert bad.exit_code == 2
    assert "--week: '2026-W99' is not an ISO week like 2026-W47, or 'last'" in bad.stderr
