"""A pid reused by another program of the same name, with a real scanner watching. Run by
test_scan.py in a new user and pid namespace, where it may choose the next pid and its reader
keeps files open (the kernel's process events are not reported there):

    unshare --user --map-root-user --pid --fork --mount-proc \
        python -m tests.agent.pid_reuse_probe DIR

and, as root, in the initial namespaces, where the reader follows the kernel's process events.

DIR holds `chromium`, a copy of `sh`. Process A runs it as a plain browser (not an app), the
scanner reads it, A ends; writing /proc/sys/kernel/ns_last_pid makes the next process, B, get
A's pid; B runs the same binary as the Gmail app window (`--app=https://mail.google.com/`).
Only the start time tells B from A: the name is the same. Prints one JSON object.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from agent.catalog import load_catalog
from agent.scan import Scanner


def wait_for_cmdline(pid: int, text: bytes) -> None:
    """Until the child has exec'd the binary (its command line shows `text`)."""
    deadline = time.monotonic() + 10
    while text not in Path(f"/proc/{pid}/cmdline").read_bytes():
        if time.monotonic() > deadline:
            raise TimeoutError(f"pid {pid} never ran {text!r}")
        time.sleep(0.01)


def start(binary: Path, *args: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([str(binary), "-c", "read line", *args], stdin=subprocess.PIPE)
    wait_for_cmdline(process.pid, b"read line")
    return process


ATTEMPTS = 20


def main() -> None:
    """In a pid namespace of its own no other process forks, and the first attempt gets the pid;
    in the initial one (the kernel-events reader) another process may take it first: try again."""
    binary = Path(sys.argv[1]) / "chromium"
    scanner = Scanner(load_catalog().matcher_for("linux"))
    scanner.scan()
    for _ in range(ATTEMPTS):
        plain = start(binary)
        seen_plain = scanner.scan()
        reads = scanner.full_reads
        plain.kill()
        plain.wait()
        time.sleep(0.05)  # a later start time: the clock ticks 100 times a second
        Path("/proc/sys/kernel/ns_last_pid").write_text(str(plain.pid - 1))
        app = start(binary, "--app=https://mail.google.com/")
        try:
            seen_app = scanner.scan()
        finally:
            app.kill()
            app.wait()
        if app.pid == plain.pid:
            break
        scanner.scan()
    print(
        json.dumps(
            {
                "reader": "kernel events"
                if getattr(scanner.reader, "event_driven", False)
                else "files",
                "pids": [plain.pid, app.pid],
                "apps_before": sorted(app_id for app_id, _ in seen_plain),
                "apps_after": sorted(app_id for app_id, _ in seen_app),
                "processes_after": [
                    list(key) for keys in seen_app.processes.values() for key in keys
                ],
                "reads_after_reuse": scanner.full_reads - reads,
            }
        )
    )


if __name__ == "__main__":
    main()
