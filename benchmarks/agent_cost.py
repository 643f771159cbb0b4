"""What the running agent costs a device: CPU share of one core and RSS, at its default interval.

Starts a collector and the agent (default 2 s scans, 60 s heartbeats) as the installed console
scripts on 127.0.0.1, pads the process table to --processes with idle `sleep`s, --apps of them
under catalog apps' names (so the agent tracks sessions and reads their CPU time), lets the agent
settle, then samples its CPU time and RSS over --seconds. Baseline in the same run: the CPU share
of an idle `sleep` padding process, the floor any process pays on this machine. Run as root, the
agent's scan follows the kernel's process events, so its cost also grows with how often this
host's processes start and end (other work on the machine included).

    python benchmarks/agent_cost.py [--seconds 120] [--processes 500] [--apps 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from agent_scan import start_apps
from collector_process import enrollment_token, init_collector, start_collector

BIN = Path(sys.executable).parent


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def thread_cpu(process: psutil.Process) -> dict[str, float]:
    """CPU seconds by thread name (Python threads share the agent's name; a library's own C
    threads show under theirs): where the agent's share goes. Read from each thread's schedstat,
    in nanoseconds: the agent runs a few milliseconds a minute per thread, and utime/stime in
    10 ms clock ticks would round most of that away."""
    seconds: dict[str, float] = {}
    for thread in process.threads():
        task = Path(f"/proc/{process.pid}/task/{thread.id}")
        try:
            name = (task / "comm").read_text().strip()
            ran_ns = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        seconds[name] = seconds.get(name, 0.0) + ran_ns / 1e9
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--processes", type=int, default=500)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--apps", type=int, default=8)
    args = parser.parse_args()
    sleep = shutil.which("sleep") or "/bin/sleep"
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "apps").mkdir()
        padding = [
            subprocess.Popen([sleep, "infinity"])  # until killed: outlives any --seconds
            for _ in range(max(1, args.processes - args.apps - len(psutil.pids())))
        ] + start_apps(args.apps, tmp / "apps")
        state = tmp / "collector"
        init_collector(state)
        token = enrollment_token(state)
        collector, address = start_collector(state)
        subprocess.run(
            [str(BIN / "commaudit-agent"), "enroll", "--collector", address, "--token", token,
             "--ca-file", str(state / "tls" / "ca.pem"), "--state-dir", str(tmp / "agent")],
            check=True,
        )  # fmt: skip
        agent = subprocess.Popen(
            [str(BIN / "commaudit-agent"), "run", "--state-dir", str(tmp / "agent")],
            # its own browser socket, not the device's /run/commaudit-agent/browser.sock
            env={**os.environ, "COMMAUDIT_BROWSER_SOCKET": str(tmp / "browser.sock")},
        )  # fmt: skip
        try:
            time.sleep(args.settle)
            watched, idle = psutil.Process(agent.pid), psutil.Process(padding[0].pid)
            agent_cpu0, idle_cpu0, t0 = cpu_seconds(watched), cpu_seconds(idle), time.monotonic()
            threads0 = thread_cpu(watched)
            time.sleep(args.seconds)
            elapsed = time.monotonic() - t0
            agent_share = (cpu_seconds(watched) - agent_cpu0) / elapsed * 100
            idle_share = (cpu_seconds(idle) - idle_cpu0) / elapsed * 100
            by_thread = {
                name: (seconds - threads0.get(name, 0.0)) / elapsed * 100
                for name, seconds in thread_cpu(watched).items()
            }
            memory = watched.memory_full_info()
            rss, pss, uss = (value / 2**20 for value in (memory.rss, memory.pss, memory.uss))
            processes = len(psutil.pids())
        finally:
            for process in (agent, collector):
                process.terminate()
                process.wait(30)
            for process in padding:
                process.kill()
                process.wait()
    print(f"processes: {processes}, window: {elapsed:.0f} s after {args.settle:.0f} s settling\n")
    print(f"{'process':<28}{'% of one core':>15}{'RSS MiB':>10}")
    print(f"{'idle sleep (baseline)':<28}{idle_share:>15.3f}{'':>10}")
    print(f"{'commaudit-agent':<28}{agent_share:>15.3f}{rss:>10.1f}")
    for name, share in sorted(by_thread.items(), key=lambda item: -item[1]):
        print(f"{'  threads: ' + name:<28}{share:>15.3f}")
    print(
        f"\nmemory: RSS {rss:.1f} MiB ({rss * 2**20 / 1e6:.1f} MB), of which shared with other"
        f" processes (libpython, OpenSSL...) {rss - uss:.1f}; PSS {pss:.1f} MiB; USS {uss:.1f} MiB"
    )
    print("\ntargets: agent < 0.2% of one core at the default 2 s interval; RSS <= 45 MB")


if __name__ == "__main__":
    main()
