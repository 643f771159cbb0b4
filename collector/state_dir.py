"""The collector's state directory: one place for everything it must keep (and back up).

    <state-dir>/commaudit.duckdb        events, devices, tokens, operators, audit log
    <state-dir>/tls/                    ca.pem, ca.key, server.pem, server.key (tls.py)
    <state-dir>/admin-connection.json   the first admin's connection file for `commaudit`
    <state-dir>/lake/                   the published DuckLake analysts read (lake.py):
                                        catalog.sqlite and data/, remade from the database

`commaudit-collector init` creates it; `serve` needs only the database when serving plaintext
on loopback, and the TLS files otherwise.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from admin.connection import Connection, connection_json
from agent.atomic_file import SECRET, write_atomically
from collector.enrollment import add_operator
from collector.store import Store
from collector.tls import CA_FILE, adopt_tls, create_tls

ADMIN_OPERATOR = "admin"


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "commaudit.duckdb"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def admin_connection(self) -> Path:
        return self.root / "admin-connection.json"

    @property
    def lake(self) -> Path:
        return self.root / "lake"


class AlreadyInitialised(Exception):
    """init was asked to overwrite an existing collector's keys."""


def initialise(
    state: StateDir,
    *,
    advertise: str,
    hostnames: list[str],
    org_tls: tuple[Path, Path, Path] | None = None,
) -> None:
    """Create the database, the TLS material (new CA, or the organisation's) and the first admin.

    Refuses an initialised directory: a new CA would strand every enrolled agent, which pinned
    the old one.
    """
    if state.db.exists() or (state.tls / CA_FILE).exists():
        raise AlreadyInitialised(f"{state.root} is already initialised; nothing was changed")
    state.root.mkdir(parents=True, exist_ok=True)
    try:
        if org_tls is None:
            create_tls(state.tls, hostnames)
        else:
            adopt_tls(state.tls, *org_tls)
        store = Store(state.db)
        try:
            now_ms = time.time_ns() // 1_000_000
            credential = store.transaction(
                lambda con: add_operator(con, ADMIN_OPERATOR, "admin", now_ms=now_ms)
            )
        finally:
            store.close()
        write_connection_file(
            state.admin_connection,
            collector=advertise,
            ca_pem=(state.tls / CA_FILE).read_text(encoding="ascii"),
            credential=credential,
        )
    except BaseException:
        # Half an initialisation would be refused as "already initialised" next time.
        shutil.rmtree(state.tls, ignore_errors=True)
        for path in (state.db, state.db.with_name(state.db.name + ".wal"), state.admin_connection):
            path.unlink(missing_ok=True)
        raise


def write_connection_file(
    path: Path, *, collector: str, ca_pem: str | None, credential: str
) -> None:
    """What `commaudit` needs to reach the collector as an operator; secret, so owner-only,
    in the format admin/connection.py reads."""
    body = connection_json(Connection(collector, ca_pem, credential))
    write_atomically(path, body.encode("utf-8"), mode=SECRET)
