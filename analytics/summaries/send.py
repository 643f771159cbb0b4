"""One week's send: claim each director's email in the collector's ledger, compose, deliver,
record the outcome (collector/summary_ledger.py says why this makes a rerun send only what
failed, and the one crash window in which a director could get two copies).

Directors the ledger already shows as sent are not even fetched again. A director the roster
gives no address is recorded as `no_address`: a rerun after the roster is fixed sends it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol

from admin.connection import Connection
from admin.rpc import ask
from analytics.summaries.compose import compose
from analytics.summaries.delivery import SENT, Delivery
from analytics.summaries.gather import fetch_weeks, week_start_ms
from analytics.summaries.model import DirectorWeek, Week
from commaudit.v1 import admin_service_pb2

log = logging.getLogger(__name__)

SKIPPED = "skipped"
"""Not this run's to send: already sent, or another run holds the claim."""


class Delivers(Protocol):
    """What sends one message: delivery.SmtpMailer."""

    def send(self, message: EmailMessage) -> Delivery: ...


@dataclass(frozen=True)
class Outcome:
    """One director's line in the run's report."""

    director_id: str
    full_name: str
    recipient: str
    status: str
    """sent | refused | failed | no_address | skipped."""
    detail: str

    @property
    def ok(self) -> bool:
        return self.status in (SENT, SKIPPED)


def message_id(week: Week, director_id: str, sender: str) -> str:
    """The same on every attempt for one week and director, so a mail system that
    deduplicates shows a resent copy once."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "commaudit.invalid"
    return f"<summary.{week.label}.{director_id}@{domain}>"


def already_sent(connection: Connection, week: Week) -> dict[str, admin_service_pb2.SummaryAttempt]:
    """The directors whose newest attempt this week was sent, with that attempt."""
    answer = ask(
        connection,
        "ListSummaries",
        admin_service_pb2.ListSummariesRequest(week_start_ms=week_start_ms(week)),
    )
    newest: dict[str, admin_service_pb2.SummaryAttempt] = {}
    for attempt in answer.attempts:
        newest[attempt.director_id] = attempt  # ordered by director, then attempt
    return {d: a for d, a in newest.items() if a.status == SENT}


def send_week(
    connection: Connection,
    week: Week,
    director_id: str | None,
    mailer: Delivers,
    sender: str,
    now: datetime,
) -> list[Outcome]:
    """Send what the ledger does not show as sent; one Outcome per director considered."""
    sent = already_sent(connection, week)
    outcomes = [
        Outcome(d, "", a.recipient, SKIPPED, f"sent before (attempt {a.attempt})")
        for d, a in sent.items()
        if director_id in (None, d)
    ]
    if director_id in sent:
        return outcomes
    for director_week in fetch_weeks(connection, week, director_id, except_directors=sent):
        outcomes.append(_send_one(connection, director_week, mailer, sender, now))
    return outcomes


def _send_one(
    connection: Connection, week: DirectorWeek, mailer: Delivers, sender: str, now: datetime
) -> Outcome:
    director = week.director
    recipient = str(Address(director.full_name, addr_spec=director.email)) if director.email else ""
    mid = message_id(week.week, director.employee_id, sender)
    claim = ask(
        connection,
        "ClaimSummary",
        admin_service_pb2.ClaimSummaryRequest(
            week_start_ms=week_start_ms(week.week),
            director_id=director.employee_id,
            recipient=recipient,
            message_id=mid,
        ),
    )
    if not claim.claimed:
        return Outcome(director.employee_id, director.full_name, recipient, SKIPPED, claim.reason)
    if not director.email:
        status, detail = "no_address", "the roster has no email address for this director"
    else:
        try:
            delivery = mailer.send(compose(week, sender, mid, now))
            status, detail = delivery.status, delivery.detail
        except Exception as exc:  # recorded, and the other directors still get theirs
            log.exception("summary for %s not composed", director.employee_id)
            status, detail = "failed", f"not composed: {type(exc).__name__}: {exc}"
    ask(
        connection,
        "RecordSummary",
        admin_service_pb2.RecordSummaryRequest(
            week_start_ms=week_start_ms(week.week),
            director_id=director.employee_id,
            attempt=claim.attempt,
            status=status,
            detail=detail,
        ),
    )
    return Outcome(director.employee_id, director.full_name, recipient, status, detail)


def failures(outcomes: Iterable[Outcome]) -> list[Outcome]:
    return [outcome for outcome in outcomes if not outcome.ok]
