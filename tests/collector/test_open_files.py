"""The collector raises its soft limit on open files (collector/open_files.py), checked in real
child processes started with a low soft limit: a test must not change its own process's."""

from __future__ import annotations

import subprocess
import sys

import pytest

resource = pytest.importorskip("resource", reason="POSIX rlimits; Windows has none")

REPORT = """
import logging, resource, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from collector.open_files import raise_soft_limit
print(raise_soft_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def run_with_limits(soft: int, hard: int) -> tuple[list[int], str]:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run(
        [sys.executable, "-c", REPORT],
        preexec_fn=lower,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [int(word) for word in done.stdout.split()], done.stderr


def test_a_low_soft_limit_is_raised_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip(f"this machine's hard limit ({hard}) leaves nothing to raise to")
    (returned, soft_now, hard_now), stderr = run_with_limits(256, hard)
    assert returned == soft_now == hard_now == hard
    assert f"open files: soft limit raised from 256 to {hard}" in stderr


def test_a_soft_limit_already_at_the_hard_one_is_left_alone() -> None:
    (returned, soft_now, hard_now), stderr = run_with_limits(300, 300)
    assert returned == soft_now == hard_now == 300
    assert "open files" not in stderr
