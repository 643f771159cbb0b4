"""The RPC process's GC settings (collector/rpc_heap.py) and background threads that yield the
CPU (collector/background_priority.py), on the real interpreter and the real kernel."""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Iterator

import pytest

from collector.background_priority import lower_current_thread
from collector.rpc_heap import GC_THRESHOLDS, freeze_startup_heap, tune_for_serving


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_serving_collects_the_young_generation_every_5000_objects(restored_gc: None) -> None:
    tune_for_serving()
    assert gc.get_threshold() == (5_000, 20, 100) == GC_THRESHOLDS


def test_the_heap_at_start_leaves_every_later_collection(restored_gc: None) -> None:
    startup = [[index] for index in range(1000)]  # lists: objects the collector tracks
    ids = {id(item) for item in startup}
    assert sum(id(item) in ids for item in gc.get_objects()) == 1000
    freeze_startup_heap()
    assert gc.get_freeze_count() >= 1000
    # Frozen: in no generation any collection walks.
    assert sum(id(item) in ids for item in gc.get_objects()) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread policy is Linux's")
def test_a_background_thread_runs_idle_while_its_caller_keeps_its_policy() -> None:
    seen: dict[str, int | bool] = {}

    def background() -> None:
        seen["lowered"] = lower_current_thread()
        seen["policy"] = os.sched_getscheduler(threading.get_native_id())

    before = os.sched_getscheduler(threading.get_native_id())
    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert seen["lowered"] is True
    assert seen["policy"] == os.SCHED_IDLE
    # The calling thread, and so the process, keep their policy.
    assert os.sched_getscheduler(threading.get_native_id()) == before == os.SCHED_OTHER
