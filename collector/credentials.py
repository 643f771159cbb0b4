"""The secrets commaudit hands out and how they travel (DESIGN.md §4).

Three kinds, told apart by prefix so a credential pasted in the wrong place is named as such:
`cat1.<token_id>.<secret>` (one-time enrollment token), `cad1.<device_id>.<secret>` (a device's
credential) and `cao1.<operator_id>.<secret>` (an operator's). The secret is 32 random bytes;
only its SHA-256 is stored, so a copy of the database enrolls nobody and impersonates nobody.
Calls carry the credential as `authorization: Bearer <credential>` over TLS.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

TOKEN_PREFIX = "cat1"
DEVICE_PREFIX = "cad1"
OPERATOR_PREFIX = "cao1"
AUTHORIZATION_KEY = "authorization"

_KIND = {TOKEN_PREFIX: "enrollment token", DEVICE_PREFIX: "device", OPERATOR_PREFIX: "operator"}
# Ids are safe in file names, log lines and SQL literals; secrets are urlsafe base64 (no dots).
ID_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")


class Unauthenticated(Exception):
    """The caller's credential is missing, malformed, unknown, revoked or expired."""


def new_secret() -> str:
    """43 characters of urlsafe base64: 256 bits, never guessed."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def matches(secret: str, stored_digest: bytes) -> bool:
    """Constant-time comparison, so timing tells nothing about the stored digest."""
    return hmac.compare_digest(digest(secret), stored_digest)


def compose(prefix: str, ident: str, secret: str) -> str:
    return f"{prefix}.{ident}.{secret}"


def parse(credential: str, prefix: str) -> tuple[str, str]:
    """(id, secret) of a credential of the kind `prefix` names; Unauthenticated otherwise."""
    kind = _KIND[prefix]
    head, _, rest = credential.partition(".")
    if head != prefix:
        found = _KIND.get(head)
        raise Unauthenticated(
            f"not {_article(kind)} {kind} credential"
            + (f" (it is {_article(found)} {found} credential)" if found else "")
        )
    ident, _, secret = rest.rpartition(".")
    if not ID_PATTERN.fullmatch(ident) or not _SECRET.fullmatch(secret):
        raise Unauthenticated(f"malformed {kind} credential")
    return ident, secret


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The credential in the call's `authorization: Bearer ...` metadata."""
    values = [value for key, value in metadata or () if key == AUTHORIZATION_KEY]
    if not values:
        raise Unauthenticated("no credential: metadata 'authorization: Bearer ...' missing")
    if len(values) > 1:
        raise Unauthenticated(f"metadata 'authorization' given {len(values)} times")
    value = values[0]
    if isinstance(value, bytes) or not value.startswith("Bearer "):
        raise Unauthenticated("metadata 'authorization' must be 'Bearer <credential>'")
    return value[len("Bearer ") :].strip()


def _article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"
