"""Who is calling: a device or an operator, proven by the credential it was given.

The collector keeps every credential's digest in memory (loaded from the database at start,
updated as devices enroll and are revoked), so checking a call costs one SHA-256 and a dict
lookup, not a query on the writer's connection. The device id of a Report comes from here and
nowhere else: an event whose payload names another device is refused (validate.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from collector.credentials import (
    DEVICE_PREFIX,
    OPERATOR_PREFIX,
    Unauthenticated,
    bearer,
    matches,
    parse,
)

Metadata = Iterable[tuple[str, str | bytes]] | None


class DeviceKeys:
    """device_id -> (key digest, revoked); thread-safe (enrollment runs off the event loop)."""

    def __init__(self, keys: Mapping[str, tuple[bytes, bool]]) -> None:
        self._keys = dict(keys)
        self._lock = threading.Lock()
        # Credentials already verified -> device id. Every agent sends the same credential on
        # every call, so a fleet's calls cost a dict lookup; only verified credentials enter,
        # so guessing cannot grow it, and revoke() empties a device's entry first.
        self._verified: dict[str, str] = {}

    def authenticate(self, metadata: Metadata) -> str:
        """The calling device's id; Unauthenticated if unknown, revoked or malformed."""
        credential = bearer(metadata)
        device_id = self._verified.get(credential)
        if device_id is not None:
            return device_id
        device_id, secret = parse(credential, DEVICE_PREFIX)
        with self._lock:
            entry = self._keys.get(device_id)
            if entry is None or not matches(secret, entry[0]):
                raise Unauthenticated("unknown device credential")
            if entry[1]:
                raise Unauthenticated(f"device {device_id} has been revoked")
            self._verified[credential] = device_id
        return device_id

    def add(self, device_id: str, key_sha256: bytes) -> None:
        with self._lock:
            self._keys[device_id] = (key_sha256, False)

    def revoke(self, device_id: str) -> None:
        with self._lock:
            key, _ = self._keys[device_id]
            self._keys[device_id] = (key, True)
            for credential in [c for c, d in self._verified.items() if d == device_id]:
                del self._verified[credential]

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True)
class Operator:
    operator_id: str
    role: str  # admin | analyst | director
    employee_id: str = ""  # directors: who they are, which decides what they see


class OperatorKeys:
    """operator_id -> (key digest, role, employee id); operators added later join with add()."""

    def __init__(self, keys: Mapping[str, tuple[bytes, str, str]]) -> None:
        self._keys = dict(keys)

    def authenticate(self, metadata: Metadata) -> Operator:
        operator_id, secret = parse(bearer(metadata), OPERATOR_PREFIX)
        entry = self._keys.get(operator_id)
        if entry is None or not matches(secret, entry[0]):
            raise Unauthenticated("unknown operator credential")
        return Operator(operator_id, entry[1], entry[2])

    def add(self, operator_id: str, key_sha256: bytes, role: str, employee_id: str) -> None:
        self._keys[operator_id] = (key_sha256, role, employee_id)
