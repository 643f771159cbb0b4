"""The RPC process's event loop (collector/event_loop.py): uvloop where it is installed, the
standard loop where it cannot be imported (as on Windows, which uvloop does not build for; here
the import is made to fail, the one stand-in in this file)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from collector import event_loop


async def _which_loop() -> str:
    await asyncio.sleep(0)
    return event_loop.loop_name()


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build")
def test_the_collector_runs_on_uvloop_where_it_is_installed() -> None:
    assert event_loop.run(_which_loop()) == "uvloop"


def test_without_uvloop_the_standard_loop_runs_the_same_coroutine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert event_loop.run(_which_loop()) == "asyncio"


def test_a_coroutine_error_reaches_the_caller() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        event_loop.run(fails())
