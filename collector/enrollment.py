"""Enrollment tokens, device credentials and revocation, as rows in the collector's database.

Each function runs inside one Store transaction (Store.transaction), on the one read-write
connection, so redeeming a token is atomic: two devices racing for one token cannot both win.
A token is one-time and expiring, bound to an organisation, an ownership (employer or personal
device, City 4.01.06 §3.1 / §3.2) and optionally an employee; the device it enrolls inherits
those. Refusals raise Unauthenticated with a message that says which rule refused.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import duckdb

from collector.credentials import (
    DEVICE_PREFIX,
    ID_PATTERN,
    OPERATOR_PREFIX,
    TOKEN_PREFIX,
    Unauthenticated,
    compose,
    digest,
    matches,
    new_secret,
    parse,
)

ORGS = ("city", "library")
OWNERSHIPS = ("employer", "personal")
MIN_TOKEN_LIFETIME_S = 60
MAX_TOKEN_LIFETIME_S = 90 * 86_400
MAX_TEXT_CHARS = 128


class EnrollmentError(ValueError):
    """A request that cannot be carried out as asked (bad org, unknown device...)."""


class UnknownDevice(EnrollmentError):
    """No device with that id ever enrolled."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    expires_at_ms: int


@dataclass(frozen=True)
class DeviceGrant:
    """What a redeemed token gives the device (EnrollResponse)."""

    device_id: str
    credential: str
    key_sha256: bytes
    org: str
    ownership: str
    employee_id: str


@dataclass(frozen=True)
class DeviceRecord:
    device_id: str
    org: str
    ownership: str
    employee_id: str
    hostname: str
    os: str
    agent_version: str
    enrolled_at_ms: int
    revoked_at_ms: int
    revoke_reason: str


_TS = "make_timestamp(?::BIGINT * 1000)"  # ms since the epoch -> TIMESTAMP (UTC, no zone math)


def create_token(
    con: duckdb.DuckDBPyConnection,
    *,
    org: str,
    ownership: str,
    employee_id: str,
    expires_in_s: int,
    operator_id: str,
    now_ms: int,
) -> IssuedToken:
    """A new one-time token; the secret is returned once and stored only as a digest."""
    if org not in ORGS:
        raise EnrollmentError(f"org: {org!r} is not one of {', '.join(ORGS)}")
    if ownership not in OWNERSHIPS:
        raise EnrollmentError(f"ownership: {ownership!r} is not one of {', '.join(OWNERSHIPS)}")
    if employee_id and not ID_PATTERN.fullmatch(employee_id):
        raise EnrollmentError("employee_id: must be 1-128 of A-Z a-z 0-9 . _ - (not starting .)")
    if not MIN_TOKEN_LIFETIME_S <= expires_in_s <= MAX_TOKEN_LIFETIME_S:
        raise EnrollmentError(
            f"expires_in_s: {expires_in_s} is outside {MIN_TOKEN_LIFETIME_S} s to 90 days"
        )
    token_id = secrets.token_hex(8)
    secret = new_secret()
    expires_at_ms = now_ms + expires_in_s * 1000
    con.execute(
        f"INSERT INTO enrollment_tokens (token_id, secret_sha256, org, ownership, employee_id,"
        f" created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, {_TS}, ?, {_TS})",
        [
            token_id,
            digest(secret),
            org,
            ownership,
            employee_id or None,
            now_ms,
            operator_id,
            expires_at_ms,
        ],
    )
    return IssuedToken(compose(TOKEN_PREFIX, token_id, secret), token_id, expires_at_ms)


def redeem_token(
    con: duckdb.DuckDBPyConnection,
    token: str,
    *,
    hostname: str,
    os: str,
    agent_version: str,
    now_ms: int,
) -> DeviceGrant:
    """Spend the token on a new device; Unauthenticated names why a token is refused."""
    token_id, secret = parse(token, TOKEN_PREFIX)
    row = con.execute(
        "SELECT secret_sha256, org, ownership, coalesce(employee_id, ''), epoch_ms(expires_at),"
        " epoch_ms(used_at), used_by_device FROM enrollment_tokens WHERE token_id = ?",
        [token_id],
    ).fetchone()
    if row is None or not matches(secret, bytes(row[0])):
        raise Unauthenticated("unknown enrollment token")
    _, org, ownership, employee_id, expires_at_ms, used_at_ms, used_by = row
    if used_at_ms is not None:
        raise Unauthenticated(f"enrollment token {token_id} was already used (by {used_by})")
    if now_ms >= expires_at_ms:
        raise Unauthenticated(f"enrollment token {token_id} has expired")
    grant = register_device(
        con,
        new_device_id(hostname),
        org=org,
        ownership=ownership,
        employee_id=employee_id,
        hostname=hostname,
        os=os,
        agent_version=agent_version,
        token_id=token_id,
        now_ms=now_ms,
    )
    con.execute(
        f"UPDATE enrollment_tokens SET used_at = {_TS}, used_by_device = ? WHERE token_id = ?",
        [now_ms, grant.device_id, token_id],
    )
    return grant


def register_device(
    con: duckdb.DuckDBPyConnection,
    device_id: str,
    *,
    org: str,
    ownership: str,
    employee_id: str = "",
    hostname: str = "",
    os: str = "",
    agent_version: str = "",
    token_id: str = "",
    now_ms: int,
) -> DeviceGrant:
    """Store a new device with a fresh key; the grant holds the only copy of its credential."""
    key = new_secret()
    con.execute(
        f"INSERT INTO devices (device_id, key_sha256, org, ownership, employee_id, hostname, os,"
        f" agent_version, token_id, enrolled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {_TS})",
        [
            device_id,
            digest(key),
            org,
            ownership,
            employee_id or None,
            _text(hostname),
            _text(os),
            _text(agent_version),
            token_id,
            now_ms,
        ],
    )
    return DeviceGrant(
        device_id,
        compose(DEVICE_PREFIX, device_id, key),
        digest(key),
        org,
        ownership,
        employee_id,
    )


def new_device_id(hostname: str) -> str:
    """Readable and unique: the host name's first 40 safe characters, then 10 random hex."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", hostname).strip("-")[:40] or "device"
    return f"{stem}-{secrets.token_hex(5)}"


def revoke_device(
    con: duckdb.DuckDBPyConnection, device_id: str, *, operator_id: str, reason: str, now_ms: int
) -> int:
    """Record the revocation; the revoked-at time, or the earlier one if already revoked."""
    if con.execute("SELECT 1 FROM devices WHERE device_id = ?", [device_id]).fetchone() is None:
        raise UnknownDevice(f"device_id: no device {device_id!r} has enrolled")
    earlier = con.execute(
        "SELECT epoch_ms(revoked_at) FROM device_revocations WHERE device_id = ?", [device_id]
    ).fetchone()
    if earlier is not None:
        return int(earlier[0])
    con.execute(
        f"INSERT INTO device_revocations VALUES (?, {_TS}, ?, ?)",
        [device_id, now_ms, operator_id, _text(reason) or "no reason given"],
    )
    return now_ms


def list_devices(con: duckdb.DuckDBPyConnection) -> list[DeviceRecord]:
    rows = con.execute(
        "SELECT d.device_id, d.org, d.ownership, coalesce(d.employee_id, ''),"
        " coalesce(d.hostname, ''), coalesce(d.os, ''), coalesce(d.agent_version, ''),"
        " epoch_ms(d.enrolled_at), coalesce(epoch_ms(r.revoked_at), 0), coalesce(r.reason, '')"
        " FROM devices d LEFT JOIN device_revocations r USING (device_id)"
        " ORDER BY d.enrolled_at, d.device_id"
    ).fetchall()
    return [DeviceRecord(*row) for row in rows]


def device_keys(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[bytes, bool]]:
    """device_id -> (key digest, revoked): what the collector checks every call against."""
    rows = con.execute(
        "SELECT d.device_id, d.key_sha256, r.device_id IS NOT NULL"
        " FROM devices d LEFT JOIN device_revocations r USING (device_id)"
    ).fetchall()
    return {device_id: (bytes(key), bool(revoked)) for device_id, key, revoked in rows}


ROLES = ("admin", "analyst", "director")


def add_operator(
    con: duckdb.DuckDBPyConnection,
    operator_id: str,
    role: str,
    *,
    now_ms: int,
    employee_id: str = "",
) -> str:
    """A new operator and its credential (returned once). A director is an employee: the
    workgroups they direct are all they may see or restrict (§4.4)."""
    if not ID_PATTERN.fullmatch(operator_id):
        raise EnrollmentError("operator id: must be 1-128 of A-Z a-z 0-9 . _ -")
    if role not in ROLES:
        raise EnrollmentError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if role == "director" and not employee_id:
        raise EnrollmentError("a director operator needs the employee id of the director")
    if role != "director" and employee_id:
        raise EnrollmentError("only a director operator is tied to an employee id")
    if (
        employee_id
        and not con.execute(
            "SELECT 1 FROM employees WHERE employee_id = ? AND valid_to IS NULL", [employee_id]
        ).fetchone()
    ):
        raise EnrollmentError(f"employee {employee_id!r} is not a current employee")
    if con.execute("SELECT 1 FROM operators WHERE operator_id = ?", [operator_id]).fetchone():
        raise EnrollmentError(f"operator {operator_id!r} exists already")
    key = new_secret()
    con.execute(
        f"INSERT INTO operators VALUES (?, ?, ?, {_TS}, ?)",
        [operator_id, role, digest(key), now_ms, employee_id or None],
    )
    return compose(OPERATOR_PREFIX, operator_id, key)


def operator_keys(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[bytes, str, str]]:
    """operator_id -> (key digest, role, employee id or '')."""
    rows = con.execute(
        "SELECT operator_id, key_sha256, role, coalesce(employee_id, '') FROM operators"
    ).fetchall()
    return {operator_id: (bytes(key), role, employee) for operator_id, key, role, employee in rows}


def directed_workgroups(con: duckdb.DuckDBPyConnection, employee_id: str) -> list[str]:
    """The workgroups an employee directs now: a director operator's whole view."""
    rows = con.execute(
        "SELECT workgroup_id FROM workgroups WHERE director_id = ? AND valid_to IS NULL"
        " ORDER BY workgroup_id",
        [employee_id],
    ).fetchall()
    return [str(row[0]) for row in rows]


def write_audit(
    con: duckdb.DuckDBPyConnection,
    *,
    operator_id: str,
    role: str,
    action: str,
    target: str,
    outcome: str,
    detail: str,
    now_ms: int,
) -> None:
    con.execute(
        f"INSERT INTO audit_log VALUES ({_TS}, ?, ?, ?, ?, ?, ?)",
        [now_ms, operator_id, role, action, target or None, outcome, detail or None],
    )


def _text(value: str) -> str:
    """Free text from a device or operator, cut to a sane length (it is shown, never parsed)."""
    return value[:MAX_TEXT_CHARS]
