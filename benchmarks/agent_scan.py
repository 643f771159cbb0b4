"""How much a scan costs the device, against two baselines measured in the same run.

(a) listing pids: the floor any scan pays; (b) a naive full scan, `psutil.process_iter` reading
name, exe, cmdline and user of every process; (c) the agent's scan, which re-reads a process only
when its stamp changed, and reads state and CPU time of the catalog-matched ones only. Ratios
hold on a noisy machine where absolute times do not. Then (c) once per scan interval, as the
running agent pays it: caches have gone cold by then, so it costs more than back to back. Where
the kernel's process events drive the scan (Linux, root), (c') is the reader used without them:
a comm file kept open per process and read each scan.

Pads the process table with idle `sleep` processes up to --processes, --apps of them under
catalog apps' names, so that the numbers mean something on a quiet server. Ratios are of CPU
time, what the device pays; wall time is shown beside it.

    python benchmarks/agent_scan.py [--processes 500] [--rounds 50] [--apps 8] [--spaced 8]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from agent.catalog import current_os, load_catalog
from agent.config import AgentConfig
from agent.scan import Scanner

if sys.platform.startswith("linux"):
    from agent.platform.linux import ProcFiles

# Linux process names of catalog apps (agent/catalog.toml).
APP_NAMES = (
    "slack", "thunderbird", "zoom", "evolution", "pidgin", "signal-desktop", "element-desktop",
    "hexchat", "discord", "skypeforlinux", "geary", "telegram-desktop",
)  # fmt: skip


def measure(action: Callable[[], object], rounds: int, gap_s: float = 0) -> tuple[float, float]:
    """Median wall and CPU milliseconds of one call, `gap_s` apart."""
    wall, cpu = [], []
    for _ in range(rounds):
        time.sleep(gap_s)
        w0, c0 = time.perf_counter(), time.process_time()
        action()
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def naive_scan() -> int:
    found = 0
    for process in psutil.process_iter(["name", "exe", "cmdline", "username"]):
        found += bool(process.info["name"])
    return found


def start_apps(count: int, folder: Path) -> list[subprocess.Popen[bytes]]:
    """`count` copies of sleep under catalog apps' names, until killed (a run may be long)."""
    sleep = shutil.which("sleep") or "/bin/sleep"
    started = []
    for name in APP_NAMES[:count]:
        shutil.copy(sleep, folder / name)
        started.append(subprocess.Popen([str(folder / name), "infinity"]))
    return started


def pad_processes(target: int) -> list[subprocess.Popen[bytes]]:
    sleep = shutil.which("sleep") or "/bin/sleep"
    missing = max(0, target - len(psutil.pids()))
    return [subprocess.Popen([sleep, "infinity"]) for _ in range(missing)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--apps", type=int, default=8, help=f"at most {len(APP_NAMES)}")
    parser.add_argument("--spaced", type=int, default=8, help="scans one interval apart")
    parser.add_argument("--interval", type=float, default=AgentConfig().scan_interval_s)
    args = parser.parse_args()
    fds_before = psutil.Process().num_fds()
    with tempfile.TemporaryDirectory() as folder:
        started = start_apps(args.apps, Path(folder)) + pad_processes(args.processes)
        try:
            processes = len(psutil.pids())
            matcher = load_catalog().matcher_for(current_os())
            scanner = Scanner(matcher)  # the agent's own choice of reader on this host
            sessions = len(scanner.scan())  # the first scan reads everything, as at agent start
            spaced = measure(scanner.scan, args.spaced, args.interval)
            rows = [
                ("(a) list pids", measure(psutil.pids, args.rounds)),
                ("(b) naive process_iter", measure(naive_scan, args.rounds)),
                (f"(c) agent scan: {reader_name(scanner)}", measure(scanner.scan, args.rounds)),
                (f"(c) one every {args.interval:g} s", spaced),
            ]
            kept = psutil.Process().num_fds() - fds_before
            if getattr(scanner.reader, "event_driven", False):  # the fallback, for comparison
                files = Scanner(matcher, ProcFiles())
                files.scan()
                rows.append(("(c') kept comm files", measure(files.scan, args.rounds)))
                rows.append((f"(c') one every {args.interval:g} s", measure(
                    files.scan, args.spaced, args.interval)))  # fmt: skip
                files.close()
            kept = psutil.Process().num_fds() - fds_before
        finally:
            for process in started:
                process.kill()
                process.wait()
    report(rows, processes, sessions, kept, args)


def report(
    rows: list[tuple[str, tuple[float, float]]],
    processes: int,
    sessions: int,
    kept: int,
    args: argparse.Namespace,
) -> None:
    (_, (_, floor)), (_, (_, naive)), (_, (_, agent)), (_, (_, spaced)) = rows[:4]
    print(f"processes: {processes} ({sessions} catalog apps running), rounds: {args.rounds}\n")
    print(f"{'scan':<36}{'wall ms':>10}{'cpu ms':>10}{'cpu x (a)':>11}")
    for name, (wall, cpu) in rows:
        print(f"{name:<36}{wall:>10.2f}{cpu:>10.3f}{cpu / floor:>11.2f}")
    share = spaced / (args.interval * 1000) * 100
    print()
    print(verdict(f"(c)/(a) = {agent / floor:.1f}x", agent / floor <= 20, "<= 20x"))
    print(verdict(f"(b)/(c) = {naive / agent:.1f}x", naive / agent >= 5, ">= 5x"))
    print(
        verdict(
            f"scanning every {args.interval:g} s = {share:.3f}% of one core",
            share < 0.2,
            "whole agent < 0.2% (agent_cost.py)",
        )
    )
    rss = psutil.Process().memory_info().rss / 2**20
    print(f"benchmark process RSS: {rss:.1f} MiB (includes psutil and the catalog; the agent's:")
    print("  benchmarks/agent_cost.py, target <= 45 MB)")
    print(f"files the scanner keeps open between scans: {kept} (about 5 KiB of kernel memory each)")


def reader_name(scanner: Scanner) -> str:
    if getattr(scanner.reader, "event_driven", False):
        return "kernel events"
    return "kept comm files" if sys.platform.startswith("linux") else "psutil"


def verdict(measured: str, met: bool, target: str) -> str:
    return f"{measured:<40} target {target}: {'met' if met else 'MISSED'}"


if __name__ == "__main__":
    main()
