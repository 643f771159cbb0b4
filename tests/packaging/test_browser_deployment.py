"""The files that deploy the browser extension: host manifests, external-extension files,
managed policies and the update manifest on Linux, the Windows and macOS templates, and the
agent's .deb that ships the Linux ones. Every expected path and value is written out here."""

from __future__ import annotations

import json
import plistlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

from tests.packaging.conftest import REPO, build_script

deployment = build_script.deployment
HOST = "/opt/commaudit/venv/bin/commaudit-browser-host"
SHARE = "/usr/share/commaudit-agent/browser"
GECKO_ID = "browser-extension@commaudit.org"
VERSION = json.loads((REPO / "agent/browser/extension/manifest.json").read_text())["version"]


@pytest.fixture(scope="module")
def built() -> Any:
    """A build with a throwaway key, as `make packages` makes without the organisation's."""
    return build_script.build_extension()


@pytest.fixture(scope="module")
def files(built: Any) -> dict[str, bytes]:
    return dict(deployment.linux_files(built))


def test_linux_files_are_exactly_these(built: Any, files: dict[str, bytes]) -> None:
    extension_id = built.extension_id
    assert sorted(files) == sorted(
        [
            f"{SHARE}/commaudit.crx",
            f"{SHARE}/commaudit.xpi",
            f"{SHARE}/updates.xml",
            "/etc/chromium/native-messaging-hosts/org.commaudit.agent.json",
            "/etc/opt/chrome/native-messaging-hosts/org.commaudit.agent.json",
            "/etc/opt/edge/native-messaging-hosts/org.commaudit.agent.json",
            "/usr/lib/mozilla/native-messaging-hosts/org.commaudit.agent.json",
            f"/usr/share/chromium/extensions/{extension_id}.json",
            f"/usr/share/google-chrome/extensions/{extension_id}.json",
            "/etc/chromium/policies/managed/commaudit.json",
            "/etc/opt/chrome/policies/managed/commaudit.json",
        ]
    )
    assert files[f"{SHARE}/commaudit.crx"] == built.crx


@pytest.mark.parametrize(
    "directory",
    [
        "/etc/chromium/native-messaging-hosts",
        "/etc/opt/chrome/native-messaging-hosts",
        "/etc/opt/edge/native-messaging-hosts",
    ],
)
def test_chromium_host_manifests_let_only_the_built_extension_start_the_host(
    built: Any, files: dict[str, bytes], directory: str
) -> None:
    manifest = json.loads(files[f"{directory}/org.commaudit.agent.json"])
    assert manifest == {
        "name": "org.commaudit.agent",
        "description": manifest["description"],
        "path": HOST,
        "type": "stdio",
        "allowed_origins": [f"chrome-extension://{built.extension_id}/"],
    }
    # Chromium's rule for host names (native_messaging_host_manifest.cc): dotted lowercase words.
    assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", manifest["name"])


def test_firefox_host_manifest_names_the_add_on_id_not_origins(files: dict[str, bytes]) -> None:
    manifest = json.loads(files["/usr/lib/mozilla/native-messaging-hosts/org.commaudit.agent.json"])
    assert manifest["path"] == HOST and manifest["type"] == "stdio"
    assert manifest["allowed_extensions"] == [GECKO_ID]
    assert "allowed_origins" not in manifest  # Firefox refuses a manifest that has it


@pytest.mark.parametrize("browser", ["chromium", "google-chrome"])
def test_external_extension_file_points_at_the_shipped_crx(
    built: Any, files: dict[str, bytes], browser: str
) -> None:
    external = json.loads(files[f"/usr/share/{browser}/extensions/{built.extension_id}.json"])
    assert external == {"external_crx": f"{SHARE}/commaudit.crx", "external_version": VERSION}


@pytest.mark.parametrize("directory", ["/etc/chromium", "/etc/opt/chrome"])
def test_managed_policy_forces_the_install_from_the_local_update_manifest(
    built: Any, files: dict[str, bytes], directory: str
) -> None:
    policy = json.loads(files[f"{directory}/policies/managed/commaudit.json"])
    assert policy == {
        "ExtensionInstallForcelist": [f"{built.extension_id};file://{SHARE}/updates.xml"]
    }


def test_update_manifest_names_the_id_version_and_local_crx(
    built: Any, files: dict[str, bytes]
) -> None:
    root = ElementTree.fromstring(files[f"{SHARE}/updates.xml"])
    namespace = "{http://www.google.com/update2/response}"
    assert root.tag == f"{namespace}gupdate" and root.get("protocol") == "2.0"
    (app,) = root.findall(f"{namespace}app")
    assert app.get("appid") == built.extension_id
    (check,) = app.findall(f"{namespace}updatecheck")
    assert check.get("codebase") == f"file://{SHARE}/commaudit.crx"
    assert check.get("version") == VERSION


def test_windows_registry_template_registers_hosts_and_forces_the_install(built: Any) -> None:
    others = deployment.other_platform_files(built, "https://intranet.example/ext/")
    raw = others["windows/commaudit-browser.reg"]
    assert raw[:2] == b"\xff\xfe"  # regedit's format: UTF-16LE with a byte-order mark
    text = raw.decode("utf-16")
    assert text.startswith("Windows Registry Editor Version 5.00\r\n")
    for key in (
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Google\Chrome\NativeMessagingHosts\org.commaudit.agent]",
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Edge\NativeMessagingHosts\org.commaudit.agent]",
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Mozilla\NativeMessagingHosts\org.commaudit.agent]",
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Google\Chrome\ExtensionInstallForcelist]",
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Edge\ExtensionInstallForcelist]",
    ):
        assert key in text
    assert text.count(f'"1"="{built.extension_id};https://intranet.example/ext/updates.xml"') == 2
    host = json.loads(others["windows/org.commaudit.agent.chromium.json"])
    assert host["path"].endswith(r"\Scripts\commaudit-browser-host.exe")


def test_macos_profile_forces_the_install_in_chrome_and_edge(built: Any) -> None:
    others = deployment.other_platform_files(built, "https://intranet.example/ext/")
    profile = plistlib.loads(others["macos/commaudit-browser.mobileconfig"])
    assert profile["PayloadType"] == "Configuration"
    payloads = {p["PayloadType"]: p for p in profile["PayloadContent"]}
    assert sorted(payloads) == ["com.google.Chrome", "com.microsoft.Edge"]
    for payload in payloads.values():
        assert payload["ExtensionInstallForcelist"] == [
            f"{built.extension_id};https://intranet.example/ext/updates.xml"
        ]
    updates = ElementTree.fromstring(others["updates.xml"])
    codebases = [e.get("codebase") for e in updates.iter() if e.get("codebase")]
    assert codebases == ["https://intranet.example/ext/commaudit.crx"]
    assert others["extension-id.txt"] == f"{built.extension_id}\n".encode()


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is missing")
def test_agent_deb_ships_the_browser_files_of_its_own_extension(
    debs: dict[str, Path], tmp_path: Path
) -> None:
    """The package and the <out>/browser/ directory come from one build: one extension ID."""
    deb = debs["commaudit-agent"]
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    extension_id = (deb.parent / "browser" / "extension-id.txt").read_text().strip()
    policy = json.loads((root / "etc/chromium/policies/managed/commaudit.json").read_text())
    assert policy["ExtensionInstallForcelist"][0].startswith(f"{extension_id};")
    crx = (root / SHARE.lstrip("/") / "commaudit.crx").read_bytes()
    assert crx == (deb.parent / "browser" / "commaudit.crx").read_bytes()
    parsed = build_script.crx3.parse(crx)
    assert build_script.crx3.extension_id(parsed.public_key) == extension_id
    for name in ("chromium", "google-chrome"):
        assert (root / f"usr/share/{name}/extensions/{extension_id}.json").is_file()
    for path in (
        "etc/chromium/native-messaging-hosts/org.commaudit.agent.json",
        "etc/opt/chrome/native-messaging-hosts/org.commaudit.agent.json",
        "etc/opt/edge/native-messaging-hosts/org.commaudit.agent.json",
        "usr/lib/mozilla/native-messaging-hosts/org.commaudit.agent.json",
    ):
        assert json.loads((root / path).read_text())["path"] == HOST
        assert oct((root / path).stat().st_mode & 0o777) == "0o644"
    collector = tmp_path / "collector"
    subprocess.run(["dpkg-deb", "-x", str(debs["commaudit-collector"]), str(collector)], check=True)
    assert not (collector / "etc/chromium").exists()  # only the agent's package has them
