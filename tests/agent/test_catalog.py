"""The catalog: real apps in all six policy categories, rules that compile and never overlap."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from agent.catalog import CATEGORIES, OSES, CatalogError, load_catalog, parse_catalog

RAW = tomllib.loads(resources.files("agent").joinpath("catalog.toml").read_text(encoding="utf-8"))


def test_the_packaged_catalog_loads_with_a_version() -> None:
    catalog = load_catalog()
    assert catalog.version and len(catalog.apps) >= 50


def test_every_category_of_the_policy_has_apps() -> None:
    counts = {c: sum(a.category == c for a in load_catalog().apps) for c in CATEGORIES}
    assert all(n >= 3 for n in counts.values()), counts


def test_every_os_has_desktop_clients_by_process_name() -> None:
    for os_name in OSES:
        named = [app for app in RAW["app"] if app.get(os_name, {}).get("process_names")]
        assert len(named) >= 15, os_name


def test_every_regex_compiles_and_targets_an_app_window() -> None:
    for app in RAW["app"]:
        for table in (app.get(k, {}) for k in (*OSES, "web")):
            for pattern in table.get("cmdline_patterns", []):
                re.compile(pattern)
                assert pattern.startswith(("--app=", "--app-id=")), (app["id"], pattern)


def test_no_two_apps_claim_the_same_signature() -> None:
    owners: dict[tuple[str, str, str], str] = {}
    for app in RAW["app"]:
        for os_name in (*OSES, "web"):
            for kind, values in app.get(os_name, {}).items():
                for value in values:
                    key = (os_name, kind, value.lower())
                    assert owners.setdefault(key, app["id"]) == app["id"], key


@pytest.mark.parametrize(
    ("os_name", "name", "cmdline", "expected"),
    [
        ("windows", "Slack.exe", [], "slack"),
        ("windows", "OUTLOOK.EXE", [], "outlook"),
        ("windows", "olk.exe", [], "outlook"),
        ("windows", "ms-teams.exe", [], "teams"),
        ("windows", "PhoneExperienceHost.exe", [], "phone-link"),
        ("macos", "zoom.us", [], "zoom"),
        ("macos", "MSTeams", [], "teams"),
        ("macos", "Messages", [], "apple-messages"),
        ("linux", "thunderbird", [], "thunderbird"),
        ("linux", "signal-desktop", [], "signal"),
        ("linux", "telegram-deskto", [], "telegram"),  # /proc comm keeps 15 characters
        ("linux", "chrome", ["chrome", "--app=https://mail.google.com/mail/u/0"], "gmail"),
        ("linux", "chrome", ["chrome", "--app=https://mail.google.com/chat/u/0"], "google-chat"),
        (
            "windows",
            "msedge.exe",
            ["msedge.exe", "--app-id=agimnkijcaahngcdmfeangaknmldooml"],
            "youtube",
        ),
        ("macos", "Google Chrome", ["--app=https://meet.google.com/abc-defg-hij"], "google-meet"),
    ],
)
def test_real_process_names_and_app_windows_match(
    os_name: str, name: str, cmdline: list[str], expected: str
) -> None:
    app = load_catalog().matcher_for(os_name).match(name, "", cmdline)
    assert app is not None and app.id == expected


def test_a_plain_browser_window_is_no_app() -> None:
    matcher = load_catalog().matcher_for("linux")
    assert (
        matcher.match("chrome", "/opt/google/chrome/chrome", ["chrome", "--type=renderer"]) is None
    )
    assert matcher.match("sleep", "/usr/bin/sleep", ["sleep", "--app=https://youtube.com"]) is None


def test_an_exe_path_glob_matches_a_renamed_binary() -> None:
    app = load_catalog().matcher_for("linux").match("ZoomLauncher", "/opt/zoom/ZoomLauncher", [])
    assert app is not None and app.id == "zoom"


GOOD_APP = 'id = "a"\nname = "A"\nvendor = "V"\ncategory = "email"\nuse = "business"\n'


def _catalog(apps: str) -> str:
    return f'schema = 1\nversion = "t"\n{apps}'


@pytest.mark.parametrize(
    ("apps", "message"),
    [
        ("[[app]]\n" + GOOD_APP.replace('"email"', '"chat"') + "linux = { process_names = ['a'] }",
         r"bad\.toml: app 'a' \(#1\): category: 'chat' is not one of email"),
        ("[[app]]\n" + GOOD_APP + "linux = { process_name = ['a'] }",
         r"app 'a' \(#1\): linux\.process_name: unknown key"),
        ("[[app]]\n" + GOOD_APP + "colour = 'red'\nlinux = { process_names = ['a'] }",
         r"app 'a' \(#1\): colour: unknown key"),
        ("[[app]]\n" + GOOD_APP + "web = { cmdline_patterns = ['--app=(unclosed'] }",
         r"app 'a' \(#1\): web\.cmdline_patterns: '--app=\(unclosed'"),
        ("[[app]]\n" + GOOD_APP + "linux = { process_names = ['a'] }\n[[app]]\n" + GOOD_APP
         + "linux = { process_names = ['b'] }",
         r"app 'a': id: used by more than one app"),
        ("[[app]]\n" + GOOD_APP + "linux = { process_names = ['same'] }\n[[app]]\n"
         + GOOD_APP.replace('"a"', '"b"') + "linux = { process_names = ['SAME'] }",
         r"app 'b' \(#2\): linux\.process_names: 'same' is already claimed by app 'a'"),
        ("[[app]]\n" + GOOD_APP.replace('vendor = "V"\n', "") + "linux = { process_names = ['a'] }",
         r"app 'a' \(#1\): vendor: missing"),
        ("[[app]]\n" + GOOD_APP, r"app 'a' \(#1\): no match rule for any OS"),
    ],
)  # fmt: skip
def test_a_bad_catalog_is_refused_naming_file_app_and_field(apps: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_catalog(apps), "bad.toml")


def test_an_unreadable_catalog_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.toml")
