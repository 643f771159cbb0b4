"""SeqLedger as plain unit tests: plan without mutating, apply after commit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.ledger import DeviceState, Gap, SeqLedger, StalePlan

T0, T1 = 1_000, 2_000


def applied(ledger: SeqLedger, device: str, seqs: list[int], now_ms: int = T0) -> list[bool]:
    plan = ledger.plan(device, seqs, now_ms)
    ledger.apply(plan)
    return list(plan.keep[0])


def test_a_first_batch_is_stored_whole_and_acked_at_its_last_seq() -> None:
    ledger = SeqLedger()
    assert applied(ledger, "d", [1, 2, 3]) == [True, True, True]
    assert ledger.state("d") == DeviceState(3, ())


def test_a_batch_seen_before_is_all_duplicates_and_changes_nothing() -> None:
    ledger = SeqLedger()
    applied(ledger, "d", [1, 2, 3])
    plan = ledger.plan("d", [1, 2, 3], T1)
    assert plan.keep == ((False, False, False),)
    assert not plan.changes_anything
    assert plan.acked("d") == 3


def test_a_seq_range_skipped_before_the_first_seq_is_a_gap_and_the_ack_moves_past_it() -> None:
    ledger = SeqLedger()
    applied(ledger, "d", [1, 2, 3])
    assert applied(ledger, "d", [7, 8, 9], T1) == [True, True, True]
    assert ledger.state("d") == DeviceState(9, (Gap(4, 6, T1),))


def test_holes_inside_a_batch_are_gaps_too() -> None:
    ledger = SeqLedger()
    applied(ledger, "d", [2, 5, 6, 9])
    assert ledger.state("d").gaps == (Gap(1, 1, T0), Gap(3, 4, T0), Gap(7, 8, T0))


def test_a_late_seq_inside_a_gap_is_stored_and_splits_the_gap_keeping_its_detection_time() -> None:
    ledger = SeqLedger()
    applied(ledger, "d", [1, 2, 3, 7, 8, 9])
    assert applied(ledger, "d", [5], T1) == [True]
    assert ledger.state("d") == DeviceState(9, (Gap(4, 4, T0), Gap(6, 6, T0)))
    assert applied(ledger, "d", [5], T1) == [False]  # and only once


def test_late_seqs_at_the_ends_of_a_gap_shrink_it_and_the_last_one_closes_it() -> None:
    ledger = SeqLedger()
    applied(ledger, "d", [1, 5])
    assert applied(ledger, "d", [2, 4]) == [True, True]
    assert ledger.state("d").gaps == (Gap(3, 3, T0),)
    assert applied(ledger, "d", [3, 5, 6]) == [True, False, True]
    assert ledger.state("d") == DeviceState(6, ())


def test_plan_changes_nothing_until_apply() -> None:
    ledger = SeqLedger()
    plan = ledger.plan("d", [1, 2, 5], T0)
    assert ledger.state("d") == DeviceState()
    update = plan.devices["d"]
    assert update.added_gaps == (Gap(3, 4, T0),)
    assert update.removed_gaps == ()
    ledger.apply(plan)
    assert ledger.acked("d") == 5


def test_a_split_gap_is_one_removal_and_two_additions() -> None:
    ledger = SeqLedger({"d": DeviceState(9, (Gap(4, 6, T0),))})
    update = ledger.plan("d", [5], T1).devices["d"]
    assert update.removed_gaps == (Gap(4, 6, T0),)
    assert update.added_gaps == (Gap(4, 4, T0), Gap(6, 6, T0))


def test_two_batches_of_one_device_in_one_group_are_judged_in_order() -> None:
    ledger = SeqLedger()
    plan = ledger.plan_group([("d", [1, 2]), ("e", [1]), ("d", [1, 2, 3]), ("d", [6])], T0)
    assert plan.keep == ((True, True), (True,), (False, False, True), (True,))
    assert plan.acked("d") == 6
    assert plan.devices["d"].after.gaps == (Gap(4, 5, T0),)
    assert plan.acked("e") == 1


def test_a_plan_applied_after_the_ledger_moved_on_is_refused() -> None:
    ledger = SeqLedger()
    first = ledger.plan("d", [1], T0)
    second = ledger.plan("d", [1, 2], T0)
    ledger.apply(second)
    with pytest.raises(StalePlan):
        ledger.apply(first)


batches = st.lists(
    st.lists(st.integers(1, 60), min_size=1, max_size=8).map(lambda s: sorted(set(s))),
    max_size=12,
)


@given(batches)
def test_every_seq_up_to_the_ack_is_stored_exactly_once_or_in_exactly_one_gap(
    sent: list[list[int]],
) -> None:
    ledger = SeqLedger()
    stored: list[int] = []
    for seqs in sent:
        stored += [seq for seq, new in zip(seqs, applied(ledger, "d", seqs), strict=True) if new]
    state = ledger.state("d")
    in_gaps = [seq for gap in state.gaps for seq in range(gap.first, gap.last + 1)]
    assert sorted(stored + in_gaps) == list(range(1, state.acked + 1))


SPOOL_A = "0b6f1c9e-0000-4000-8000-00000000000a"
SPOOL_B = "0b6f1c9e-0000-4000-8000-00000000000b"


def test_the_first_spool_named_is_adopted_and_then_reported_from_normally() -> None:
    ledger = SeqLedger()
    plan = ledger.plan_group([("d", [1, 2], SPOOL_A)], T0)
    ledger.apply(plan)
    assert ledger.state("d").spool_id == SPOOL_A
    plan = ledger.plan_group([("d", [3], SPOOL_A)], T0)
    assert (plan.keep, plan.renumber) == (((True,),), (0,))


def test_a_new_spool_starting_again_below_the_mark_is_told_to_renumber_and_nothing_is_kept() -> (
    None
):
    ledger = SeqLedger({"d": DeviceState(acked=40, spool_id=SPOOL_A)})
    plan = ledger.plan_group([("d", [1, 2, 3], SPOOL_B)], T0)
    assert plan.keep == ((False, False, False),)
    assert plan.renumber == (40,)
    assert not plan.changes_anything
    ledger.apply(plan)
    assert ledger.state("d") == DeviceState(acked=40, spool_id=SPOOL_A)


def test_the_renumbered_spool_is_adopted_once_it_continues_past_the_mark() -> None:
    ledger = SeqLedger({"d": DeviceState(acked=40, spool_id=SPOOL_A)})
    plan = ledger.plan_group([("d", [41, 42], SPOOL_B)], T0)
    assert (plan.keep, plan.renumber) == (((True, True),), (0,))
    ledger.apply(plan)
    assert ledger.state("d") == DeviceState(acked=42, spool_id=SPOOL_B)


def test_a_report_naming_no_spool_is_never_taken_for_a_reset() -> None:
    ledger = SeqLedger({"d": DeviceState(acked=40, spool_id=SPOOL_A)})
    plan = ledger.plan_group([("d", [39, 40, 41])], T0)
    assert (plan.keep, plan.renumber) == (((False, False, True),), (0,))
