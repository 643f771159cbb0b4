"""The weekly summaries' send ledger (schema 005): what makes a week's send idempotent.

A run claims each director's email before sending it and records the outcome after. A claim is
refused when the newest attempt was sent, or is another run's claim younger than CLAIM_TTL, so
the timer and an admin running the same week at once never both send. A run that dies between
its claim and its record leaves a claim that lapses after CLAIM_TTL; the next run then sends
again, with the same Message-ID, so a mail system that deduplicates shows it once. That window
(the SMTP server accepted, the record did not happen) is the only way a director gets two
copies, and it needs a crash in the few milliseconds between the two.
Runs inside the writer's transactions, so claims are serialised with everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

CLAIM_TTL = timedelta(minutes=15)
OUTCOMES = ("sent", "refused", "failed", "no_address")
MAX_DETAIL_CHARS = 2000


class LedgerError(ValueError):
    """A record that does not fit the ledger: no such claim, or a bad outcome."""


class UnknownAttempt(LedgerError):
    """No claim with this week, director and attempt."""


@dataclass(frozen=True)
class Attempt:
    week: date
    director_id: str
    attempt: int
    status: str
    recipient: str
    message_id: str
    detail: str
    operator_id: str
    at: datetime
    """When it was settled, or claimed while it is a claim (naive UTC)."""


@dataclass(frozen=True)
class Claim:
    claimed: bool
    attempt: int
    """The new attempt when claimed; else the attempt that decided it."""
    reason: str
    latest: Attempt | None


_COLUMNS = """week, director_id, attempt, status, recipient, message_id, detail, operator_id,
              coalesce(settled_at, claimed_at)"""


def claim(
    con: duckdb.DuckDBPyConnection,
    *,
    week: date,
    director_id: str,
    recipient: str,
    message_id: str,
    operator_id: str,
    now: datetime,
) -> Claim:
    """Claim this week's email to `director_id` for the caller, unless it was sent or is
    being sent."""
    latest = _latest(con, week, director_id)
    now = _naive_utc(now)
    if latest is not None and latest.status == "sent":
        return Claim(False, latest.attempt, f"sent {latest.at:%Y-%m-%d %H:%M} UTC", latest)
    if latest is not None and latest.status == "claimed" and now - latest.at < CLAIM_TTL:
        why = f"being sent by {latest.operator_id} since {latest.at:%H:%M:%S} UTC"
        return Claim(False, latest.attempt, why, latest)
    attempt = 1 if latest is None else latest.attempt + 1
    con.execute(
        """INSERT INTO summaries_sent (week, director_id, attempt, status, recipient, message_id,
                                       detail, operator_id, claimed_at)
           VALUES (?, ?, ?, 'claimed', ?, ?, '', ?, ?)""",
        [week, director_id, attempt, recipient, message_id, operator_id, now],
    )
    return Claim(True, attempt, "", latest)


def record(
    con: duckdb.DuckDBPyConnection,
    *,
    week: date,
    director_id: str,
    attempt: int,
    status: str,
    outcome_detail: str,
    now: datetime,
) -> Attempt:
    """Set a claim's outcome, once; the claim must be there and still open."""
    if status not in OUTCOMES:
        raise LedgerError(f"status: {status!r} is not one of {', '.join(OUTCOMES)}")
    settled = con.execute(
        """UPDATE summaries_sent SET status = ?, detail = ?, settled_at = ?
           WHERE week = ? AND director_id = ? AND attempt = ? AND status = 'claimed'
           RETURNING attempt""",
        [status, outcome_detail[:MAX_DETAIL_CHARS], _naive_utc(now), week, director_id, attempt],
    ).fetchall()
    if not settled:
        raise UnknownAttempt(
            f"no open claim {attempt} for director {director_id!r} in the week of {week}"
        )
    found = _latest(con, week, director_id, attempt)
    assert found is not None
    return found


def attempts(con: duckdb.DuckDBPyConnection, week: date) -> list[Attempt]:
    """Every attempt of the week, by director then attempt."""
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM summaries_sent WHERE week = ? ORDER BY director_id, attempt",
        [week],
    ).fetchall()
    return [Attempt(*row) for row in rows]


def _latest(
    con: duckdb.DuckDBPyConnection, week: date, director_id: str, attempt: int | None = None
) -> Attempt | None:
    row = con.execute(
        f"""SELECT {_COLUMNS} FROM summaries_sent
            WHERE week = ? AND director_id = ? AND (?::INTEGER IS NULL OR attempt = ?)
            ORDER BY attempt DESC LIMIT 1""",
        [week, director_id, attempt, attempt],
    ).fetchone()
    return Attempt(*row) if row else None


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
