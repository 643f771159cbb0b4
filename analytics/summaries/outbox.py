"""The dry run's outbox: each summary written as an .eml file instead of being sent.

An operator opens them in a mail client to check a week's emails before sending for real.
They hold employee data (names, usage, violations), which the policy keeps to the staff who
need it (City 4.01.06 §4.1, Library CS3.4.1), so the files are owner-only and a folder this
module creates is too; a folder that exists already keeps the mode its owner gave it.

Decisions: the bytes are what SMTP would carry (RFC 5322, CRLF line ends), so a file can be
sent later as is; a file of the same name is replaced (a rerun of the same week rewrites it);
written whole or not at all (agent/atomic_file.py), so a crash leaves no half email.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from agent.atomic_file import SECRET, write_atomically

__all__ = ["write_eml"]

FOLDER_MODE = 0o700


def write_eml(outbox: Path, name: str, message: EmailMessage) -> Path:
    """Write `message` to outbox/name.eml (".eml" added unless given) and return that path.

    `name` is one file name, e.g. "2025-W03-E1042": a separator or leading dot is refused,
    so a name built from roster data cannot write outside the outbox.
    """
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise ValueError(f"not a plain file name for the outbox: {name!r}")
    path = outbox / (name if name.endswith(".eml") else name + ".eml")
    outbox.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    write_atomically(path, data, mode=SECRET)
    return path
