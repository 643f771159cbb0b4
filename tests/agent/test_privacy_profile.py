"""Privacy profiles (DESIGN.md §3): a personal device never sends a personal-use app, a command
line, a path, or an install outside the catalog's business apps.

The daemon tests run the real agent loop on a real spool against real processes started under
catalog apps' names: `freetube` (use = personal), `slack` (business), `thunderbird` (mixed).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from agent.catalog import load_catalog
from agent.collector_channel import CollectorChannel
from agent.daemon import AgentDaemon, loss_notice_for
from agent.events import category_enum, new_event
from agent.privacy_profile import GatedSpool, Profile, ProfileError
from agent.sender import Sender, SenderSettings
from agent.spool import Spool
from commaudit.v1 import events_pb2

DEVICE = "phone-1"
StartApp = Callable[[str], subprocess.Popen[bytes]]
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="real-process tests run on Linux (CI)"
)

PERSONAL = Profile.for_ownership("personal")
EMPLOYER = Profile.for_ownership("employer")


def _uses_from_the_toml() -> dict[str, str]:
    """Each app's use, read straight from the packaged TOML, not through the catalog code."""
    text = resources.files("agent").joinpath("catalog.toml").read_text(encoding="utf-8")
    return {app["id"]: app["use"] for app in tomllib.loads(text)["app"]}


def _app_event(kind: str, app_id: str, category: str = "video_sharing") -> events_pb2.Event:
    event = new_event(DEVICE)
    body = getattr(event, kind)
    body.app_id = app_id
    body.category = category_enum(category)
    if kind in ("app_started", "app_stopped"):
        body.os_user = "alice"
    return event


def test_the_personal_catalog_holds_exactly_the_business_and_mixed_apps() -> None:
    uses = _uses_from_the_toml()
    catalog = PERSONAL.catalog(load_catalog())
    assert {app.id for app in catalog.apps} == {i for i, u in uses.items() if u != "personal"}
    assert {"slack", "thunderbird"} <= {app.id for app in catalog.apps}
    assert "freetube" not in {app.id for app in catalog.apps}


def test_a_personal_install_inventory_looks_for_the_business_apps_only() -> None:
    uses = _uses_from_the_toml()
    catalog = PERSONAL.install_catalog(load_catalog())
    assert {app.id for app in catalog.apps} == {i for i, u in uses.items() if u == "business"}


def test_the_employer_catalogs_are_the_whole_catalog() -> None:
    catalog = load_catalog()
    assert EMPLOYER.catalog(catalog) is catalog
    assert EMPLOYER.install_catalog(catalog) is catalog


def test_a_personal_catalog_matches_nothing_for_a_personal_app_process() -> None:
    full, personal = load_catalog(), PERSONAL.catalog(load_catalog())
    for matcher in (full.matcher_for("linux"), personal.matcher_for("linux")):
        slack = matcher.match("slack", "/usr/bin/slack", ["slack"])
        assert slack is not None and slack.id == "slack"
    assert full.matcher_for("linux").match("freetube", "/opt/FreeTube/freetube", ["freetube"])
    assert personal.matcher_for("linux").match("freetube", "/opt/FreeTube/freetube", []) is None
    web = ["chromium", "--app=https://web.whatsapp.com/"]  # use = personal
    assert full.matcher_for("linux").match("chromium", "/usr/bin/chromium", web) is not None
    assert personal.matcher_for("linux").match("chromium", "/usr/bin/chromium", web) is None


def test_an_unknown_ownership_is_refused_by_name() -> None:
    with pytest.raises(ProfileError, match="ownership 'company' is not one of employer, personal"):
        Profile.for_ownership("company")


def test_the_gate_refuses_a_personal_use_app_on_a_personal_device_only() -> None:
    catalog = load_catalog()
    for kind in ("app_started", "app_stopped"):
        event = _app_event(kind, "freetube")
        assert PERSONAL.admits(event, catalog) == (
            f"{kind}: app 'freetube' is personal-use: not reported from a personal device"
        )
        assert EMPLOYER.admits(event, catalog) is None
    assert PERSONAL.admits(_app_event("app_started", "slack", "instant_messaging"), catalog) is None
    assert PERSONAL.admits(_app_event("app_started", "thunderbird", "email"), catalog) is None


def test_the_gate_refuses_an_app_it_cannot_check_on_a_personal_device() -> None:
    event = _app_event("app_started", "not-in-any-catalog")
    reason = PERSONAL.admits(event, load_catalog())
    assert reason is not None and "not in catalog" in reason
    # The filtered catalog does not know personal apps either: refused as well.
    assert PERSONAL.admits(_app_event("app_started", "freetube"), PERSONAL.catalog(load_catalog()))


def test_a_personal_device_reports_installs_of_business_apps_only() -> None:
    catalog = load_catalog()
    for kind in ("app_installed", "app_removed"):
        mixed = _app_event(kind, "thunderbird", "email")
        assert PERSONAL.admits(mixed, catalog) == (
            f"{kind}: app 'thunderbird' is mixed-use: not reported from a personal device"
        )
        assert PERSONAL.admits(_app_event(kind, "freetube"), catalog) is not None
        assert PERSONAL.admits(_app_event(kind, "zoom", "teleconferencing"), catalog) is None
        assert EMPLOYER.admits(mixed, catalog) is None


def test_an_install_path_is_refused_on_a_personal_device_and_cleared_by_redaction() -> None:
    catalog = load_catalog()
    event = _app_event("app_installed", "zoom", "teleconferencing")
    event.app_installed.path = "/home/alice/Applications/zoom"
    assert PERSONAL.admits(event, catalog) == (
        "app_installed: app_installed.path is set: a personal device sends no command line or path"
    )
    assert EMPLOYER.admits(event, catalog) is None
    assert EMPLOYER.redact(event).app_installed.path == "/home/alice/Applications/zoom"
    assert PERSONAL.redact(event).app_installed.path == ""
    assert PERSONAL.admits(event, catalog) is None


def test_a_heartbeat_naming_a_personal_app_is_refused_on_a_personal_device() -> None:
    catalog = load_catalog()
    event = new_event(DEVICE)
    for app_id in ("slack", "freetube"):
        event.heartbeat.running.add(app_id=app_id, os_user="alice", process_count=1)
    reason = PERSONAL.admits(event, catalog)
    assert (
        reason == "heartbeat: app 'freetube' is personal-use: not reported from a personal device"
    )
    del event.heartbeat.running[1]
    assert PERSONAL.admits(event, catalog) is None


def test_a_session_seen_in_a_browser_tab_is_refused_on_a_personal_device_only() -> None:
    """Defence in depth (issue 9): the extension is told to stay idle there, and an event that
    names a tab anyway, by surface, browser or foreground time, is still refused."""
    catalog = load_catalog()
    started = _app_event("app_started", "gmail", "email")
    started.app_started.surfaces.append(events_pb2.SURFACE_BROWSER_TAB)
    stopped = _app_event("app_stopped", "gmail", "email")
    stopped.app_stopped.foreground_ms = 0
    beat = new_event(DEVICE)
    beat.heartbeat.running.add(app_id="gmail", os_user="alice", browsers=["chromium"])
    refusal = "names a browser tab: nothing from browsers is collected here (§3.2)"
    for event in (started, stopped, beat):
        kind = event.WhichOneof("kind")
        assert PERSONAL.admits(event, catalog) == f"{kind}: {refusal}"
        assert EMPLOYER.admits(event, catalog) is None
    process = _app_event("app_started", "gmail", "email")
    process.app_started.surfaces.append(events_pb2.SURFACE_APP_WINDOW)
    assert PERSONAL.admits(process, catalog) is None


def test_the_gated_spool_stores_only_what_the_profile_admits(tmp_path: Path) -> None:
    catalog = load_catalog()
    spool = GatedSpool(
        tmp_path / "spool.sqlite3",
        1_000_000,
        loss_notice_for(DEVICE),
        profile=PERSONAL,
        catalog=catalog,
    )
    install = _app_event("app_installed", "zoom", "teleconferencing")
    install.app_installed.path = "/home/alice/Applications/zoom"
    events = [
        _app_event("app_started", "freetube"),
        _app_event("app_started", "slack", "instant_messaging"),
        _app_event("app_installed", "thunderbird", "email"),
        install,
    ]
    assert spool.append(events) == [1, 2]
    stored = spool.pending(10)
    assert [(e.WhichOneof("kind"), e.seq) for e in stored] == [
        ("app_started", 1),
        ("app_installed", 2),
    ]
    assert stored[0].app_started.app_id == "slack"
    assert (stored[1].app_installed.app_id, stored[1].app_installed.path) == ("zoom", "")
    assert spool.refused == 2


def test_each_profile_says_what_it_collects_and_never_collects() -> None:
    personal = " ".join(PERSONAL.describe())
    assert "business or mixed-use" in personal
    assert "Never collected: apps the catalog marks for personal use" in personal
    assert "command lines, file paths" in personal
    assert "Never collected: anything from web browsers" in personal
    employer = " ".join(EMPLOYER.describe())
    assert "any communication app in the catalog" in employer
    assert "open in browser tabs" in employer and "by service name only" in employer
    assert "with where they are installed" in employer


def _run_agent(
    tmp_path: Path, profile: Profile, until: Callable[[list[events_pb2.Event]], bool]
) -> tuple[list[events_pb2.Event], int]:
    """Run the real agent loop on a gated spool until `until(spooled events)` holds, stop it,
    and return everything it spooled (its sender has no collector: nothing leaves) and the
    number of events its gate refused."""
    full = load_catalog()
    path = tmp_path / f"{profile.ownership}.sqlite3"
    spool = GatedSpool(path, 1_000_000, loss_notice_for(DEVICE), profile=profile, catalog=full)
    sender = Sender(
        spool, CollectorChannel("127.0.0.1:9", None), (), SenderSettings(backoff_base_s=5.0)
    )
    daemon = AgentDaemon(
        DEVICE,
        profile.catalog(full),
        spool,
        sender,
        scan_interval_s=0.05,
        heartbeat_interval_s=0.2,
        flush_timeout_s=0.1,
    )
    stop = threading.Event()
    loop = threading.Thread(target=daemon.run, args=(stop,))
    loop.start()
    deadline = time.monotonic() + 15
    try:
        while not until(spool.pending(10_000)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(30)
    refused = spool.refused
    reopened = Spool(path, 1_000_000, loss_notice_for(DEVICE))
    try:
        return reopened.pending(10_000), refused
    finally:
        reopened.close()


def _started(events: list[events_pb2.Event]) -> set[str]:
    return {e.app_started.app_id for e in events if e.WhichOneof("kind") == "app_started"}


def _heartbeat_apps(events: list[events_pb2.Event]) -> set[str]:
    return {
        app.app_id
        for e in events
        if e.WhichOneof("kind") == "heartbeat"
        for app in e.heartbeat.running
    }


@linux_only
def test_a_personal_device_never_spools_a_personal_app_a_command_line_or_a_path(
    tmp_path: Path, stand_in_app: StartApp
) -> None:
    for name in ("freetube", "slack", "thunderbird"):
        stand_in_app(name)
    events, refused = _run_agent(
        tmp_path,
        PERSONAL,
        lambda spooled: (
            {"slack", "thunderbird"} <= _started(spooled)
            and {"slack", "thunderbird"} <= _heartbeat_apps(spooled)
        ),
    )
    assert {"slack", "thunderbird"} <= _started(events)
    assert {"slack", "thunderbird"} <= _heartbeat_apps(events)
    stopped = {e.app_stopped.app_id for e in events if e.WhichOneof("kind") == "app_stopped"}
    assert {"slack", "thunderbird"} <= stopped  # ended as agent_stopped at shutdown
    assert "freetube" not in _started(events) | _heartbeat_apps(events) | stopped
    assert refused == 0  # the scanner never recognised it: the gate had nothing to refuse
    apps_dir = str(tmp_path / "apps").encode()
    for event in events:
        body = event.SerializeToString()
        assert b"freetube" not in body
        assert apps_dir not in body, "a command line or an executable path was spooled"
        assert event.WhichOneof("kind") not in ("app_installed", "app_removed")


@linux_only
def test_the_same_apps_on_an_employer_device_are_all_spooled(
    tmp_path: Path, stand_in_app: StartApp
) -> None:
    for name in ("freetube", "slack", "thunderbird"):
        stand_in_app(name)
    events, refused = _run_agent(
        tmp_path,
        EMPLOYER,
        lambda spooled: {"freetube", "slack", "thunderbird"} <= _started(spooled),
    )
    assert {"freetube", "slack", "thunderbird"} <= _started(events)
    assert refused == 0
