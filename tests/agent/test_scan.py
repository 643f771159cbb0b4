"""The scanner sees real processes started under catalog apps' names, for the right OS user."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.catalog import load_catalog
from agent.platform.linux import parse_stat
from agent.scan import Running, Scanner

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="real-process tests run on Linux (CI); "
    "macOS and Windows share the logic above agent.platform",
)

StartApp = Callable[[str], subprocess.Popen[bytes]]


def _scanner() -> Scanner:
    return Scanner(load_catalog().matcher_for("linux"))


def _wait_for(scanner: Scanner, predicate: Callable[[Running], bool]) -> Running:
    """Scan until the predicate holds (a started process needs a moment to exec)."""
    deadline = time.monotonic() + 10
    running = scanner.scan()
    while not predicate(running) and time.monotonic() < deadline:
        time.sleep(0.05)
        running = scanner.scan()
    return running


def test_an_exited_app_not_yet_reaped_by_its_parent_is_not_running(
    stand_in_app: StartApp, os_user: str
) -> None:
    scanner = _scanner()
    process = stand_in_app("thunderbird")
    _wait_for(scanner, lambda r: ("thunderbird", os_user) in r)
    process.kill()  # no wait(): the process stays a zombie until the fixture reaps it
    assert ("thunderbird", os_user) not in _wait_for(
        scanner, lambda r: ("thunderbird", os_user) not in r
    )


def test_a_process_named_like_a_catalog_app_is_seen_with_its_os_user(
    stand_in_app: StartApp, os_user: str
) -> None:
    scanner = _scanner()
    process = stand_in_app("thunderbird")
    running = _wait_for(scanner, lambda r: ("thunderbird", os_user) in r)
    app, count = running[("thunderbird", os_user)]
    assert (app.category, count) == ("email", 1)
    process.kill()
    process.wait()
    assert ("thunderbird", os_user) not in _wait_for(
        scanner, lambda r: ("thunderbird", os_user) not in r
    )


def test_processes_of_one_app_are_counted_together(stand_in_app: StartApp, os_user: str) -> None:
    scanner = _scanner()
    stand_in_app("thunderbird")
    stand_in_app("thunderbird")
    running = _wait_for(scanner, lambda r: r.get(("thunderbird", os_user), (None, 0))[1] == 2)
    assert running[("thunderbird", os_user)][1] == 2


def test_a_program_that_execs_a_catalog_app_in_place_is_seen_within_one_scan(
    stand_in_app: StartApp, os_user: str, tmp_path: Path
) -> None:
    placed = stand_in_app("thunderbird")  # only to place the binary
    placed.kill()
    placed.wait()
    binary = tmp_path / "apps" / "thunderbird"
    scanner = _scanner()
    with subprocess.Popen(
        ["sh", "-c", f"read line; exec {binary} 300"], stdin=subprocess.PIPE
    ) as wrapper:
        try:
            assert ("thunderbird", os_user) not in _wait_for(scanner, lambda r: True)
            reads_before = scanner.full_reads
            assert wrapper.stdin is not None
            wrapper.stdin.write(b"go\n")
            wrapper.stdin.flush()
            running = _wait_for(scanner, lambda r: ("thunderbird", os_user) in r)
            assert ("thunderbird", os_user) in running
            assert scanner.full_reads > reads_before  # the same pid was read again after exec
        finally:
            wrapper.kill()


def test_unchanged_processes_are_not_read_again() -> None:
    scanner = _scanner()
    scanner.scan()
    first = scanner.full_reads
    scanner.scan()
    assert scanner.full_reads - first < max(5, first // 10)


def test_stat_lines_with_spaces_and_parentheses_in_the_name_parse() -> None:
    fields = " ".join(["S"] + ["0"] * 18 + ["4242"] + ["0"] * 20)
    assert parse_stat(f"123 (my (odd) app) {fields}".encode()) == (4242, b"my (odd) app")
    assert parse_stat(b"garbage") is None
    zombie = " ".join(["Z"] + ["0"] * 18 + ["4242"] + ["0"] * 20)
    assert parse_stat(f"123 (thunderbird) {zombie}".encode()) is None
