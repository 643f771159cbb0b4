"""The whole path on this machine: collector, a real agent, simulated devices, the usage report.

Run by `make demo`. Everything lives in ./demo-output (recreated each run) and talks only to
127.0.0.1. Steps: initialise the collector (embedded DuckDB file, its own CA and TLS certificate,
an admin credential) and start it; as the admin, make a one-time enrollment token and enroll
this machine's agent with it; start the agent, which scans this machine's processes; start a
stand-in app (a copy of `sleep` named `thunderbird`) so that the agent has something to find even
on a bare machine; enroll five simulated City and Library devices and deliver a week from each;
list the enrolled devices; stop everything cleanly; print the usage report for all devices, then
for this machine alone.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulated_devices import simulate

from agent.catalog import load_catalog

BIN = Path(sys.executable).parent
OUT = Path("demo-output")


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def wait_for_port(port_file: Path, process: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the collector did not start; its log:\n{log.read_text()}")
        time.sleep(0.1)
    return int(port_file.read_text())


def stop(process: subprocess.Popen[bytes], name: str) -> None:
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    if code != 0:
        sys.exit(f"{name} exited with {code}; see {OUT}/{name}.log")


def command(*argv: str) -> str:
    """Run one of the installed commands, echoing it; its stdout (it must succeed)."""
    print(f"    $ {' '.join(argv)}")
    result = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"{argv[0]} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    state = OUT / "collector"
    db = state / "commaudit.duckdb"
    ca = state / "tls" / "ca.pem"
    connection = state / "admin-connection.json"

    say("initialising the collector: database, its own CA and TLS certificate, an admin")
    for line in command("commaudit-collector", "init", "--state-dir", str(state)).splitlines():
        print(f"    {line}")
    say("starting the collector (TLS on 127.0.0.1, embedded DuckDB)")
    collector = start(
        [str(BIN / "commaudit-collector"), "serve", "--state-dir", str(state),
         "--listen", "127.0.0.1:0", "--port-file", str(OUT / "collector.port")],
        OUT / "collector.log",
    )  # fmt: skip
    address = f"127.0.0.1:{wait_for_port(OUT / 'collector.port', collector, OUT / 'collector.log')}"
    print(f"    listening on {address}")
    admin = ("--connection", str(connection), "--collector", address)

    def new_token(org: str, ownership: str) -> str:
        return command(
            "commaudit", "enroll-token", "create", "--org", org, "--ownership", ownership,
            "--expires", "1h", *admin,
        ).strip()  # fmt: skip

    say("enrolling this machine's agent: the admin makes a one-time token, the device uses it")
    token = new_token("city", "employer")  # one use, expires in an hour
    enrolled = command(
        "commaudit-agent", "enroll", "--collector", address, "--token", token,
        "--ca-file", str(ca), "--state-dir", str(OUT / "agent"),
    )  # fmt: skip
    print(f"    {enrolled.strip()}")
    this_device = enrolled.split(" enrolled as ")[1].split()[0]

    say(f"starting the agent on this machine as device '{this_device}'")
    agent = start(
        [str(BIN / "commaudit-agent"), "run", "--state-dir", str(OUT / "agent"),
         "--scan-interval", "0.5", "--heartbeat-interval", "2"],
        OUT / "agent.log",
    )  # fmt: skip

    say("starting a stand-in app: a copy of `sleep` named `thunderbird` (the email client)")
    stand_in = OUT / "apps" / "thunderbird"
    stand_in.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", stand_in)
    app = subprocess.Popen([str(stand_in), "300"])

    catalog = load_catalog()
    say(
        f"enrolling 5 simulated City and Library devices and delivering a week from each"
        f" ({len(catalog.apps)}-app catalog)"
    )
    simulated = simulate(catalog, address, ca, OUT / "simulated", new_token)
    for device, stored in simulated.items():
        print(f"    {device:<28} {stored:>6} events stored")

    say("the enrolled devices, as the admin sees them")
    for line in command("commaudit", "device", "list", *admin).splitlines():
        print(f"    {line}")

    time.sleep(3)
    say("closing the stand-in app; stopping the agent and the collector (SIGTERM: flush, drain)")
    app.terminate()
    app.wait()
    time.sleep(1.5)
    stop(agent, "agent")
    stop(collector, "collector")
    for line in (OUT / "agent.log").read_text().splitlines():
        print(f"    agent log: {line}")

    today = datetime.now(UTC).date()
    week = ["--from", str(today - timedelta(days=7)), "--to", str(today), "--db", str(db)]
    say("usage report, all devices, last 7 days")
    subprocess.run([str(BIN / "commaudit"), "report", "usage", *week], check=True)
    say(f"session log, this machine only ({this_device}): what the real agent found")
    subprocess.run(
        [str(BIN / "commaudit"), "report", "session-log", *week, "--device", this_device],
        check=True,
    )
    print(f"\nThe database is {db}; open it with DuckDB to explore the `events` table.")


if __name__ == "__main__":
    main()
