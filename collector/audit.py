"""Reading the audit log back: who did or looked at what, when (§4.1 "appropriate staff").

Writing is `enrollment.write_audit`, in the same transaction as the work it records.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000


@dataclass(frozen=True)
class AuditRecord:
    logged_at_ms: int
    operator_id: str
    role: str
    action: str
    target: str
    outcome: str
    detail: str


def list_audit(
    con: duckdb.DuckDBPyConnection,
    *,
    since_ms: int,
    limit: int,
    only_operator: str,
    only_action: str,
) -> list[AuditRecord]:
    """Newest first; empty filters match everything."""
    limit = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
    rows = con.execute(
        """SELECT epoch_ms(logged_at), operator_id, role, action, coalesce(target, ''),
                  outcome, coalesce(detail, '')
           FROM audit_log
           WHERE logged_at >= make_timestamp($since::BIGINT * 1000)
             AND ($operator = '' OR operator_id = $operator)
             AND ($action = '' OR action = $action)
           ORDER BY logged_at DESC
           LIMIT $limit""",
        {"since": since_ms, "operator": only_operator, "action": only_action, "limit": limit},
    ).fetchall()
    return [AuditRecord(*row) for row in rows]
