"""How much a scan costs the device, against two baselines measured in the same run.

(a) listing pids: the floor any scan pays; (b) a naive full scan, `psutil.process_iter` reading
name, exe, cmdline and user of every process; (c) the agent's scan, which re-reads a process only
when its stamp changed. Ratios hold on a noisy machine where absolute times do not. Pads the
process table with idle `sleep` processes up to --processes so the numbers mean something on a
quiet server.

    python benchmarks/agent_scan.py [--processes 500] [--rounds 50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable

import psutil

from agent.catalog import current_os, load_catalog
from agent.scan import Scanner


def measure(action: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of one call."""
    wall, cpu = [], []
    for _ in range(rounds):
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


def pad_processes(target: int) -> list[subprocess.Popen[bytes]]:
    sleep = shutil.which("sleep") or "/bin/sleep"
    missing = max(0, target - len(psutil.pids()))
    return [subprocess.Popen([sleep, "600"]) for _ in range(missing)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    padding = pad_processes(args.processes)
    try:
        scanner = Scanner(load_catalog().matcher_for(current_os()))
        scanner.scan()  # the first scan reads everything once, as at agent start
        rows = [
            ("(a) list pids", measure(psutil.pids, args.rounds)),
            ("(b) naive process_iter", measure(naive_scan, args.rounds)),
            ("(c) agent scan", measure(scanner.scan, args.rounds)),
        ]
    finally:
        for process in padding:
            process.kill()
            process.wait()
    floor, naive, agent = (row[1][0] for row in rows)
    print(f"processes: {len(psutil.pids()) + len(padding)}, rounds: {args.rounds}\n")
    print(f"{'scan':<26}{'wall ms':>10}{'cpu ms':>10}")
    for name, (wall, cpu) in rows:
        print(f"{name:<26}{wall:>10.2f}{cpu:>10.2f}")
    print(f"\n(c)/(a) = {agent / floor:.1f}x   (target <= 20x)")
    print(f"(b)/(c) = {naive / agent:.1f}x   (target >= 5x)")
    rss = psutil.Process().memory_info().rss / 2**20
    print(f"benchmark process RSS: {rss:.1f} MiB (includes psutil and the catalog)")


if __name__ == "__main__":
    main()
