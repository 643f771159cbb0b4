"""Per-device delivery state: what has been acknowledged, and which seqs never arrived.

Delivery is at-least-once from the agent and exactly-once in storage (DESIGN.md §2), and the
acknowledgement is a watermark: every seq <= `acked` of a device is stored or recorded as a gap
(agent_service.proto `ReportResponse`). The agent sends ascending seqs, the first being the
oldest it still holds, so a seq skipped below the highest one received is a gap for good: it is
recorded (a coverage finding: deleted spool, tampering, or an event set aside) and the watermark
moves past it. A seq at or below the watermark is a duplicate of a stored event, unless it falls
in an open gap: then it is a late event, stored, and the gap shrinks or splits.

Each device reports from one spool at a time (ReportRequest.spool_id). A batch from a spool the
ledger has not seen for the device, whose first seq is at or below the watermark, comes from a
reset spool handing out seqs again: none of it is stored (they would be taken for duplicates)
and the plan tells the agent to renumber after the watermark. An empty spool_id is not checked.

Planning is separate from applying so that the in-memory state changes only after the database
commit succeeded: a failed commit leaves the ledger as it was and the agent's retry is judged
against the same state. Pure Python, no database (STYLE.md 4).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Gap:
    """Seqs first..last (inclusive) of one device that were skipped."""

    first: int
    last: int
    detected_at_ms: int
    """When the gap was first recorded; the parts of a split gap keep it."""


@dataclass(frozen=True)
class DeviceState:
    acked: int = 0
    gaps: tuple[Gap, ...] = ()
    """Open gaps, ascending, all below `acked`."""
    spool_id: str = ""
    """The spool the device reports from; empty until a Report names one."""


# (device_id, ascending seqs) or (device_id, ascending seqs, spool_id)
Batch = tuple[str, Sequence[int]] | tuple[str, Sequence[int], str]


@dataclass(frozen=True)
class DeviceUpdate:
    """One device's state before and after a commit; the store writes the difference."""

    device_id: str
    before: DeviceState
    after: DeviceState

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def added_gaps(self) -> tuple[Gap, ...]:
        return tuple(gap for gap in self.after.gaps if gap not in self.before.gaps)

    @property
    def removed_gaps(self) -> tuple[Gap, ...]:
        return tuple(gap for gap in self.before.gaps if gap not in self.after.gaps)


@dataclass(frozen=True)
class Plan:
    """What one commit does: which events to store, and each device's new state."""

    keep: tuple[tuple[bool, ...], ...]
    """Per batch planned, per event: store it (False: a duplicate)."""
    devices: Mapping[str, DeviceUpdate] = field(default_factory=dict)
    renumber: tuple[int, ...] = ()
    """Per batch planned: 0, or the seq a reset spool must renumber after (nothing stored)."""

    def acked(self, device_id: str) -> int:
        return self.devices[device_id].after.acked

    @property
    def changes_anything(self) -> bool:
        """False when every event is a duplicate: there is nothing to commit."""
        stores = any(any(kept) for kept in self.keep)
        return stores or any(update.changed for update in self.devices.values())


class StalePlan(RuntimeError):
    """A plan applied to a ledger that changed since it was made: a bug in the caller."""


class SeqLedger:
    """Every device's DeviceState, changed only through plan() and apply()."""

    def __init__(self, states: Mapping[str, DeviceState] | None = None) -> None:
        self._states: dict[str, DeviceState] = dict(states or {})

    def state(self, device_id: str) -> DeviceState:
        return self._states.get(device_id, DeviceState())

    def acked(self, device_id: str) -> int:
        return self.state(device_id).acked

    def plan(self, device_id: str, seqs: Sequence[int], now_ms: int) -> Plan:
        """The plan for one batch; see plan_group."""
        return self.plan_group([(device_id, seqs)], now_ms)

    def plan_group(self, batches: Iterable[Batch], now_ms: int) -> Plan:
        """Plan several batches committed together, in order, without changing the ledger.

        A device may appear more than once (an agent's retry racing its first attempt); each
        batch is then judged against the state the earlier ones leave.
        """
        keep: list[tuple[bool, ...]] = []
        renumber: list[int] = []
        after: dict[str, DeviceState] = {}
        for device_id, seqs, *spool in batches:
            state = after.get(device_id, self.state(device_id))
            spool_id = spool[0] if spool else ""
            if is_reset(state, seqs, spool_id):
                keep.append((False,) * len(seqs))
                renumber.append(state.acked)
                after[device_id] = state
                continue
            state, kept = admit(state, seqs, now_ms)
            after[device_id] = replace(state, spool_id=spool_id or state.spool_id)
            keep.append(kept)
            renumber.append(0)
        devices = {
            device_id: DeviceUpdate(device_id, self.state(device_id), state)
            for device_id, state in after.items()
        }
        return Plan(tuple(keep), devices, tuple(renumber))

    def apply(self, plan: Plan) -> None:
        """Adopt a committed plan's states."""
        for device_id, update in plan.devices.items():
            if self.state(device_id) != update.before:
                raise StalePlan(f"ledger of device {device_id!r} changed since the plan")
        for device_id, update in plan.devices.items():
            self._states[device_id] = update.after


def is_reset(state: DeviceState, seqs: Sequence[int], spool_id: str) -> bool:
    """A new spool whose seqs start again at or below what the device already delivered."""
    new_spool = bool(spool_id and state.spool_id and spool_id != state.spool_id)
    return new_spool and bool(seqs) and seqs[0] <= state.acked


def admit(
    state: DeviceState, seqs: Sequence[int], now_ms: int
) -> tuple[DeviceState, tuple[bool, ...]]:
    """A device's state after one ascending batch, and which of its events are new."""
    watermark = state.acked
    gaps = list(state.gaps)
    keep: list[bool] = []
    for seq in seqs:
        if seq > watermark:
            if seq > watermark + 1:  # skipped, for good: the agent no longer holds them
                gaps.append(Gap(watermark + 1, seq - 1, now_ms))
            watermark = seq
            keep.append(True)
        else:
            keep.append(fill(gaps, seq))
    return DeviceState(watermark, tuple(gaps), state.spool_id), tuple(keep)


def fill(gaps: list[Gap], seq: int) -> bool:
    """Take a late seq out of the gap holding it (in place); False when no gap holds it."""
    index = bisect.bisect_right(gaps, seq, key=lambda gap: gap.first) - 1
    if index < 0 or gaps[index].last < seq:
        return False
    gap = gaps[index]
    parts = [
        Gap(first, last, gap.detected_at_ms)
        for first, last in ((gap.first, seq - 1), (seq + 1, gap.last))
        if first <= last
    ]
    gaps[index : index + 1] = parts
    return True
