"""Which device is calling.

This is the pre-enrollment stand-in: the device names itself in the gRPC metadata
`commaudit-device-id`, which is only acceptable because the server refuses plaintext except on a
loopback address (server.py), i.e. callers on the collector's own machine. Enrollment (the next
issue, DESIGN.md §4) replaces it: the device id will come from the verified client certificate
(or device key) of a TLS connection, and a revoked or unknown device will be refused here with
UNAUTHENTICATED. The payload's own `device_id` is never trusted for identity (validate.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DEVICE_ID_METADATA_KEY = "commaudit-device-id"

# Safe in file names, log lines and SQL literals alike; the length matches Limits.max_id_chars.
_DEVICE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class Unauthenticated(Exception):
    """The caller did not say, or said unusably, which device it is."""


def device_from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The caller's device id from its invocation metadata."""
    values = [value for key, value in metadata or () if key == DEVICE_ID_METADATA_KEY]
    if not values:
        raise Unauthenticated(f"no device identity: metadata {DEVICE_ID_METADATA_KEY!r} missing")
    if len(values) > 1:
        raise Unauthenticated(f"metadata {DEVICE_ID_METADATA_KEY!r} given {len(values)} times")
    value = values[0]
    if isinstance(value, bytes) or not _DEVICE_ID.fullmatch(value):
        raise Unauthenticated(
            f"metadata {DEVICE_ID_METADATA_KEY!r} must be 1-128 characters of A-Z a-z 0-9 . _ -"
        )
    return value
