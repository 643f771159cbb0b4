"""The extension in Debian's Chromium, headless: its host rule in a page, its reports to a
native messaging host that records every message, and its forced install from the packaged
.crx by the managed policy.

Pages are served on 127.0.0.1 and `--host-resolver-rules` sends every hostname there: nothing
leaves the machine. The recording host stands in for `commaudit-browser-host` (which forwards to
the agent; its own tests are the agent's): it logs each message exactly as the browser framed
it, answers hello with the config in its directory, and sends any push-*.json dropped there.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import Browser, chromium_argv, chromium_binary, unpacked_id
from tests.loopback_pages import serve_pages
from tests.packaging.conftest import REPO, build_script

EXTENSION = REPO / "agent" / "browser" / "extension"
HOSTS = [
    ["mail.example.com", "gmail"],
    ["*.example.com", "portal"],
    ["*.video.example", "youtube"],
]
RECORDER = """#!{python}
import json, os, struct, sys, threading, time
HERE = {here!r}
log = open(os.path.join(HERE, "messages.jsonl"), "a", buffering=1)
log.write(json.dumps({{"started": os.getpid(), "argv": sys.argv[1:]}}) + "\\n")
lock = threading.Lock()

def send(message):
    body = json.dumps(message).encode()
    with lock:
        sys.stdout.buffer.write(struct.pack("=I", len(body)) + body)
        sys.stdout.buffer.flush()

def pushes():
    while True:
        for name in sorted(os.listdir(HERE)):
            if name.startswith("push-") and name.endswith(".json"):
                path = os.path.join(HERE, name)
                send(json.load(open(path)))
                os.rename(path, path + ".sent")
        time.sleep(0.05)

threading.Thread(target=pushes, daemon=True).start()
while True:
    header = sys.stdin.buffer.read(4)
    if len(header) < 4:
        break
    body = sys.stdin.buffer.read(struct.unpack("=I", header)[0])
    log.write(body.decode() + "\\n")
    if json.loads(body).get("type") == "hello":
        send(json.load(open(os.path.join(HERE, "config.json"))))
"""


def extension_files(path: str) -> tuple[bytes, str] | None:
    """The extension's own files for the host-rule and report pages; else the ordinary page."""
    if path in ("/host_match.js", "/tab_report.js"):
        return (EXTENSION / path[1:]).read_bytes(), "text/javascript"
    if path == "/match.html":
        return MATCH_PAGE.encode(), "text/html"
    if path == "/report.html":
        return REPORT_PAGE.encode(), "text/html"
    return None


MATCH_HOSTS = [
    ["mail.google.com", "gmail"],
    ["*.google.com", "google"],
    ["*.slack.com", "slack"],
    ["*.app.slack.com", "slack-app"],
    ["teams.microsoft.com", "teams"],
]
MATCH_CASES = {
    "mail.google.com": "gmail",  # an exact pattern beats the wildcard
    "MAIL.Google.COM.": "gmail",  # lowercased, the FQDN's trailing dot dropped
    "docs.google.com": "google",
    "google.com": "google",  # "*.d" is d itself and its subdomains
    "slack.com": "slack",
    "x.app.slack.com": "slack-app",  # the longest wildcard suffix wins
    "app.slack.com": "slack-app",
    "notslack.com": None,  # suffixes match whole labels only
    "teams.microsoft.com": "teams",
    "www.teams.microsoft.com": None,  # an exact pattern is exact
    "microsoft.com": None,
    "google.com.evil.example": None,
    "": None,
}
MATCH_PAGE = f"""<!doctype html><body>pending</body><script type="module">
import {{ hostApp }} from "/host_match.js";
const hosts = {json.dumps(MATCH_HOSTS)};
const cases = {json.dumps(list(MATCH_CASES))};
document.body.textContent = JSON.stringify(cases.map((h) => [h, hostApp(h, hosts)]));
</script>"""


# tab_report.js on tabs.Tab-shaped objects: window 1 is focused, window 2 is not.
REPORT_TABS = [
    {"url": "https://mail.example.com/inbox", "active": True, "windowId": 1},
    {"url": "https://www.video.example/x", "active": True, "windowId": 2, "audible": True},
    {"url": "https://mail.example.com/private", "active": False, "windowId": 1, "incognito": True},
    {"url": "file:///mail.example.com/", "active": False, "windowId": 1},
    {"url": "about:blank", "active": False, "windowId": 1},
    {"url": "not a url", "active": False, "windowId": 1},
    {"url": "https://news.example.org/", "active": False, "windowId": 1},
]
REPORT_PAGE = f"""<!doctype html><body>pending</body><script type="module">
import {{ hostMatcher }} from "/host_match.js";
import {{ catalogTabs, canonical, MAX_TABS }} from "/tab_report.js";
const match = hostMatcher({json.dumps(HOSTS)});
const tabs = {json.dumps(REPORT_TABS)};
const many = Array.from({{ length: 600 }}, () => tabs[0]);
document.body.textContent = JSON.stringify({{
  plain: catalogTabs(tabs, new Set([1]), match, false),
  incognito: catalogTabs(tabs, new Set([1]), match, true).length,
  reordered: canonical(catalogTabs([...tabs].reverse(), new Set([1]), match, false))
    === canonical(catalogTabs(tabs, new Set([1]), match, false)),
  cut: [catalogTabs(many, new Set([1]), match, false).length, MAX_TABS],
}});
</script>"""


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with serve_pages(extension_files) as served:
        yield served.port


class Recorder:
    """The recording host's directory: its script, config, pushes and message log."""

    def __init__(self, here: Path, config: dict[str, Any]) -> None:
        here.mkdir(parents=True, exist_ok=True)
        self.here = here
        self.script = here / "host.py"
        self.script.write_text(RECORDER.format(python=sys.executable, here=str(here)))
        self.script.chmod(0o755)
        (here / "config.json").write_text(json.dumps(config))
        self.pushed = 0

    def lines(self) -> list[dict[str, Any]]:
        path = self.here / "messages.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def raw(self) -> str:
        path = self.here / "messages.jsonl"
        return path.read_text() if path.exists() else ""

    def tabs(self) -> list[list[dict[str, Any]]]:
        return [m["tabs"] for m in self.lines() if m.get("type") == "tabs"]

    def push(self, message: dict[str, Any]) -> None:
        self.pushed += 1
        (self.here / f"push-{self.pushed:03}.json").write_text(json.dumps(message))

    def wait(self, what: str, ready: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; the host got: {self.raw()[-3000:]}")
            time.sleep(0.05)


def test_the_host_rule_in_a_browser_matches_the_hand_written_table(
    server: int, tmp_path: Path
) -> None:
    done = subprocess.run(
        chromium_argv(chromium_binary(), tmp_path / "profile",
                      f"http://127.0.0.1:{server}/match.html", "--dump-dom"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    body = done.stdout.split("<body>", 1)[1].split("</body>", 1)[0]
    assert dict(json.loads(body)) == MATCH_CASES


def test_tab_reports_hold_catalog_tabs_only_without_incognito_and_bounded(
    server: int, tmp_path: Path
) -> None:
    done = subprocess.run(
        chromium_argv(chromium_binary(), tmp_path / "profile",
                      f"http://127.0.0.1:{server}/report.html", "--dump-dom"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    result = json.loads(done.stdout.split("<body>", 1)[1].split("</body>", 1)[0])
    assert result["plain"] == [
        {"app": "gmail", "focused": True, "audible": False, "incognito": False},
        {"app": "youtube", "focused": False, "audible": True, "incognito": False},
    ]
    assert result["incognito"] == 3  # reported only when the organisation's config says so
    assert result["reordered"] is True  # the same set, in any tab order, compares equal
    assert result["cut"] == [500, 500]  # the agent refuses more


def test_the_host_rule_is_the_agents_rule_where_the_catalog_has_it() -> None:
    catalog = pytest.importorskip("agent.catalog")
    host_app = getattr(catalog, "host_app", None)
    if host_app is None:
        pytest.skip("agent.catalog has no host_app yet")
    pairs = [(pattern, app) for pattern, app in MATCH_HOSTS]
    assert {h: host_app(h, pairs) for h in MATCH_CASES} == MATCH_CASES


def test_the_extension_reports_catalog_apps_only_when_they_change_and_reconnects(
    server: int, tmp_path: Path
) -> None:
    extension = tmp_path / "extension"
    shutil.copytree(EXTENSION, extension)
    profile = tmp_path / "profile"
    recorder = Recorder(tmp_path / "host", {"type": "config", "collect": True,
                                            "report_incognito": False, "hosts": HOSTS})  # fmt: skip
    hosts_dir = profile / "NativeMessagingHosts"  # the per-user host directory of this profile
    hosts_dir.mkdir(parents=True)
    origin = f"chrome-extension://{unpacked_id(extension)}/"
    (hosts_dir / "org.commaudit.agent.json").write_text(json.dumps({
        "name": "org.commaudit.agent", "description": "recorder", "path": str(recorder.script),
        "type": "stdio", "allowed_origins": [origin],
    }))  # fmt: skip
    base = f":{server}"
    browser = Browser(
        chromium_argv(chromium_binary(), profile,
                      f"http://mail.example.com{base}/inbox?q=secret-query",
                      f"--load-extension={extension}"),
        profile,
    )  # fmt: skip
    try:
        recorder.wait("the first report", lambda: any(recorder.tabs()))
        hello = next(m for m in recorder.lines() if m.get("type") == "hello")
        assert hello == {"type": "hello", "browser": "chromium", "extension_version": "0.1.0"}
        assert recorder.lines()[0]["argv"] == [origin]  # the browser names the caller
        assert [t["app"] for t in recorder.tabs()[-1]] == ["gmail"]  # exact beats *.example.com

        browser.open(f"http://news.example.org{base}/private-path")
        video = browser.open(f"http://www.video.example{base}/watch?v=secret-video")
        browser.open(f"http://intranet.example.com{base}/")
        recorder.wait(
            "youtube and portal", lambda: _apps(recorder) == ["gmail", "portal", "youtube"]
        )

        browser.close(video)
        recorder.wait("youtube gone", lambda: _apps(recorder) == ["gmail", "portal"])

        reports = recorder.tabs()
        assert all(a != b for a, b in itertools.pairwise(reports)), "a report repeated"
        for report in reports:
            assert sum(t["focused"] for t in report) <= 1
            for tab in report:
                assert set(tab) == {"app", "focused", "audible", "incognito"}
        raw = recorder.raw()
        for secret in ("news", "example", "secret", "inbox", "private", "watch", "title"):
            assert secret not in raw, f"{secret!r} left the browser"

        # The host dies: the extension starts a new one after its first backoff step (<= 1 s)
        # and sends the current set to it.
        first = recorder.lines()[0]["started"]
        os.kill(first, signal.SIGKILL)
        recorder.wait("a second host", lambda: len(_started(recorder)) == 2, timeout=10)
        count = len(recorder.tabs())
        recorder.wait("a report to the new host", lambda: len(recorder.tabs()) > count)
        assert _apps(recorder) == ["gmail", "portal"]

        # collect false: nothing but keepalives, even when the tabs change.
        count = len(recorder.tabs())
        recorder.push({"type": "config", "collect": False, "report_incognito": False,
                       "hosts": HOSTS})  # fmt: skip
        time.sleep(0.5)
        browser.open(f"http://mail.example.com{base}/second")
        time.sleep(1.5)
        assert len(recorder.tabs()) == count
        recorder.push({"type": "config", "collect": True, "report_incognito": False,
                       "hosts": HOSTS})  # fmt: skip
        recorder.wait("the set after collect resumes", lambda: len(recorder.tabs()) > count)
        assert _apps(recorder) == ["gmail", "gmail", "portal"]
    finally:
        browser.stop()


def _apps(recorder: Recorder) -> list[str]:
    reports = recorder.tabs()
    return sorted(t["app"] for t in reports[-1]) if reports else []


def _started(recorder: Recorder) -> list[int]:
    return [m["started"] for m in recorder.lines() if "started" in m]


def test_the_packaged_policy_force_installs_the_signed_crx(server: int, tmp_path: Path) -> None:
    """The Linux files exactly as the agent's package installs them, laid over /etc,
    /usr/share and /opt in a mount namespace of this test only (overlayfs): Chromium, started
    by Debian's launcher, installs the .crx from the policy's file:// update manifest, as a
    policy extension the user cannot disable, and it starts the host named in
    /etc/chromium/native-messaging-hosts."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to lay the package's files over / in a namespace")
    binary = chromium_binary()
    built = build_script.build_extension()
    upper = tmp_path / "upper"
    build_script.write_files(build_script.deployment.linux_files(built), upper)
    recorder = Recorder(tmp_path / "host", {"type": "config", "collect": True,
                                            "report_incognito": False, "hosts": HOSTS})  # fmt: skip
    venv_bin = upper / "opt/commaudit/venv/bin"
    venv_bin.mkdir(parents=True)
    shutil.copy2(recorder.script, venv_bin / "commaudit-browser-host")
    profile = tmp_path / "profile"
    mounts = " && ".join(
        f"mkdir -p {upper}/{d} {tmp_path}/overlay-scratch/{d} && mount -t overlay overlay "
        f"-o lowerdir=/{d},upperdir={upper}/{d},workdir={tmp_path}/overlay-scratch/{d} /{d}"
        for d in ("etc", "usr/share", "opt")
    )
    argv = chromium_argv(binary, profile, f"http://mail.example.com:{server}/")
    script = f"{mounts} && exec {' '.join(_quote(a) for a in argv)}"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"{mounts} && true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"overlay mounts are not possible here: {probe.stderr.decode()[-300:]}")
    browser = Browser(["unshare", "-m", "sh", "-c", script], profile)
    try:
        recorder.wait("the forced extension's report", lambda: any(recorder.tabs()), timeout=25)
        assert recorder.lines()[0]["argv"] == [f"chrome-extension://{built.extension_id}/"]
        assert [t["app"] for t in recorder.tabs()[-1]] == ["gmail"]
        assert browser.workers() == [f"chrome-extension://{built.extension_id}/background.js"]
    finally:
        browser.stop()
    preferences = json.loads((profile / "Default" / "Preferences").read_text())
    settings = preferences["extensions"]["settings"][built.extension_id]
    # extensions/common/mojom/manifest.mojom: EXTERNAL_POLICY_DOWNLOAD = 7. Policy locations are
    # not user-modifiable (standard_management_policy_provider.cc): no disable, no remove.
    assert settings["location"] == 7
    assert not settings.get("disable_reasons")


def _quote(argument: str) -> str:
    return "'" + argument.replace("'", "'\\''") + "'"
