"""The whole path on this machine: collector, a real agent, simulated devices, the reports.

Run by `make demo`. Everything lives in ./demo-output (recreated each run) and talks only to
127.0.0.1. Steps: initialise the collector (embedded DuckDB file, its own CA and TLS certificate,
an admin credential) and start it, publishing its lake every 2 s; import the sample roster
(samples/org: workgroups, employees, device assignments, training); make a director and an
analyst; the Finance director restricts video sharing in Finance (§4.4); enroll this machine's
agent with a one-time token and start it, with a stand-in app (a copy of `sleep` named
`thunderbird`) so that it has something to find even on a bare machine; enroll five simulated
City and Library devices and deliver a week from each; then the reports as the analyst and the
director see them, the audit log as the admin sees it; each director's weekly summary, sent
to a mail server on 127.0.0.1 and sent again to show the ledger sends nothing twice; stop
everything cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mail_catcher import MailCatcher
from simulated_devices import simulate

from agent.catalog import load_catalog

BIN = Path(sys.executable).parent
OUT = Path("demo-output")
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "org"
PUBLISH_INTERVAL_S = 2


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


STARTED: list[subprocess.Popen[bytes]] = []
"""Every long-running child, killed on the way out should the demo stop early."""


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        STARTED.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))
    return STARTED[-1]


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
    # The agent's socket for browsers stays in the demo's folder too, not /run/commaudit-agent.
    os.environ["COMMAUDIT_BROWSER_SOCKET"] = str(OUT / "browser.sock")
    state = OUT / "collector"
    ca = state / "tls" / "ca.pem"
    connection = state / "admin-connection.json"

    say("initialising the collector: database, its own CA and TLS certificate, an admin")
    for line in command("commaudit-collector", "init", "--state-dir", str(state)).splitlines():
        print(f"    {line}")
    say("starting the collector (TLS on 127.0.0.1, embedded DuckDB)")
    collector = start(
        [str(BIN / "commaudit-collector"), "serve", "--state-dir", str(state),
         "--listen", "127.0.0.1:0", "--port-file", str(OUT / "collector.port"),
         "--publish-interval-s", str(PUBLISH_INTERVAL_S)],
        OUT / "collector.log",
    )  # fmt: skip
    address = f"127.0.0.1:{wait_for_port(OUT / 'collector.port', collector, OUT / 'collector.log')}"
    print(f"    listening on {address}")
    admin = ("--connection", str(connection), "--collector", address)

    def new_token(org: str, ownership: str, employee: str = "") -> str:
        who = ("--employee", employee) if employee else ()
        return command(
            "commaudit", "enroll-token", "create", "--org", org, "--ownership", ownership,
            *who, "--expires", "1h", *admin,
        ).strip()  # fmt: skip

    say("importing the organisations' roster from CSV exports (samples/org)")
    kinds = ("workgroups", "employees", "device_assignments", "training")
    files = [str(SAMPLES / f"{kind}.csv") for kind in kinds]
    for line in command("commaudit", "import", *files, *admin).splitlines():
        print(f"    {line}")

    say("an analyst, and the Finance director (Robert Chen, C4001) as an operator")
    analyst = ("--connection", str(OUT / "analyst.json"), "--collector", address)
    director = ("--connection", str(OUT / "director.json"), "--collector", address)
    for line in (
        command("commaudit", "operator", "add", "ana", "--role", "analyst",
                "--out", str(OUT / "analyst.json"), *admin),
        command("commaudit", "operator", "add", "rchen", "--role", "director",
                "--employee", "C4001", "--out", str(OUT / "director.json"), *admin),
    ):  # fmt: skip
        print(f"    {line.strip()}")

    today = datetime.now(UTC).date()
    say("the director restricts video sharing in Finance from two weeks ago (§4.4)")
    restricted = command(
        "commaudit", "restriction", "add", "--workgroup", "city-fin", "--category",
        "video_sharing", "--from", str(today - timedelta(days=14)),
        "--reason", "bandwidth for the budget close", *director,
    )  # fmt: skip
    print(f"    {restricted.strip()}")

    say("enrolling this machine's agent: the admin makes a one-time token, the device uses it")
    token = new_token("city", "employer", "C1003")  # one use, expires in an hour
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
    STARTED.append(app)

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

    time.sleep(PUBLISH_INTERVAL_S + 2)  # the agent's sessions, then one more publish
    week = ("--from", str(today - timedelta(days=7)), "--to", str(today))
    say("usage by workgroup, last 7 days, as the analyst (read from the published lake)")
    report("usage", *week, *analyst)
    say("violations of Finance's restriction, as the Finance director (their workgroup only)")
    report("violations", *week, *director)
    say("training overdue by manager (§4.3: every 12 months unless an organisation says else)")
    report("training-overdue", *analyst)
    say("coverage: silent devices, gaps, old agents, devices assigned but never enrolled")
    report("coverage", *analyst)
    say("personal devices enrolled for business use (§3.2)")
    report("personal-devices", *analyst)
    say(f"session log, this machine only ({this_device}): what the real agent found")
    report("session-log", *week, "--device", this_device, *analyst)
    say("the audit log, as the admin sees it: who looked at what (§4.1)")
    for line in command("commaudit", "audit", "list", "--since", "1h", *admin).splitlines():
        print(f"    {line}")

    weekly_summaries(today, admin)

    say("closing the stand-in app; stopping the agent and the collector (SIGTERM: flush, drain)")
    app.terminate()
    app.wait()
    stop(agent, "agent")
    stop(collector, "collector")
    for line in (OUT / "agent.log").read_text().splitlines()[-5:]:
        print(f"    agent log: {line}")
    print(
        f"\nAnalysts can attach the lake from their own DuckDB: commaudit lake info"
        f" --state-dir {state}"
    )


def weekly_summaries(today: date, admin: tuple[str, ...]) -> None:
    """Each director's email for this week so far, sent to a mail server on loopback; then
    the same send again, which the ledger makes send nothing."""
    week = f"{today.isocalendar().year}-W{today.isocalendar().week:02d}"
    with MailCatcher() as mail:
        env = {**os.environ, "COMMAUDIT_SMTP_HOST": "127.0.0.1",
               "COMMAUDIT_SMTP_PORT": str(mail.port), "COMMAUDIT_SMTP_SECURITY": "none",
               "COMMAUDIT_SMTP_SENDER": "commaudit <commaudit@city.example>"}  # fmt: skip
        say(f"weekly summaries for {week} so far: one email per director, to a mail server on"
            " 127.0.0.1 (§2.2, §4.4)")  # fmt: skip
        summaries("send", "--week", week, *admin, env=env)
        finance = next(m for m in mail.messages if m["X-Commaudit-Director"] == "C4001")
        text = finance.get_body(("plain",))
        print(f"\n    The Finance director's email: {finance['Subject']}")
        for line in (text.get_content() if text else "").splitlines()[:8]:
            print(f"    | {line}")
        say("the same send again: the ledger says who has theirs, so nothing is sent twice")
        before = len(mail.messages)
        summaries("send", "--week", week, *admin, env=env)
        print(f"    emails received: {before} the first time, {len(mail.messages) - before} now")
    say("each email as a file, with an HTML preview to open in a browser")
    summaries("build", "--week", week, "--director", "C4001", "--out", str(OUT / "summaries"),
              *admin)  # fmt: skip


def summaries(*args: str, env: dict[str, str] | None = None) -> None:
    print(f"    $ commaudit summaries {' '.join(args)}")
    subprocess.run([str(BIN / "commaudit"), "summaries", *args], check=False, env=env)


def report(name: str, *args: str) -> None:
    print(f"    $ commaudit report {name} {' '.join(args)}")
    subprocess.run([str(BIN / "commaudit"), "report", name, *args], check=True)


if __name__ == "__main__":
    try:
        main()
    finally:  # an error, Ctrl-C or a closed pipe must not leave services running
        for child in STARTED:
            if child.poll() is None:
                child.kill()
                child.wait()
