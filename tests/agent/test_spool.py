"""The spool: seqs survive restarts, only acked events leave, and every loss is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.daemon import loss_notice_for
from agent.events import new_event
from agent.spool import MIN_MAX_BYTES, NOTICE_RESERVE_BYTES, Spool, SpoolError
from commaudit.v1 import events_pb2


def _spool(path: Path, max_bytes: int = 1_000_000) -> Spool:
    return Spool(path / "spool.sqlite3", max_bytes, loss_notice_for("dev-1"))


def _size_of_one() -> int:
    event = _events(1)[0]
    event.seq = 1
    return event.ByteSize()


def _events(n: int) -> list[events_pb2.Event]:
    events = []
    for _ in range(n):
        event = new_event("dev-1")
        event.heartbeat.uptime_ms = 1
        events.append(event)
    return events


def test_seqs_start_at_one_and_increase(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    assert spool.append(_events(3)) == [1, 2, 3]
    assert [e.seq for e in spool.pending(10)] == [1, 2, 3]


def test_seq_survives_a_restart_even_when_everything_was_acked(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.append(_events(5))
    spool.ack(5)
    spool.close()
    reopened = _spool(tmp_path)
    assert reopened.depth() == 0
    assert reopened.append(_events(1)) == [6]


def test_only_acknowledged_events_leave(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.append(_events(5))
    assert spool.ack(3) == 3
    assert [e.seq for e in spool.pending(10)] == [4, 5]


def test_pending_returns_the_stored_event_unchanged(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    event = _events(1)[0]
    spool.append([event])
    assert spool.pending(1)[0] == event


def test_overflow_drops_the_oldest_and_records_the_range(tmp_path: Path) -> None:
    size = _size_of_one()
    room = (MIN_MAX_BYTES - NOTICE_RESERVE_BYTES) // size  # events that fit beside a notice
    spool = _spool(tmp_path, max_bytes=MIN_MAX_BYTES)
    spool.append(_events(room))
    assert spool.depth() == room and spool.dropped() == 0
    spool.append(_events(1))  # one over: the oldest goes
    pending = spool.pending(1000)
    notice = pending[-1]
    assert notice.WhichOneof("kind") == "agent_lifecycle"
    lifecycle = notice.agent_lifecycle
    assert lifecycle.kind == events_pb2.AgentLifecycle.KIND_EVENTS_DROPPED
    assert (lifecycle.first_seq, lifecycle.last_seq, lifecycle.count) == (1, 1, 1)
    assert lifecycle.detail == f"spool full ({MIN_MAX_BYTES} bytes)"
    assert [e.seq for e in pending[:-1]] == list(range(2, room + 2))
    assert notice.seq == room + 2
    assert spool.dropped() == 1
    assert spool.stored_bytes() == sum(e.ByteSize() for e in pending) <= MIN_MAX_BYTES


def test_every_seq_is_pending_or_covered_by_a_drop_notice_even_when_notices_overflow(
    tmp_path: Path,
) -> None:
    spool = _spool(tmp_path, max_bytes=MIN_MAX_BYTES)
    for _ in range(60):
        spool.append(_events(4))  # 240 events through a 4 KiB spool: notices get evicted too
        assert spool.stored_bytes() <= MIN_MAX_BYTES
    pending = spool.pending(1000)
    accounted = {e.seq for e in pending}
    notices = [e.agent_lifecycle for e in pending if e.WhichOneof("kind") == "agent_lifecycle"]
    for notice in notices:
        accounted.update(range(notice.first_seq, notice.last_seq + 1))
    assert accounted == set(range(1, spool.last_seq() + 1))
    ordinary_pending = len(pending) - len(notices)
    assert sum(n.count for n in notices) == 240 - ordinary_pending == spool.dropped()


def test_the_byte_count_is_the_stored_bodies_after_acks_rejections_and_a_reopen(
    tmp_path: Path,
) -> None:
    spool = _spool(tmp_path)
    spool.append(_events(10))
    spool.ack(4)
    spool.set_aside([6], "bad", now=0.0)
    expected = sum(e.ByteSize() for e in spool.pending(100))
    assert spool.stored_bytes() == expected
    spool.close()
    assert _spool(tmp_path).stored_bytes() == expected


def test_a_bound_too_small_for_a_drop_notice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"max_bytes must be at least {MIN_MAX_BYTES}"):
        _spool(tmp_path, max_bytes=MIN_MAX_BYTES - 1)


def test_a_rejected_event_is_set_aside_and_recorded(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.append(_events(3))
    spool.set_aside([2], "events[1].occurred_at_ms: too old", now=0.0)
    pending = spool.pending(10)
    assert [e.seq for e in pending] == [1, 3, 4]
    notice = pending[-1].agent_lifecycle
    assert notice.kind == events_pb2.AgentLifecycle.KIND_EVENTS_REJECTED
    assert (notice.first_seq, notice.last_seq) == (2, 2)
    assert "too old" in notice.detail
    assert spool.rejected_count() == 1


def test_a_spool_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool._db.execute("UPDATE meta SET value = 99 WHERE key = 'format'")
    spool.close()
    with pytest.raises(SpoolError, match="format 99"):
        _spool(tmp_path)


def test_a_spool_keeps_its_identity_and_a_new_file_gets_a_new_one(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    first = spool.spool_id
    spool.close()
    assert _spool(tmp_path).spool_id == first
    assert _spool(tmp_path / "elsewhere").spool_id != first
