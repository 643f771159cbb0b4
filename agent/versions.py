"""Which of two catalog or agent-config versions is newer.

Compared number by number, because as text "2026.11.10" sorts before "2026.11.9". The newest
valid catalog wins on the agent (its own, or the one the collector serves: agent/hot_reload.py)
and the collector serves only what is newer than what the agent has (collector/central_config.py).
"""

from __future__ import annotations

import re

DOTTED = re.compile(r"\d{1,9}(\.\d{1,9}){0,7}")
"""What a version pushed to the fleet looks like: numbers separated by dots (2026.11.2)."""

_PART = re.compile(r"[.\-_+]")


def version_key(version: str) -> tuple[tuple[int, str], ...]:
    """A key that orders versions number by number. Parts that are not numbers (a local
    test catalog's "test-1") sort before every number, so that any numbered version pushed to
    the fleet is newer than them; a version that extends another ("2026.11.2" of "2026.11") is
    newer than it."""
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in _PART.split(version))


def is_newer(candidate: str, than: str) -> bool:
    """True when `candidate` is a later version than `than`; "" is older than everything."""
    if not than:
        return bool(candidate)
    return bool(candidate) and version_key(candidate) > version_key(than)
