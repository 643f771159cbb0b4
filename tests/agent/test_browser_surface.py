"""The daemon's browser surface: the config each browser is given (catalog hostnames, privacy
profile, incognito setting), sent again when the catalog changes, and the tabs turned into what
the tracker and the status read. A real socket, spoken to as a host does (browser_harness)."""

from __future__ import annotations

import os
import pwd
import sys
import time
from pathlib import Path

import pytest

from agent.browser_surface import PERSONAL, BrowserSurface
from agent.catalog import parse_catalog
from agent.privacy_profile import Profile
from agent.status_file import BrowserStatus, TabApp
from tests.agent.browser.browser_harness import Client, tab, tabs_message, wait_until

USER = pwd.getpwuid(os.getuid()).pw_name
CATALOG = """
schema = 1
version = "{version}"

[[app]]
id = "webmail"
name = "Web Mail"
vendor = "Test"
category = "email"
use = "business"
web = {{ hosts = ["mail.example.org"] }}

[[app]]
id = "clips"
name = "Clips"
vendor = "Test"
category = "video_sharing"
use = "personal"
web = {{ hosts = ["{clips}"] }}
"""
V1 = parse_catalog(CATALOG.format(version="1", clips="clips.example.net"), "v1.toml")
V2 = parse_catalog(CATALOG.format(version="2", clips="*.clips.example.net"), "v2.toml")
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the browser socket needs SO_PEERCRED (Linux)"
)


def test_the_config_is_the_catalogs_hosts_built_once_per_catalog() -> None:
    surface = BrowserSurface(V1, Profile("employer"), report_incognito=True)
    config = surface.config()
    assert config.hosts == (("clips.example.net", "clips"), ("mail.example.org", "webmail"))
    assert (config.collect, config.report_incognito) == (True, True)
    assert surface.config() is config  # the socket's thread asks at every message
    surface.set_catalog(V1)
    assert surface.config() is config


def test_a_personal_device_is_told_to_collect_nothing_and_reads_no_tab() -> None:
    surface = BrowserSurface(V1, Profile("personal"))
    config = surface.config()
    assert (config.collect, config.hosts) == (False, ())
    assert surface.open_tabs(V1) == {}
    assert surface.status(V1) == BrowserStatus(False, PERSONAL)


@linux_only
def test_a_new_catalog_reaches_every_connected_browser_and_the_tabs(tmp_path: Path) -> None:
    surface = BrowserSurface(V1, Profile("employer"), path=tmp_path / "b.sock")
    assert surface.start() == ""
    client = Client(tmp_path / "b.sock")
    try:
        first = client.hello(USER)
        assert first["hosts"] == [["clips.example.net", "clips"], ["mail.example.org", "webmail"]]
        client.send(
            tabs_message(tab("webmail", focused=True), tab("clips"), tab("clips", incognito=True))
        )
        assert wait_until(lambda: bool(surface.open_tabs(V1)))
        tabs = surface.open_tabs(V1)
        assert {key: (t.focused, t.browsers) for key, t in tabs.items()} == {
            ("webmail", USER): (True, frozenset({"chromium"})),
            ("clips", USER): (False, frozenset({"chromium"})),
        }
        assert surface.status(V1) == BrowserStatus(
            True,
            "",
            (  # the incognito tab left out: report_incognito is off
                TabApp("clips", "video_sharing", "chromium", 1, False),
                TabApp("webmail", "email", "chromium", 1, True),
            ),
        )
        surface.set_catalog(V2)
        pushed = client.reader.next()
        assert pushed["hosts"][0] == ["*.clips.example.net", "clips"]
        # A catalog without the app: its tabs leave the sessions at once.
        surface.set_catalog(V2.only(lambda app: app.id == "webmail"))
        assert client.reader.next()["hosts"] == [["mail.example.org", "webmail"]]
        assert wait_until(lambda: list(surface.open_tabs(V2)) == [("webmail", USER)])
    finally:
        client.close()
        surface.close()
    assert not (tmp_path / "b.sock").exists()


@linux_only
def test_incognito_reporting_changes_live_and_every_browser_is_told(tmp_path: Path) -> None:
    surface = BrowserSurface(V1, Profile("employer"), path=tmp_path / "b.sock")
    assert surface.start() == ""
    client = Client(tmp_path / "b.sock")
    try:
        assert client.hello(USER)["report_incognito"] is False
        client.send(tabs_message(tab("clips", incognito=True)))
        time.sleep(0.3)
        assert surface.open_tabs(V1) == {}  # a private window's tab is dropped
        surface.set_report_incognito(True)  # the organisation's config changed (a live setting)
        pushed = client.reader.next()
        assert pushed["report_incognito"] is True
        assert pushed["hosts"] == [["clips.example.net", "clips"], ["mail.example.org", "webmail"]]
        client.send(tabs_message(tab("clips", incognito=True)))
        assert wait_until(lambda: list(surface.open_tabs(V1)) == [("clips", USER)])
        surface.set_report_incognito(True)  # no change: nothing is sent again
        surface.set_report_incognito(False)
        assert client.reader.next()["report_incognito"] is False
    finally:
        client.close()
        surface.close()
