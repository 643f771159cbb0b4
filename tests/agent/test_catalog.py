"""The catalog: real apps in all six policy categories, rules that compile and never overlap."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from agent.catalog import CATEGORIES, OSES, USES, CatalogError, load_catalog, parse_catalog
from agent.scan import read_process

RAW = tomllib.loads(resources.files("agent").joinpath("catalog.toml").read_text(encoding="utf-8"))
APPS: list[dict[str, Any]] = RAW["app"]
TABLES = (*OSES, "web")


def test_the_packaged_catalog_loads_with_a_version_and_150_apps() -> None:
    catalog = load_catalog()
    assert catalog.version == RAW["version"] == "2026.11.3"
    assert len(catalog.apps) == len(APPS) >= 150


def test_every_category_has_apps_on_every_os_and_on_the_web() -> None:
    for category in CATEGORIES:
        apps = [app for app in APPS if app["category"] == category]
        missing = [table for table in TABLES if not any(table in app for app in apps)]
        assert len(apps) >= 5 and not missing, (category, len(apps), missing)


def test_every_os_has_many_desktop_clients_by_process_name() -> None:
    for os_name in OSES:
        named = [app for app in APPS if app.get(os_name, {}).get("process_names")]
        assert len(named) >= 60, (os_name, len(named))


def test_every_app_has_a_vendor_a_name_and_a_valid_use() -> None:
    for app in APPS:
        assert app["vendor"].strip() and app["name"].strip(), app["id"]
        assert app["use"] in USES and app["category"] in CATEGORIES, app["id"]
    assert {app["use"] for app in APPS} == set(USES)


def test_every_rule_compiles_and_every_pattern_targets_an_app_window() -> None:
    for app in APPS:
        for table in (app.get(key, {}) for key in TABLES):
            for glob in table.get("exe_paths", []):
                re.compile(fnmatch.translate(glob))
            for pattern in table.get("cmdline_patterns", []):
                re.compile(pattern)
                assert pattern.startswith(("--app=", "--app-id=")), (app["id"], pattern)
                if pattern.startswith("--app-id="):
                    assert re.fullmatch(r"--app-id=[a-p]{32}", pattern), (app["id"], pattern)


def _signatures(app: dict[str, Any], os_name: str) -> set[tuple[str, str]]:
    """What an app claims on one OS: its table plus its web patterns, as the matcher compares."""
    claimed: set[tuple[str, str]] = set()
    for table in (app.get(os_name, {}), app.get("web", {})):
        for kind, values in table.items():
            for value in values:
                claimed.add((kind, value if kind == "cmdline_patterns" else value.lower()))
                if kind == "process_names" and os_name == "linux" and len(value) >= 15:
                    claimed.add(("comm", value.lower()[:15]))
    return claimed


def test_no_two_apps_claim_the_same_signature() -> None:
    for os_name in OSES:
        owners = Counter(sig for app in APPS for sig in _signatures(app, os_name))
        assert [sig for sig, n in owners.items() if n > 1] == [], os_name


def test_no_app_claims_a_browser_process() -> None:
    for os_name in OSES:
        browsers = {name.lower() for name in RAW["browsers"][os_name]}
        for app in APPS:
            names = {name.lower() for name in app.get(os_name, {}).get("process_names", [])}
            assert not names & browsers, (os_name, app["id"])


@pytest.mark.parametrize(
    ("os_name", "name", "exe", "expected"),
    [
        ("windows", "Slack.exe", r"C:\Users\ann\AppData\Local\slack\app-4.41\slack.exe", "slack"),
        ("windows", "OUTLOOK.EXE", "", "outlook"),
        ("windows", "olk.exe", "", "outlook"),
        ("windows", "HxOutlook.exe", "", "windows-mail"),
        ("windows", "MailClient.exe", "", "em-client"),
        ("windows", "grpwise.exe", "", "groupwise"),
        ("windows", "ms-teams.exe", "", "teams"),
        ("windows", "Teams.exe", "", "teams"),
        ("windows", "lync.exe", "", "skype-for-business"),
        ("windows", "Telegram.exe", "", "telegram"),
        ("windows", "WhatsApp.Root.exe", "", "whatsapp"),
        ("windows", "Weixin.exe", "", "wechat"),
        ("windows", "KakaoTalk.exe", "", "kakaotalk"),
        ("windows", "PhoneExperienceHost.exe", "", "phone-link"),
        ("windows", "Zoom.exe", "", "zoom"),
        ("windows", "CiscoCollabHost.exe", "", "webex"),
        ("windows", "ts3client_win64.exe", "", "teamspeak"),
        ("windows", "FreeTube.exe", "", "freetube"),
        ("macos", "Mail", "", "apple-mail"),
        ("macos", "thunderbird", "", "thunderbird"),
        ("macos", "zoom.us", "", "zoom"),
        ("macos", "MSTeams", "", "teams"),
        ("macos", "Webex", "", "webex"),
        ("macos", "Messages", "", "apple-messages"),
        ("macos", "Spark Desktop", "", "spark"),
        ("macos", "Ivory", "", "ivory"),
        ("macos", "FaceTime", "", "facetime"),
        # Linux: the binaries distributions' packages install.
        ("linux", "thunderbird", "/usr/lib/thunderbird/thunderbird", "thunderbird"),
        ("linux", "evolution", "/usr/bin/evolution", "evolution"),
        ("linux", "geary", "", "geary"),
        ("linux", "kmail", "", "kmail"),
        ("linux", "claws-mail", "", "claws-mail"),
        ("linux", "neomutt", "", "neomutt"),
        ("linux", "aerc", "", "aerc"),
        ("linux", "signal-desktop", "", "signal"),
        ("linux", "telegram-desktop", "", "telegram"),
        ("linux", "element-desktop", "", "element"),
        ("linux", "dino-im", "/usr/bin/dino-im", "dino"),  # Debian's name for Dino
        ("linux", "quasselclient", "", "quassel"),
        ("linux", "psi-plus", "", "psi-plus"),
        ("linux", "konversation", "", "konversation"),
        ("linux", "weechat", "", "weechat"),
        ("linux", "nheko", "", "nheko"),
        ("linux", "chatty", "", "chatty"),
        ("linux", "kdeconnect-sms", "", "kde-connect-sms"),
        ("linux", "dev.geopjr.Tuba", "", "tuba"),
        ("linux", "tokodon", "", "tokodon"),
        ("linux", "linphone", "", "linphone"),
        ("linux", "jami", "", "jami"),
        ("linux", "gnome-calls", "", "gnome-calls"),
        ("linux", "mumble", "", "mumble"),
        ("linux", "minitube", "", "minitube"),
        ("linux", "smtube", "", "smtube"),
        ("linux", "ZoomLauncher", "/opt/zoom/ZoomLauncher", "zoom"),  # by exe glob
    ],
)  # fmt: skip
def test_real_process_names_match_their_app(
    os_name: str, name: str, exe: str, expected: str
) -> None:
    app = load_catalog().matcher_for(os_name).match(name, exe, [name])
    assert app is not None and app.id == expected


@pytest.mark.parametrize(
    ("os_name", "browser", "flag", "expected"),
    [
        ("linux", "chrome", "--app=https://mail.google.com/mail/u/0", "gmail"),
        ("linux", "chrome", "--app=https://mail.google.com/chat/u/0", "google-chat"),
        ("linux", "chromium", "--app=https://outlook.cloud.microsoft/mail/", "outlook"),
        ("linux", "brave", "--app=https://web.whatsapp.com/", "whatsapp"),
        ("linux", "msedge", "--app=https://teams.cloud.microsoft/", "teams"),
        ("windows", "msedge.exe", "--app-id=agimnkijcaahngcdmfeangaknmldooml", "youtube"),
        ("windows", "chrome.exe", "--app-id=hpfldicfbfomlpcikngkocigghgafkph", "google-messages"),
        ("windows", "chrome.exe", "--app-id=pommaclcbfghclhalboakcipcmmndhcj", "google-chat"),
        ("windows", "chrome.exe", "--app=https://www.linkedin.com/feed/", "linkedin"),
        ("macos", "Google Chrome", "--app=https://meet.google.com/abc-defg-hij", "google-meet"),
        ("macos", "Microsoft Edge", "--app=https://web.yammer.com/main/", "viva-engage"),
        ("macos", "Brave Browser", "--app=https://bsky.app/", "bluesky"),
        ("linux", "chrome", "--app=https://cloud.example.org/call/x7kq2m9a", "nextcloud-talk"),
        ("linux", "chrome", "--app=https://bbb.example.edu/html5client/join?x=1", "bigbluebutton"),
        ("linux", "chrome", "--app=https://city.zoom.us/wc/join/123", "zoom"),
        ("linux", "chrome", "--app=https://www.tiktok.com/foryou", "tiktok"),
        ("linux", "chrome", "--app=https://rumble.com/", "rumble"),
    ],
)  # fmt: skip
def test_browser_app_windows_match_their_service(
    os_name: str, browser: str, flag: str, expected: str
) -> None:
    cmdline = [browser, "--profile-directory=Default", flag]
    app = load_catalog().matcher_for(os_name).match(browser, "", cmdline)
    assert app is not None and app.id == expected


@pytest.mark.parametrize(
    "flag",
    [
        "--app=https://mail.google.com/mail/u/0",
        "--app=https://mail.google.com/chat/u/0",
        "--app=https://outlook.office.com/mail/",
        "--app=https://outlook.live.com/mail/",
        "--app=https://cloud.example.org/index.php/call/x7kq2m9a",
        "--app=https://app.slack.com/client/T0/C0",
        "--app=https://city.webex.com/meet/ann",
        "--app=https://www.youtube.com/watch?v=x",
        "--app=https://music.youtube.com/",
    ],
)
def test_an_app_window_url_is_claimed_by_at_most_one_app_whatever_the_order(flag: str) -> None:
    owners = [
        app["id"]
        for app in APPS
        for table in (app.get(key, {}) for key in TABLES)
        if any(re.search(p, flag) for p in table.get("cmdline_patterns", []))
    ]
    assert len(set(owners)) <= 1, owners


def test_a_plain_browser_window_is_no_app() -> None:
    matcher = load_catalog().matcher_for("linux")
    assert matcher.match("chrome", "/opt/google/chrome/chrome", ["chrome"]) is None
    assert (
        matcher.match("chrome", "/opt/google/chrome/chrome", ["chrome", "--type=renderer"]) is None
    )
    assert matcher.match("firefox", "/usr/lib/firefox/firefox", ["firefox", "youtube.com"]) is None
    assert matcher.match("chrome", "", ["chrome", "--app=https://example.org/"]) is None
    assert (
        matcher.match("chrome", "", ["chrome", "--app-id=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]) is None
    )
    assert matcher.match("sleep", "/usr/bin/sleep", ["sleep", "--app=https://youtube.com"]) is None
    windows = load_catalog().matcher_for("windows")
    assert windows.match("msedge.exe", "", ["msedge.exe", "https://www.youtube.com/"]) is None


@pytest.mark.parametrize(
    ("os_name", "comm", "expected"),
    [
        ("linux", "telegram-deskto", "telegram"),  # telegram-desktop
        ("linux", "ts3client_linux", "teamspeak"),  # ts3client_linux_amd64
        ("linux", "signal-desktop-", "signal"),  # signal-desktop-beta
        ("linux", "mattermost-desk", "mattermost"),  # mattermost-desktop
        ("linux", "dev.geopjr.Tuba", "tuba"),  # exactly 15: its own comm
        ("linux", "telegram-deskt", None),  # 14 characters: not a truncated name
        ("windows", "telegram-deskto", None),  # only Linux truncates
    ],
)
def test_a_linux_name_cut_to_15_characters_by_the_kernel_still_matches(
    os_name: str, comm: str, expected: str | None
) -> None:
    app = load_catalog().matcher_for(os_name).match(comm, "", [])
    assert (app.id if app else None) == expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's comm is Linux's")
def test_a_real_process_whose_name_the_kernel_truncated_is_recognised(tmp_path: Path) -> None:
    """argv[0] differs from the binary, so psutil cannot restore the name from the command line."""
    sleep = shutil.which("sleep")
    assert sleep
    binary = tmp_path / "ts3client_linux_amd64"
    shutil.copy(sleep, binary)
    process = subprocess.Popen(["sleeper", "300"], executable=binary)
    try:
        deadline = time.monotonic() + 5
        while (info := read_process(process.pid)) is None or info.name != "ts3client_linux":
            assert time.monotonic() < deadline, info
            time.sleep(0.01)
        app = load_catalog().matcher_for("linux").match(info.name, "", info.cmdline)
        assert app is not None and app.id == "teamspeak"
    finally:
        process.kill()
        process.wait()


GOOD_APP = 'id = "a"\nname = "A"\nvendor = "V"\ncategory = "email"\nuse = "business"\n'
APP_B = GOOD_APP.replace('"a"', '"b"')
LINUX_A = "linux = { process_names = ['a'] }\n"


def _catalog(apps: str) -> str:
    return f'schema = 1\nversion = "t"\n[browsers]\nlinux = ["chrome"]\n{apps}'


@pytest.mark.parametrize(
    ("apps", "message"),
    [
        # bad values
        ("[[app]]\n" + GOOD_APP.replace('"email"', '"chat"') + LINUX_A,
         r"^bad\.toml: app 'a' \(#1\): category: 'chat' is not one of email"),
        ("[[app]]\n" + GOOD_APP.replace('"business"', '"work"') + LINUX_A,
         r"^bad\.toml: app 'a' \(#1\): use: 'work' is not one of business, personal, mixed"),
        ("[[app]]\n" + GOOD_APP.replace('"a"', '"A b"') + LINUX_A,
         r"^bad\.toml: app 'A b' \(#1\): id: 'A b' is not a lowercase slug"),
        # unknown keys, and an OS that is not one
        ("[[app]]\n" + GOOD_APP + "colour = 'red'\n" + LINUX_A,
         r"^bad\.toml: app 'a' \(#1\): colour: unknown key"),
        ("[[app]]\n" + GOOD_APP + "freebsd = { process_names = ['a'] }",
         r"^bad\.toml: app 'a' \(#1\): freebsd: unknown key \(.*windows, macos, linux, web\)"),
        ("[[app]]\n" + GOOD_APP + "linux = { process_name = ['a'] }",
         r"^bad\.toml: app 'a' \(#1\): linux\.process_name: unknown key"),
        ("[[app]]\n" + GOOD_APP + "web = { process_names = ['a'] }",
         r"^bad\.toml: app 'a' \(#1\): web\.process_names: unknown key"),
        # wrong types
        ("[[app]]\n" + GOOD_APP.replace('name = "A"', "name = 3") + LINUX_A,
         r"^bad\.toml: app 'a' \(#1\): name: missing or not a non-empty string"),
        ("[[app]]\n" + GOOD_APP + "linux = { process_names = 'a' }",
         r"^bad\.toml: app 'a' \(#1\): linux\.process_names: must be a list of non-empty strings"),
        ("[[app]]\n" + GOOD_APP + "linux = { exe_paths = ['/opt/a/*', 7] }",
         r"^bad\.toml: app 'a' \(#1\): linux\.exe_paths: must be a list of non-empty strings"),
        ("[[app]]\n" + GOOD_APP + "linux = 'a'",
         r"^bad\.toml: app 'a' \(#1\): linux: not a table"),
        # missing fields, named by the app's index when its id is the missing one
        ("[[app]]\n" + GOOD_APP.replace('vendor = "V"\n', "") + LINUX_A,
         r"^bad\.toml: app 'a' \(#1\): vendor: missing"),
        ("[[app]]\n" + GOOD_APP + LINUX_A + "[[app]]\n" + GOOD_APP.replace('id = "a"\n', ""),
         r"^bad\.toml: app #2: id: missing"),
        # regexes that do not compile
        ("[[app]]\n" + GOOD_APP + "web = { cmdline_patterns = ['--app=(unclosed'] }",
         r"^bad\.toml: app 'a' \(#1\): web\.cmdline_patterns: '--app=\(unclosed'"),
        ("[[app]]\n" + GOOD_APP + "macos = { cmdline_patterns = ['--app=[a-'] }",
         r"^bad\.toml: app 'a' \(#1\): macos\.cmdline_patterns: '--app=\[a-'"),
        # empty rules
        ("[[app]]\n" + GOOD_APP, r"^bad\.toml: app 'a' \(#1\): no match rule for any OS"),
        ("[[app]]\n" + GOOD_APP + "linux = {}",
         r"^bad\.toml: app 'a' \(#1\): linux: empty rule"),
        ("[[app]]\n" + GOOD_APP + LINUX_A + "web = { cmdline_patterns = [] }",
         r"^bad\.toml: app 'a' \(#1\): web: empty rule"),
        ("[[app]]\n" + GOOD_APP + "linux = { process_names = [''] }",
         r"^bad\.toml: app 'a' \(#1\): linux\.process_names: must be a list of non-empty"),
        # duplicate ids
        ("[[app]]\n" + GOOD_APP + LINUX_A + "[[app]]\n" + GOOD_APP
         + "linux = { process_names = ['b'] }",
         r"^bad\.toml: app 'a' \(#2\): id: already used by app #1"),
        # two apps, one signature
        ("[[app]]\n" + GOOD_APP + "linux = { process_names = ['same'] }\n[[app]]\n" + APP_B
         + "linux = { process_names = ['SAME'] }",
         r"^bad\.toml: app 'b' \(#2\): linux\.process_names: 'SAME' is already claimed by app 'a'"),
        ("[[app]]\n" + GOOD_APP + "linux = { exe_paths = ['/opt/A/*'] }\n[[app]]\n" + APP_B
         + "linux = { exe_paths = ['/opt/a/*'] }",
         r"^bad\.toml: app 'b' \(#2\): linux\.exe_paths: '/opt/a/\*' is already claimed by app"),
        ("[[app]]\n" + GOOD_APP + "web = { cmdline_patterns = ['--app=x'] }\n[[app]]\n" + APP_B
         + "web = { cmdline_patterns = ['--app=x'] }",
         r"^bad\.toml: app 'b' \(#2\): web\.cmdline_patterns: '--app=x' is already claimed by"),
        ("[[app]]\n" + GOOD_APP + "web = { cmdline_patterns = ['--app=x'] }\n[[app]]\n" + APP_B
         + "windows = { cmdline_patterns = ['--app=x'] }",
         r"^bad\.toml: app 'b' \(#2\): windows\.cmdline_patterns: '--app=x' is already claimed"),
        ("[[app]]\n" + GOOD_APP + "linux = { process_names = ['abcdefghijklmnop'] }\n[[app]]\n"
         + APP_B + "linux = { process_names = ['abcdefghijklmnoq'] }",
         r"^bad\.toml: app 'b' \(#2\): linux\.process_names: 'abcdefghijklmnoq' \(comm "
         r"'abcdefghijklmno'\) is already claimed by app 'a'"),
        ("[[app]]\n" + GOOD_APP + "linux = { process_names = ['Chrome'] }",
         r"^bad\.toml: app 'a' \(#1\): linux\.process_names: 'Chrome' is a browser"),
    ],
)  # fmt: skip
def test_a_bad_catalog_is_refused_naming_file_app_and_field(apps: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_catalog(apps), "bad.toml")


def test_the_same_name_on_two_oses_or_twice_in_one_app_is_no_conflict() -> None:
    catalog = parse_catalog(
        _catalog(
            "[[app]]\n" + GOOD_APP + "linux = { process_names = ['same', 'Same'] }\n[[app]]\n"
            + APP_B + "macos = { process_names = ['same'] }"
        ),
        "good.toml",
    )  # fmt: skip
    assert [app.id for app in catalog.apps] == ["a", "b"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('schema = 2\nversion = "t"', r"^bad\.toml: schema: 2 is not 1"),
        ('schema = 1\nversion = "t"\nextra = 1', r"^bad\.toml: top level: unknown key 'extra'"),
        ('schema = 1\nversion = "t"\napp = 3', r"^bad\.toml: app: no \[\[app\]\] tables"),
        ("schema = 1\nversion = 3\n[[app]]", r"^bad\.toml: version: missing or not a string"),
        ('schema = 1\nversion = "t"\n[browsers]\nbeos = ["x"]', r"^bad\.toml: browsers: must be"),
        ('schema = 1\nversion = "t"\n[[app]\n', r"^bad\.toml: not valid TOML"),
    ],
)
def test_a_bad_catalog_document_is_refused_naming_file_and_field(
    document: str, message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(document, "bad.toml")


def test_a_catalog_file_is_named_in_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(_catalog("[[app]]\n" + GOOD_APP + "linux = { process_names = 'a' }"))
    with pytest.raises(CatalogError) as refused:
        load_catalog(path)
    assert str(refused.value).startswith(f"{path}: app 'a' (#1): linux.process_names: ")


def test_an_unreadable_catalog_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"missing\.toml: cannot read"):
        load_catalog(tmp_path / "missing.toml")
