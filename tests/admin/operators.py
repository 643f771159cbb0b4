"""A collector over TLS with two operators (an admin and an analyst), each with the connection
file `commaudit` reads: what every operator-CLI test starts from."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from collector.enrollment import add_operator
from collector.state_dir import write_connection_file
from collector.store import Store
from collector.tls import create_tls
from tests.collector.collector_harness import RunningCollector


def collector_with_operators(tmp_path: Path, **options: Any) -> RunningCollector:
    """`tmp_path/admin.json` and `tmp_path/ana.json` name no address: tests pass --collector."""
    state = tmp_path / "collector"
    create_tls(state / "tls", ["localhost", "127.0.0.1"])
    store = Store(state / "commaudit.duckdb")
    try:
        for operator, role in (("admin", "admin"), ("ana", "analyst")):
            credential = store.transaction(
                lambda con, o=operator, r=role: add_operator(
                    con, o, r, now_ms=time.time_ns() // 10**6
                )
            )
            write_connection_file(
                tmp_path / f"{operator}.json",
                collector="given with --collector",
                ca_pem=(state / "tls" / "ca.pem").read_text(),
                credential=credential,
            )
    finally:
        store.close()
    return RunningCollector(state, plaintext=False, **options)
