"""`commaudit-agent`: run the agent; show its status to the device's user, or what it would
report now to IMS staff on the device.

argparse, not typer: the agent's dependency set stays minimal (it runs on every device and
must cost almost nothing, memory included).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

from agent import status
from agent.catalog import Catalog, CatalogError, current_os
from agent.central_config import catalog_in_use
from agent.config import AgentConfig, ConfigError, ConfigSource, load_config, load_effective
from agent.daemon import open_agent
from agent.enrollment import EnrollmentError, enroll, load_enrollment
from agent.os_paths import default_config_file
from agent.privacy_profile import Profile, ProfileError
from agent.scan import Scanner
from agent.status_file import (
    DeviceFacts,
    StatusFile,
    StatusSnapshot,
    StatusUnreadable,
    read_device,
    read_status,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="commaudit-agent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="scan, spool and report until stopped (SIGTERM/SIGINT)")
    check = commands.add_parser(
        "check-config", help="print the settings `run` would use and where each came from"
    )
    for command in (run, check):  # check-config takes run's options, to check a service's line
        command.add_argument("--config", type=Path, help="TOML file with agent settings")
        command.add_argument("--collector", help="collector HOST:PORT, if moved since enrollment")
        command.add_argument("--state-dir", type=Path, help="directory of the enrollment and spool")
        command.add_argument(
            "--catalog", type=Path, help="catalog file (default: the packaged one)"
        )
        command.add_argument("--scan-interval", dest="scan_interval_s", type=float, help="seconds")
        command.add_argument("--heartbeat-interval", dest="heartbeat_interval_s", type=float)
    run.add_argument("-v", "--verbose", action="store_true", help="log each delivery problem")
    enroll = commands.add_parser(
        "enroll", help="exchange a one-time token for this device's credential"
    )
    enroll.add_argument("--collector", required=True, help="collector address HOST:PORT")
    enroll.add_argument("--token", required=True, help="one-time token from an admin")
    enroll.add_argument("--ca-file", type=Path, help="the collector's CA (PEM); pinned from now on")
    enroll.add_argument(
        "--plaintext", action="store_true", help="no TLS (loopback collectors only)"
    )
    enroll.add_argument("--config", type=Path, help="TOML file with agent settings")
    enroll.add_argument("--state-dir", type=Path, help="directory of the enrollment and spool")
    scan = commands.add_parser(
        "scan",
        help="print what the agent would report now, under this device's privacy profile;"
        " sends nothing",
    )
    scan.add_argument("--once", action="store_true", required=True, help="one scan, then exit")
    scan.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    scan.add_argument("--catalog", type=Path, help="catalog file (default: the packaged one)")
    status_command = commands.add_parser(
        "status",
        help="enrollment, collector, spool, what this device reports and the last events sent;"
        " any user may run it",
    )
    status_command.add_argument("--json", action="store_true", help="one JSON object")
    status_command.add_argument(
        "--collector", help="collector HOST:PORT, if moved since enrollment"
    )
    for command in (scan, status_command):
        command.add_argument("--config", type=Path, help="TOML file with agent settings")
        command.add_argument("--state-dir", type=Path, help="directory of the enrollment and spool")
    browser_host = commands.add_parser(
        "browser-host",
        help="the browser extension's native-messaging host (started by the browser; relays"
        " to the running agent)",
    )
    browser_host.add_argument(
        "caller", nargs=argparse.REMAINDER, help="what the browser appends (origin); unused"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "browser-host":
        from agent.browser.native_host import main as browser_host  # the agent's parts unused

        return browser_host(args.caller)
    try:
        if args.command == "scan":
            return scan_once(args)
        if args.command == "status":
            return show_status(args)
        if args.command == "enroll":
            return enroll_device(args)
        if args.command == "check-config":
            return check_config(args)
        return run_agent(args)
    except (ConfigError, CatalogError) as error:
        print(f"commaudit-agent: {error}", file=sys.stderr)
        return 2
    except (EnrollmentError, StatusUnreadable, ProfileError) as error:
        print(f"commaudit-agent: {error}", file=sys.stderr)
        return 1


def check_config(args: argparse.Namespace) -> int:
    """Print the settings `run` would use, each with where it came from (default, file, env,
    flag); a wrong one raises ConfigError, which exits 2."""
    overrides = {f.name: getattr(args, f.name, None) for f in fields(AgentConfig)}
    print(load_effective(_config_file(args), os.environ, overrides).describe())
    return 0


def enroll_device(args: argparse.Namespace) -> int:
    config = load_config(_config_file(args), os.environ, {"state_dir": args.state_dir})
    enrollment = enroll(
        config.state_dir, args.collector, args.token, args.ca_file, plaintext=args.plaintext
    )
    employee = f", employee {enrollment.employee_id}" if enrollment.employee_id else ""
    print(
        f"commaudit-agent: enrolled as {enrollment.device_id} ({enrollment.org},"
        f" {enrollment.ownership} device{employee}); credential in {config.state_dir}"
    )
    # So that `commaudit-agent status` tells the device's users at once what is collected.
    device = DeviceFacts.of(enrollment, config.collector)
    StatusFile(config.state_dir, device, config.heartbeat_interval_s).write(None, "enrolled", "")
    return 0


def show_status(args: argparse.Namespace) -> int:
    """Exit 0 when enrolled and the collector takes Reports, 1 otherwise."""
    overrides = {"state_dir": args.state_dir, "collector": args.collector}
    config = load_config(_config_file(args), os.environ, overrides)
    found = status.gather(config.state_dir, catalog_in_use(config), config.collector)
    if args.json:
        print(json.dumps(status.as_json(found), indent=2))
    else:
        print(status.render(found))
    return 0 if found.healthy else 1


def scan_once(args: argparse.Namespace) -> int:
    """What the agent would report right now: app, category, OS user, process count, under
    the device's privacy profile when it is enrolled (all catalog apps otherwise)."""
    overrides = {"state_dir": args.state_dir, "catalog": args.catalog}
    config = load_config(_config_file(args), os.environ, overrides)
    catalog = catalog_in_use(config)
    device = read_device(config.state_dir, _status_if_readable(config.state_dir))
    profile = Profile.for_ownership(device.ownership) if device else None
    tracked = profile.catalog(catalog) if profile else catalog
    running = Scanner(tracked.matcher_for(current_os())).scan()
    rows = [
        {
            "app_id": app.id,
            "name": app.name,
            "category": app.category,
            "os_user": user,
            "processes": n,
        }
        for (_, user), (app, n) in sorted(running.items())
    ]
    # JSON lines stay one app each; the profile goes to stderr, for the person reading.
    print(_profile_line(device, tracked, catalog), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        for row in rows:
            print(json.dumps(row))
    elif not rows:
        print("no app this profile reports is running")
    else:
        for row in rows:
            print(
                f"{row['app_id']:<20} {row['category']:<18} {row['os_user']:<16} {row['processes']}"
            )
    return 0


def _status_if_readable(state_dir: Path) -> StatusSnapshot | None:
    try:
        return read_status(state_dir)
    except StatusUnreadable:
        return None


def _profile_line(device: DeviceFacts | None, tracked: Catalog, catalog: Catalog) -> str:
    apps = f"{len(tracked.apps)} of {len(catalog.apps)} apps of catalog {catalog.version}"
    if device is None:
        return f"not enrolled: every catalog app ({apps})"
    return f"device {device.device_id}: {device.ownership} profile ({apps})"


def _config_file(args: argparse.Namespace) -> Path | None:
    """--config, else the service's settings file when this device has one (os_paths.py)."""
    config: Path | None = args.config
    return config or default_config_file()


def run_agent(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {
        key: getattr(args, key)
        for key in (
            "collector",
            "state_dir",
            "catalog",
            "scan_interval_s",
            "heartbeat_interval_s",
        )
    }
    source = ConfigSource(_config_file(args), dict(os.environ), overrides)
    config: AgentConfig = source.load()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    enrollment = load_enrollment(config.state_dir)
    stop = threading.Event()
    stop_on_signals(stop)  # before open_agent starts any thread (gRPC's included)
    daemon = open_agent(config, enrollment, source)  # source: the file is reloaded when saved
    print(
        f"commaudit-agent: device {daemon.device_id} reporting to"
        f" {config.collector or enrollment.collector},"
        f" spool {config.state_dir}",
        flush=True,
    )
    daemon.run(stop)
    return 0


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop`, from a thread of their own where the platform allows.

    Why not `signal.signal(..., lambda *_: stop.set())`: the handler runs on the main thread
    between bytecodes, possibly while that thread holds the Event's own lock inside
    `stop.wait()`; `set()` then waits for that lock forever. Seen as an agent that ignored
    SIGTERM on a loaded machine. Blocking the signals in every thread and taking them with
    `sigwait` has no such window. Windows has neither call and keeps the handler.
    """
    signals = {signal.SIGTERM, signal.SIGINT}
    if not hasattr(signal, "pthread_sigmask"):
        for signum in signals:
            signal.signal(signum, lambda *_: stop.set())
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # inherited by threads made from now on

    def take() -> None:
        signal.sigwait(signals)
        stop.set()

    threading.Thread(target=take, name="signals", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
