"""Publishing into the lake from a real collector database: what is (and is not) published, one
consistent snapshot per publish as another process sees it while a collector ingests, restarts,
failures, and maintenance."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from collector.enrollment import add_operator, register_device, revoke_device, write_audit
from collector.lake import (
    PUBLISHED_TABLES,
    STATE_TABLE,
    LakeMismatch,
    Publisher,
    attach_lake,
    attach_sql,
    extension_path,
    lake_exists,
)
from collector.writer import Writer
from commaudit.v1 import events_pb2
from tests.collector.collector_harness import RunningCollector, StartCollector

REPO = Path(__file__).resolve().parents[2]
NOW_MS = time.time_ns() // 1_000_000
EXITED = events_pb2.AppStopped.REASON_EXITED


def session_events(first_seq: int, at_ms: int, beats: int = 1) -> list[events_pb2.Event]:
    """One app session as an agent reports it: started, `beats` heartbeats listing it, stopped;
    seqs from first_seq, a second apart from at_ms."""
    app: dict[str, Any] = {
        "session_id": str(uuid.uuid4()),
        "os_user": "alice",
        "app_id": "slack",
        "category": events_pb2.CATEGORY_INSTANT_MESSAGING,
    }
    payloads: list[tuple[str, Any]] = [
        ("app_started", events_pb2.AppStarted(process_count=1, **app))
    ]
    running = [events_pb2.RunningApp(process_count=1, **app)]
    payloads += [
        ("heartbeat", events_pb2.Heartbeat(running=running, agent_version="0.1.0"))
    ] * beats
    payloads.append(
        ("app_stopped", events_pb2.AppStopped(duration_ms=90_000, reason=EXITED, **app))
    )
    events = []
    for offset, (kind, payload) in enumerate(payloads):
        event = events_pb2.Event(
            seq=first_seq + offset, event_id=str(uuid.uuid4()), occurred_at_ms=at_ms + offset * 1000
        )
        getattr(event, kind).CopyFrom(payload)
        events.append(event)
    return events


def device_stream(sessions: int, beats: int = 1) -> list[events_pb2.Event]:
    """A device's events, seq 1 upwards, one session after another."""
    events: list[events_pb2.Event] = []
    for n in range(sessions):
        at_ms = NOW_MS - 3_600_000 + n * 60_000
        events += session_events(len(events) + 1, at_ms, beats)
    return events


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    opened = Writer(tmp_path / "collector.duckdb")
    yield opened
    opened.close()


@pytest.fixture
def publisher(writer: Writer, tmp_path: Path) -> Iterator[Publisher]:
    cursor = writer.store.cursor()
    opened = Publisher(cursor, tmp_path / "lake")
    yield opened
    opened.close()
    cursor.close()


def deliver(writer: Writer, device: str, events: list[events_pb2.Event]) -> None:
    writer.commit_group([(device, "", events, b"")], NOW_MS)


class LakeReader:
    """An analyst's own DuckDB session: at its first read (once the lake exists) it runs the
    statements `attach_sql` gives; each read is a transaction of its own, so it sees the newest
    snapshot."""

    def __init__(self, session: duckdb.DuckDBPyConnection, lake_dir: Path) -> None:
        self.lake_dir = lake_dir
        self._session = session
        self._con: duckdb.DuckDBPyConnection | None = None

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self._con is None:
            self._con = self._session.cursor()
            for statement in attach_sql(self.lake_dir).split(";\n"):
                if statement.strip():
                    self._con.execute(statement)
        return self._con.execute(sql).fetchall()

    def close(self) -> None:
        if self._con is not None:
            self._con.execute("USE memory")
            self._con.execute("DETACH lake")
            self._con.close()


@pytest.fixture(scope="module")
def session() -> Iterator[duckdb.DuckDBPyConnection]:
    """One in-memory DuckDB for every reader of this module: a LOAD checks the extension's
    signature (~0.15 s each), so each is loaded once."""
    con = duckdb.connect()
    yield con
    con.close()


@pytest.fixture
def lake(session: duckdb.DuckDBPyConnection, tmp_path: Path) -> Iterator[LakeReader]:
    reader = LakeReader(session, tmp_path / "lake")
    yield reader
    reader.close()


def test_asking_whether_the_lake_exists_never_opens_its_catalog_with_another_sqlite(
    writer: Writer, publisher: Publisher
) -> None:
    """The collector asks before every report while its publisher has the catalog open in
    DuckDB's SQLite: Python's sqlite3 on the same file in the same process truncates the WAL
    under DuckDB's memory map (SIGBUS, malformed catalogs; collector/lake.py lake_exists)."""
    opened: list[str] = []
    listening = [True]

    def audit(event: str, args: tuple[object, ...]) -> None:
        if listening and event == "sqlite3.connect" and "catalog" in str(args[0]):
            opened.append(str(args[0]))

    sys.addaudithook(audit)  # a hook cannot be removed: it goes quiet when the test ends
    deliver(writer, "laptop-1", device_stream(1))
    publisher.publish_once()
    before = list(opened)
    assert lake_exists(publisher.lake_dir)
    publisher.publish_once()  # the catalog exists: WAL mode is not set again
    assert opened == before
    for _ in range(3):
        assert lake_exists(publisher.lake_dir)
    listening.clear()
    assert opened == before


def test_a_publish_copies_what_is_committed_but_no_raw_event_and_no_secret(
    writer: Writer, publisher: Publisher, lake: LakeReader
) -> None:
    assert not lake_exists(publisher.lake_dir)
    writer.transaction(register_device, "laptop-1", org="city", ownership="employer", now_ms=1)
    writer.transaction(add_operator, "ann", "analyst", now_ms=1)
    writer.transaction(
        write_audit,
        operator_id="ann",
        role="analyst",
        action="run_report",
        target="usage",
        outcome="ok",
        detail="",
        now_ms=1,
    )
    deliver(writer, "laptop-1", device_stream(2))  # 6 events, 2 sessions

    result = publisher.publish_once()

    assert (result.events, result.sessions_changed) == (6, 2)
    assert lake_exists(publisher.lake_dir)
    tables = {row[0] for row in lake.rows("SELECT table_name FROM duckdb_tables()")}
    assert tables == {*PUBLISHED_TABLES, STATE_TABLE}  # no operators, tokens or audit log
    for table in PUBLISHED_TABLES:
        published = lake.rows(f"SELECT column_name, column_type FROM (DESCRIBE {table})")
        own = writer.rows(f"SELECT column_name, column_type FROM (DESCRIBE {table})")
        hidden = {"events": {"raw"}, "devices": {"key_sha256"}}.get(table, set())
        assert published == [column for column in own if column[0] not in hidden], table
    assert lake.rows("SELECT device_id, seq, kind FROM events ORDER BY seq") == [
        ("laptop-1", 1, "app_started"),
        ("laptop-1", 2, "heartbeat"),
        ("laptop-1", 3, "app_stopped"),
        ("laptop-1", 4, "app_started"),
        ("laptop-1", 5, "heartbeat"),
        ("laptop-1", 6, "app_stopped"),
    ]
    assert lake.rows("SELECT end_reason, count(*) FROM sessions GROUP BY ALL") == [("exited", 2)]
    assert lake.rows("SELECT * FROM device_seq") == [("laptop-1", 6, None)]
    assert lake.rows("SELECT device_id, org FROM devices") == [("laptop-1", "city")]
    assert lake.rows("SELECT count(*) FROM policy_clauses") == [(16,)]
    assert str(extension_path("ducklake")) in attach_sql(publisher.lake_dir)  # never INSTALL
    with pytest.raises(duckdb.Error, match=r"read-only|read only"):
        lake.rows("DELETE FROM events")


def test_nothing_new_makes_no_snapshot_and_a_changed_small_table_is_replaced_alone(
    writer: Writer, publisher: Publisher, lake: LakeReader
) -> None:
    writer.transaction(register_device, "laptop-1", org="city", ownership="employer", now_ms=1)
    first = publisher.publish_once()
    assert publisher.publish_once().snapshot_id == first.snapshot_id
    writer.transaction(revoke_device, "laptop-1", operator_id="ann", reason="lost", now_ms=2)
    revoked = publisher.publish_once()
    assert revoked.snapshot_id == first.snapshot_id + 1
    changed = lake.rows(
        "SELECT DISTINCT t.table_name FROM (SELECT unnest(flatten(map_values(changes))) AS id"
        f" FROM lake.snapshots() WHERE snapshot_id = {revoked.snapshot_id})"
        " JOIN ducklake_table_info('lake') AS t ON t.table_id = TRY_CAST(id AS BIGINT)",
    )
    assert sorted(changed) == [("device_revocations",), (STATE_TABLE,)]
    assert lake.rows("SELECT device_id, reason FROM device_revocations") == [("laptop-1", "lost")]


def test_sessions_are_replaced_by_key_as_their_events_arrive(
    writer: Writer, publisher: Publisher, lake: LakeReader
) -> None:
    events = device_stream(1, beats=2)  # started, heartbeat, heartbeat, stopped
    deliver(writer, "laptop-1", events[:2])
    assert publisher.publish_once().sessions_changed == 1
    first_beat = events[1].occurred_at_ms
    assert lake.rows("SELECT end_reason, epoch_ms(ended_at) FROM sessions") == [
        ("last_heartbeat", first_beat)
    ]
    deliver(writer, "laptop-1", events[2:])
    publisher.publish_once()
    assert lake.rows(
        "SELECT end_reason, epoch_ms(ended_at) - epoch_ms(started_at) FROM sessions"
    ) == [("exited", 90_000)]
    # A stop that arrives before its start is not published until the start arrives.
    later = session_events(5, NOW_MS - 60_000)
    deliver(writer, "laptop-1", later[2:])
    publisher.publish_once()
    assert lake.rows("SELECT count(*) FROM sessions") == [(1,)]
    deliver(writer, "laptop-1", later[:2])
    publisher.publish_once()
    assert lake.rows("SELECT count(*), count(DISTINCT session_id) FROM sessions") == [(2, 2)]


class FailsOnce(Publisher):
    """A publisher whose lake transaction fails once at its very end (a full disk, say)."""

    failed = False

    def _write_state(self, last_rowid: int, fingerprints: dict[str, str]) -> None:
        if not self.failed:
            self.failed = True
            raise OSError("no space left on device (simulated)")
        super()._write_state(last_rowid, fingerprints)


def test_a_failed_publish_leaves_the_last_snapshot_and_the_next_one_catches_up(
    writer: Writer, tmp_path: Path, lake: LakeReader
) -> None:
    cursor = writer.store.cursor()
    publisher = FailsOnce(cursor, tmp_path / "lake")
    try:
        deliver(writer, "laptop-1", device_stream(1))
        with pytest.raises(OSError, match="simulated"):
            publisher.publish_once()
        assert not lake_exists(publisher.lake_dir)  # not even the tables were committed
        # The derived tables were refreshed and committed before the lake transaction failed.
        assert writer.rows("SELECT count(*) FROM sessions") == [(1,)]
        deliver(writer, "laptop-1", session_events(4, NOW_MS - 60_000)[:1])
        result = publisher.publish_once()
        assert (result.events, result.sessions_changed) == (4, 2)
        assert lake.rows("SELECT count(*), count(DISTINCT seq) FROM events") == [(4, 4)]
        assert lake.rows("SELECT end_reason FROM sessions ORDER BY started_at") == [
            ("exited",),
            ("no_evidence",),
        ]
    finally:
        publisher.close()
        cursor.close()


class HeldOpen(Publisher):
    """A publisher that holds one of its two transactions open until released: the collector
    database's (folding the derived tables) or the lake's."""

    def __init__(self, *args: Any, held: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held = held
        self.inside = threading.Event()
        self.release = threading.Event()

    def _hold(self, phase: str) -> None:
        if phase == self.held:
            self.inside.set()
            assert self.release.wait(30)

    def _stage_small_tables(
        self, published: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, pa.Table]]:
        self._hold("collector")  # sessions are folded, the transaction still open
        return super()._stage_small_tables(published)

    def _write_state(self, last_rowid: int, fingerprints: dict[str, str]) -> None:
        self._hold("lake")  # events and sessions are in, the transaction still open
        super()._write_state(last_rowid, fingerprints)


@pytest.mark.parametrize("held", ["collector", "lake"])
def test_the_writer_commits_while_a_publish_is_in_flight_and_the_snapshot_stays_whole(
    writer: Writer, tmp_path: Path, lake: LakeReader, held: str
) -> None:
    cursor = writer.store.cursor()
    publisher = HeldOpen(cursor, tmp_path / "lake", held=held)
    try:
        deliver(writer, "laptop-1", device_stream(1))
        with ThreadPoolExecutor(1) as pool:
            publishing = pool.submit(publisher.publish_once)
            assert publisher.inside.wait(30)
            deliver(writer, "laptop-1", session_events(4, NOW_MS - 60_000))  # not blocked
            assert writer.rows("SELECT count(*) FROM events") == [(6,)]
            publisher.release.set()
            assert publishing.result(30).events == 3  # its snapshot: the first commit only
        # ... and device_seq as committed with those 3 events, not the later 6.
        assert lake.rows("SELECT acked_seq FROM device_seq") == [(3,)]
        assert lake.rows("SELECT count(*) FROM sessions") == [(1,)]
        assert publisher.publish_once().events == 3
        assert lake.rows("SELECT count(*), max(seq) FROM events") == [(6, 6)]
        assert lake.rows("SELECT acked_seq FROM device_seq") == [(6,)]
    finally:
        publisher.close()
        cursor.close()


def test_maintenance_merges_the_files_of_many_publishes(
    writer: Writer, publisher: Publisher, lake: LakeReader
) -> None:
    events = device_stream(12)  # 36 events, published 12 at a time (past inlining's 10 rows)
    for first in range(0, len(events), 12):
        deliver(writer, "laptop-1", events[first : first + 12])
        publisher.publish_once()
    files = "SELECT count(*) FROM ducklake_list_files('lake', 'events')"
    assert lake.rows(files) == [(3,)]
    publisher.maintain()
    assert lake.rows(files) == [(1,)]
    assert lake.rows("SELECT count(*), count(DISTINCT seq) FROM events") == [(36, 36)]
    snapshots = "SELECT count(*) FROM lake.snapshots()"
    assert lake.rows(snapshots) == [(5,)]  # creation, 3 publishes, the merge: none a day old
    data = publisher.lake_dir / "data"
    assert len(list(data.rglob("*.parquet"))) > 1 + 3  # the merged-away files are kept too

    publisher.maintain(snapshot_retention=timedelta(0), file_grace=timedelta(0))
    assert lake.rows(snapshots) == [(1,)]  # the newest is never expired
    assert lake.rows("SELECT count(*), count(DISTINCT seq) FROM events") == [(36, 36)]
    # Files merged away stay on disk a day or two (lake.py: older_than's granularity),
    # for the queries that may still be scanning them.
    assert len(list(data.rglob("*.parquet"))) > 1 + 3


def test_a_lake_published_from_another_database_is_refused(
    writer: Writer, publisher: Publisher, tmp_path: Path
) -> None:
    deliver(writer, "laptop-1", device_stream(1))
    publisher.publish_once()
    publisher.close()
    other = Writer(tmp_path / "other.duckdb")
    cursor = other.store.cursor()
    try:
        with pytest.raises(LakeMismatch, match="published from another database"):
            Publisher(cursor, publisher.lake_dir).publish_once()
    finally:
        cursor.close()
        other.close()


def test_a_restarted_collector_publishes_each_event_once(tmp_path: Path) -> None:
    state_dir = tmp_path / "collector"
    events = device_stream(3)
    for part in (events[:4], events[4:]):
        collector = RunningCollector(state_dir, publish_interval_s=3600)  # start and stop only
        try:
            assert collector.report("laptop-1", part).acked_seq == part[-1].seq
        finally:
            collector.stop()
    with duckdb.connect() as con:
        attach_lake(con, state_dir / "lake", read_only=True)
        con.execute("USE lake")
        assert con.execute("SELECT count(*), count(DISTINCT seq) FROM events").fetchall() == [
            (9, 9)
        ]
        state = f"SELECT last_rowid FROM {STATE_TABLE}"
        assert con.execute(state).fetchall() == [(8,)]
        assert con.execute("SELECT count(*) FROM sessions").fetchall() == [(3,)]


def test_a_collector_with_publishing_off_makes_no_lake(start_collector: StartCollector) -> None:
    collector = start_collector(publish_interval_s=0)
    assert collector.report("laptop-1", device_stream(1)).acked_seq == 3
    collector.stop()
    assert not (collector.state_dir / "lake").exists()


def test_another_process_reads_only_consistent_snapshots_while_the_collector_ingests(
    start_collector: StartCollector, tmp_path: Path
) -> None:
    collector = start_collector(writer_process=True, publish_interval_s=0.2)
    devices = [f"laptop-{n}" for n in range(3)]
    for device in devices:
        collector.credential(device)
    state_dir, stop_file = tmp_path / "collector", tmp_path / "collector-stopped"
    progress = tmp_path / "reader-progress"
    reader = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.collector.lake_reader",
            str(state_dir / "lake"),
            str(stop_file),
            str(progress),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sessions = 20

    def seen_counts() -> int:
        text = progress.read_text() if progress.exists() else ""
        return int(text) if text.isdigit() else 0

    def send(device: str) -> None:
        events = device_stream(sessions)
        for first in range(0, len(events), 5):  # a session's events span Reports
            batch = events[first : first + 5]
            assert collector.report(device, batch).acked_seq == batch[-1].seq
            time.sleep(0.06)
            if first == len(events) // 2 // 5 * 5:
                # halfway: wait (bounded) until the reader has seen the lake grow once, so
                # that the rest of the stream is a third count even on a loaded host
                deadline = time.monotonic() + 30
                while seen_counts() < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)

    try:
        with ThreadPoolExecutor(len(devices)) as pool:
            list(pool.map(send, devices))
        collector.stop()  # the final publish holds every event
    finally:
        stop_file.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    seen = json.loads(out)
    assert seen["errors"] == []
    assert seen["broken"] == []
    assert seen["final"] == {
        "snapshot": seen["snapshots"][-1],
        "events": len(devices) * sessions * 3,
        "broken": {},
    }
    # It watched the lake grow: the first publish, at least one in between, the last.
    assert len(seen["event_counts"]) >= 3, seen
