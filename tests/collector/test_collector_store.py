"""Store and encode against a real DuckDB file: columns, one transaction, the ledger's tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.encode import SCHEMA, encode_events
from collector.ledger import DeviceUpdate, Gap, SeqLedger
from collector.store import Store
from commaudit.v1 import events_pb2
from tests.collector.collector_harness import DEVICE, KINDS, SESSION, make_batch, make_event

T0 = 1_760_000_000_000


class LedgerWriteFails(Store):
    """A store whose ledger write fails after the events went in: the commit must roll back."""

    def _write_ledger(self, con: object, updates: list[DeviceUpdate]) -> None:
        raise OSError("disk full (simulated)")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "events.duckdb")
    yield opened
    opened.close()


def commit(store: Store, ledger: SeqLedger, events: list[events_pb2.Event]) -> None:
    plan = ledger.plan(DEVICE, [event.seq for event in events], T0)
    kept = [event for event, new in zip(events, plan.keep[0], strict=True) if new]
    store.commit(encode_events([(DEVICE, kept)], T0), plan)
    ledger.apply(plan)


def test_the_arrow_table_has_exactly_the_columns_of_the_events_table(store: Store) -> None:
    with store.cursor() as cursor:
        columns = [row[0] for row in cursor.execute("DESCRIBE events").fetchall()]
    assert SCHEMA.names == columns


def test_every_kind_is_stored_with_readable_columns_and_its_raw_bytes(store: Store) -> None:
    events = [make_event(seq, kind) for seq, kind in enumerate(KINDS, start=1)]
    commit(store, SeqLedger(), events)
    with store.cursor() as cursor:
        rows = cursor.execute(
            "SELECT kind, category, stop_reason, lifecycle, session_id::VARCHAR,"
            " running_sessions::VARCHAR[], first_seq, last_seq, raw FROM events ORDER BY seq"
        ).fetchall()
    im = "instant_messaging"
    assert [row[:4] for row in rows] == [
        ("app_started", im, None, None),
        ("app_stopped", im, "exited", None),
        ("heartbeat", None, None, None),
        ("app_installed", im, None, None),
        ("app_removed", im, None, None),
        ("agent_lifecycle", None, None, "events_dropped"),
    ]
    assert rows[0][4] == SESSION
    assert rows[2][5] == [SESSION]
    assert rows[5][6:8] == (4, 6)
    assert [events_pb2.Event.FromString(row[8]) for row in rows] == events


def test_gaps_and_acks_survive_a_reopen_with_their_detection_time(tmp_path: Path) -> None:
    store = Store(tmp_path / "events.duckdb")
    ledger = SeqLedger()
    commit(store, ledger, make_batch([1, 2, 3, 7, 8, 9]))
    commit(store, ledger, make_batch([5]))
    store.close()
    reopened = Store(tmp_path / "events.duckdb")
    try:
        assert reopened.load_ledger().state(DEVICE) == ledger.state(DEVICE)
        assert ledger.state(DEVICE).gaps == (Gap(4, 4, T0), Gap(6, 6, T0))
    finally:
        reopened.close()


def test_a_commit_that_fails_midway_stores_nothing(tmp_path: Path) -> None:
    store = LedgerWriteFails(tmp_path / "events.duckdb")
    try:
        with pytest.raises(OSError, match="disk full"):
            commit(store, SeqLedger(), make_batch([1, 2]))
        with store.cursor() as cursor:
            assert cursor.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
    finally:
        store.close()


def test_a_closed_store_refuses_commits_and_closing_twice_is_harmless(store: Store) -> None:
    store.close()
    store.close()
    with pytest.raises(Exception, match="closed"):
        commit(store, SeqLedger(), make_batch([1]))
