"""How an operator reaches the collector: a connection file written by `commaudit-collector init`.

JSON with `collector` (HOST:PORT), `ca_pem` (the collector's CA, pinned; null when the collector
serves plaintext on loopback) and `credential` (the operator's secret). Like an SSH key, a file
that others can read is refused.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import grpc

from agent.config import is_loopback

ENV_VAR = "COMMAUDIT_CONNECTION"
# A report's rows come back in one message (a fleet's week of session log is tens of MiB).
MAX_ANSWER_BYTES = 512 * 1024 * 1024
_OPTIONS = [("grpc.max_receive_message_length", MAX_ANSWER_BYTES)]


class ConnectionFileError(ValueError):
    """The connection file or an override cannot be used; the message says why."""


@dataclass(frozen=True)
class Connection:
    collector: str
    ca_pem: str | None
    credential: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.credential}"),)

    def channel(self) -> grpc.Channel:
        """TLS pinned to the file's CA; plaintext only when the file has no CA, to loopback."""
        if self.ca_pem is None:
            host = self.collector.rpartition(":")[0].strip("[]")
            if not is_loopback(host):
                raise ConnectionFileError(
                    f"{self.collector}: plaintext (no ca_pem in the connection file) is allowed"
                    " only to a loopback address"
                )
            return grpc.insecure_channel(self.collector, options=_OPTIONS)
        credentials = grpc.ssl_channel_credentials(root_certificates=self.ca_pem.encode("ascii"))
        return grpc.secure_channel(self.collector, credentials, options=_OPTIONS)


def load_connection(
    path: Path, *, collector: str | None = None, plaintext: bool = False
) -> Connection:
    """The file's settings, with --collector and --plaintext applied on top."""
    try:
        mode = path.stat().st_mode
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConnectionFileError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ConnectionFileError(f"{path}: not JSON ({exc})") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConnectionFileError(
            f"{path}: readable by others (mode {stat.filemode(mode)}); it holds a secret:"
            f" chmod 600 {path}"
        )
    if not isinstance(body, dict):
        raise ConnectionFileError(f"{path}: expected a JSON object")
    for key in ("collector", "credential"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise ConnectionFileError(f"{path}: {key!r} missing or not a string")
    ca_pem = body.get("ca_pem")
    if ca_pem is not None and not isinstance(ca_pem, str):
        raise ConnectionFileError(f"{path}: 'ca_pem' must be a PEM string or null")
    return Connection(
        collector=collector or body["collector"],
        ca_pem=None if plaintext else ca_pem,
        credential=body["credential"],
    )


def connection_json(connection: Connection) -> str:
    """The file's text: the one format load_connection reads, whoever writes it."""
    fields = {
        "collector": connection.collector,
        "ca_pem": connection.ca_pem,
        "credential": connection.credential,
    }
    return json.dumps(fields, indent=2) + "\n"


def save_connection(path: Path, connection: Connection) -> None:
    """A new operator's connection file: created owner-only, never over an existing file (a
    credential is shown once; overwriting one would lose it)."""
    body = connection_json(connection)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConnectionFileError(f"{path}: exists already; choose another --out") from None
    except OSError as exc:
        raise ConnectionFileError(f"{path}: cannot create ({exc.strerror})") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(body)
