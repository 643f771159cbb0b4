"""The scanner sees real processes started under catalog apps' names, for the right OS user,
through an `exec` in place and a reused pid, with the CPU time each session used."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from agent.catalog import load_catalog
from agent.events import heartbeat_event, transition_event
from agent.platform.linux import ProcFiles, parse_stat
from agent.platform.portable import PsutilReader
from agent.platform.proc_connector import ProcConnector
from agent.scan import Running, Scanner
from agent.tracker import Session, SessionTracker, Stopped, Transition

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="real-process tests run on Linux (CI); "
    "macOS and Windows share the logic above agent.platform",
)

StartApp = Callable[[str], subprocess.Popen[bytes]]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def busy_app(tmp_path: Path) -> Iterator[StartApp]:
    """Start a copy of `sh` under a catalog app's process name, spinning on the CPU."""
    started: list[subprocess.Popen[bytes]] = []
    shell = shutil.which("sh")
    assert shell, "the tests need a POSIX shell"

    def start(process_name: str) -> subprocess.Popen[bytes]:
        binary = tmp_path / "busy" / process_name
        binary.parent.mkdir(exist_ok=True)
        if not binary.exists():
            shutil.copy(shell, binary)
        process = subprocess.Popen([str(binary), "-c", "while :; do :; done"])
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def _kernel_events_here() -> bool:
    connector = ProcConnector.open()
    if connector is not None:
        connector.close()
    return connector is not None


KERNEL_EVENTS = _kernel_events_here()
NO_KERNEL_EVENTS = "the kernel's process events need root (CAP_NET_ADMIN), initial namespaces"
READERS = {
    "kernel events": lambda: ProcFiles(connector=ProcConnector.open()),
    "kept files": lambda: ProcFiles(),
}


@pytest.fixture(params=READERS, autouse=True)
def reader_kind(request: pytest.FixtureRequest) -> str:
    """Every scanner test runs with both Linux readers: the kernel's process events where this
    host gives them (root), and the kept comm files everywhere else."""
    kind: str = request.param
    if kind == "kernel events" and not KERNEL_EVENTS:
        pytest.skip(NO_KERNEL_EVENTS)
    return kind


@pytest.fixture(autouse=True)
def _reader_for_scanners(reader_kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.scan.process_reader", READERS[reader_kind])


def _scanner() -> Scanner:
    return Scanner(load_catalog().matcher_for("linux"))


class Watch:
    """A scanner and a tracker, as the agent runs them, scanning every 50 ms when asked."""

    def __init__(self) -> None:
        self.scanner = _scanner()
        self.tracker = SessionTracker()
        self.transitions: list[Transition] = []
        self.scan()  # the first scan: what runs already is the past

    def scan(self) -> None:
        self.transitions += self.tracker.update(self.scanner.scan(), time.monotonic())

    def until(self, predicate: Callable[[], bool], seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.05)
            self.scan()

    def session(self, app_id: str) -> Session | None:
        return next((s for s in self.tracker.running if s.app.id == app_id), None)

    def cpu_ms(self, app_id: str) -> int:
        session = self.session(app_id)
        return session.cpu_ms if session else 0


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


def test_a_process_that_renames_itself_to_a_catalog_app_is_seen_within_one_scan(
    os_user: str,
) -> None:
    rename = "import ctypes, sys; sys.stdin.readline(); ctypes.CDLL(None).prctl(15, b'thunderbird', 0, 0, 0); print('renamed', flush=True); sys.stdin.readline()"  # noqa: E501
    scanner = _scanner()
    with subprocess.Popen(
        [sys.executable, "-c", rename], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            _wait_for(scanner, lambda _: Path(f"/proc/{child.pid}/comm").read_text() != "")
            assert ("thunderbird", os_user) not in scanner.scan()
            child.stdin.write(b"\n")
            child.stdin.flush()
            assert child.stdout.readline() == b"renamed\n"
            assert ("thunderbird", os_user) in scanner.scan()  # the very next scan
        finally:
            child.kill()


def test_unchanged_processes_are_not_read_again() -> None:
    scanner = _scanner()
    scanner.scan()
    first = scanner.full_reads
    scanner.scan()
    assert scanner.full_reads - first < max(5, first // 10)


def test_stat_lines_with_spaces_and_parentheses_in_the_name_parse() -> None:
    # fields 3.. : state, 10 others, utime 250, stime 30, 6 others, starttime 4242, 20 more
    fields = " ".join(["S"] + ["0"] * 10 + ["250", "30"] + ["0"] * 6 + ["4242"] + ["0"] * 20)
    assert parse_stat(f"123 (my (odd) app) {fields}".encode()) == ((4242, b"my (odd) app"), 280)
    assert parse_stat(b"garbage") is None
    zombie = "Z" + fields[1:]
    assert parse_stat(f"123 (thunderbird) {zombie}".encode()) is None


def test_a_busy_app_reports_clearly_more_cpu_time_than_one_left_idle(
    stand_in_app: StartApp, busy_app: StartApp
) -> None:
    watch = Watch()
    stand_in_app("evolution")  # open, doing nothing
    busy = busy_app("element-desktop")
    watch.until(lambda: watch.cpu_ms("element") >= 300 and watch.session("evolution") is not None)
    busy_ms, idle_ms = watch.cpu_ms("element"), watch.cpu_ms("evolution")
    assert busy_ms >= 300
    assert idle_ms < 50
    times = psutil.Process(busy.pid).cpu_times()  # the kernel's count, read after ours
    assert busy_ms <= (times.user + times.system) * 1000 + 10
    beat = heartbeat_event(
        "d1", watch.tracker.running, catalog_version="t", spool_depth=0, events_dropped=0,
        uptime_ms=0,
    )  # fmt: skip
    reported = {running.app_id: running.cpu_ms for running in beat.heartbeat.running}
    assert (reported["element"], reported["evolution"]) == (busy_ms, idle_ms)


def test_a_process_that_exits_during_a_session_still_counts_and_the_stop_carries_it(
    stand_in_app: StartApp, busy_app: StartApp
) -> None:
    watch = Watch()
    main = stand_in_app("pidgin")  # the app's long-lived process, idle
    worker = busy_app("pidgin")  # a busy helper of the same app
    watch.until(lambda: watch.cpu_ms("pidgin") >= 300)
    session = watch.session("pidgin")
    assert session is not None and session.process_count == 2
    used = session.cpu_ms
    worker.kill()
    worker.wait()
    watch.until(lambda: session.process_count == 1)
    assert session.process_count == 1
    assert used <= session.cpu_ms < used + 100  # the helper's time stays; the idle one adds ~0
    main.kill()
    main.wait()
    watch.until(lambda: watch.session("pidgin") is None)
    [stopped] = [
        t for t in watch.transitions if isinstance(t, Stopped) and t.session.app.id == "pidgin"
    ]
    stop = transition_event("d1", stopped).app_stopped
    assert stop.HasField("cpu_ms") and stop.cpu_ms == session.cpu_ms >= 300


@pytest.mark.skipif(os.geteuid() != 0, reason="starting a process as another user needs root")
def test_each_os_user_of_an_app_has_a_session_of_its_own(tmp_path: Path, os_user: str) -> None:
    shared = Path(os.path.realpath("/tmp")) / f"commaudit-test-{os.getpid()}"
    shared.mkdir(mode=0o755)
    binary = shared / "evolution"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    binary.chmod(0o755)
    mine = subprocess.Popen([str(binary), "300"])
    theirs = subprocess.Popen([str(binary), "300"], user="nobody")
    processes = [mine, theirs]
    try:
        scanner = _scanner()
        running = _wait_for(scanner, lambda r: ("evolution", "nobody") in r)
        pids = {key[1]: [pid for pid, _ in found] for key, found in running.processes.items()}
        assert mine.pid in pids[os_user] and mine.pid not in pids["nobody"]
        assert pids["nobody"] == [theirs.pid]
    finally:
        for process in processes:
            process.kill()
            process.wait()
        shutil.rmtree(shared)


def _can_choose_pids() -> bool:
    """A new user and pid namespace lets an unprivileged user set the next pid (Linux 5.9+)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run(
        [unshare, "--user", "--map-root-user", "--pid", "--fork", "--mount-proc", "sh", "-c",
         "echo 100 > /proc/sys/kernel/ns_last_pid"],
        capture_output=True, timeout=30,
    )  # fmt: skip
    return probe.returncode == 0


def _reuse_probe(tmp_path: Path, *namespaces: str) -> dict[str, Any]:
    shutil.copy(shutil.which("sh") or "/bin/sh", tmp_path / "chromium")
    probe = subprocess.run(
        [*namespaces, sys.executable, "-m", "tests.agent.pid_reuse_probe", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    seen: dict[str, Any] = json.loads(probe.stdout)
    return seen


@pytest.mark.skipif(not _can_choose_pids(), reason="no user and pid namespaces here (unshare)")
def test_a_reused_pid_running_an_app_under_the_same_name_is_seen_within_one_scan(
    tmp_path: Path,
) -> None:
    namespaces = ("unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc")
    seen = _reuse_probe(tmp_path, *namespaces)
    assert seen["reader"] == "files"  # no kernel events in a nested namespace
    _assert_reuse_seen(seen)
    assert seen["reads_after_reuse"] == 1  # nothing else runs in that namespace


@pytest.mark.skipif(
    os.geteuid() != 0 or not KERNEL_EVENTS,
    reason=f"choosing a pid in the initial namespace needs root; {NO_KERNEL_EVENTS}",
)
def test_a_reused_pid_is_seen_within_one_scan_through_the_kernels_process_events(
    tmp_path: Path,
) -> None:
    seen = _reuse_probe(tmp_path)
    assert seen["reader"] == "kernel events"
    _assert_reuse_seen(seen)


def _assert_reuse_seen(seen: dict[str, Any]) -> None:
    plain_pid, app_pid = seen["pids"]
    assert plain_pid == app_pid  # the same pid, the same name: only the start time differs
    assert seen["apps_before"] == []  # a plain browser is no app
    assert seen["apps_after"] == ["gmail"]  # the app window at the reused pid, at once
    [[pid, _]] = seen["processes_after"]
    assert pid == app_pid


def _files_open_on(pid: int) -> list[str]:
    """The /proc files of `pid` this process holds open, as the kernel lists them."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # the directory's own descriptor, closed by now
            continue
        if target.startswith(f"/proc/{pid}/"):
            found.append(target.rsplit("/", 1)[1])
    return sorted(found)


def test_files_stay_open_between_scans_and_close_when_their_process_ends(
    stand_in_app: StartApp,
) -> None:
    process = stand_in_app("evolution")
    reader = ProcFiles(kept_open=100_000)
    try:
        stamp = reader.read_all()[process.pid]
        assert stamp[1] == b"evolution"
        assert _files_open_on(process.pid) == ["comm"]  # every process: its name
        assert reader.read_all()[process.pid] == stamp  # read again through the same file
        assert reader.usage(process.pid).running
        assert _files_open_on(process.pid) == ["comm", "stat"]  # a matched one: its CPU time
        process.kill()
        process.wait()
        assert process.pid not in reader.read_all()
        assert _files_open_on(process.pid) == []
        assert reader.usage(process.pid) == (False, None)
    finally:
        reader.close()
    assert reader.files_open == 0


def test_a_reader_keeps_no_more_files_open_than_its_budget(stand_in_app: StartApp) -> None:
    process = stand_in_app("evolution")
    kept, unkept = ProcFiles(kept_open=3), ProcFiles(kept_open=0)
    try:
        for _ in range(2):
            stamps = kept.read_all()
            assert kept.files_open == 3
        assert process.pid in stamps
        assert unkept.read_all()[process.pid] == stamps[process.pid]  # from the stat file
        assert unkept.usage(process.pid).running
        assert unkept.files_open == 0
    finally:
        kept.close()
        unkept.close()


def test_the_portable_reader_sees_the_same_processes_and_cpu_times(busy_app: StartApp) -> None:
    busy = busy_app("element-desktop")
    proc, portable = ProcFiles(), PsutilReader()
    try:
        deadline = time.monotonic() + 15
        proc.read_all()
        while (proc.usage(busy.pid).cpu_ms or 0) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        stamps = portable.read_all()
        by_proc, by_psutil = proc.usage(busy.pid).cpu_ms, portable.usage(busy.pid).cpu_ms
        assert stamps[busy.pid][1] == b"element-desktop"
        assert by_proc is not None and by_psutil is not None
        assert by_proc >= 200
        assert abs(by_proc - by_psutil) < 100  # read a moment apart, in 10 ms ticks
        assert portable.usage(-1) == (False, None)  # a pid it did not see
        busy.kill()
        busy.wait()
        assert portable.usage(busy.pid) == (False, None)
    finally:
        proc.close()
        portable.close()
