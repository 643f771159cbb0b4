"""The files that install the browser extension and its native messaging host on a device.

Everything here is generated from the built extension's ID, so that the ID is written in one
place (the signing key) and never by hand: the host manifests that let the extension start
`commaudit-browser-host`, the Linux external-extension files and managed policies that install
it in Chromium and Google Chrome and keep it from being disabled, and the Windows and macOS
policy templates described in packaging/README.md.

Chromium's Linux locations (chrome/common/chrome_paths.cc, native messaging and policy docs):
system-wide native messaging hosts in /etc/chromium/native-messaging-hosts/ (Chrome:
/etc/opt/chrome/..., Edge: /etc/opt/edge/...), managed policies in .../policies/managed/*.json,
external extensions in /usr/share/chromium/extensions/<id>.json (Chrome:
/usr/share/google-chrome/extensions/). Firefox reads /usr/lib/mozilla/native-messaging-hosts/.
"""

from __future__ import annotations

import json
import plistlib
import uuid
from dataclasses import dataclass

HOST_NAME = "org.commaudit.agent"
HOST_DESCRIPTION = "commaudit agent: the catalog web services open in this browser"
HOST_PATH = "/opt/commaudit/venv/bin/commaudit-browser-host"
"""The console script in the venv that the package's postinst makes."""
SHARE = "/usr/share/commaudit-agent/browser"
CRX_PATH = f"{SHARE}/commaudit.crx"
XPI_PATH = f"{SHARE}/commaudit.xpi"
UPDATES_PATH = f"{SHARE}/updates.xml"
POLICY_NAME = "commaudit.json"

CHROMIUM_HOSTS = {
    "chromium": "/etc/chromium/native-messaging-hosts",
    "chrome": "/etc/opt/chrome/native-messaging-hosts",
    "edge": "/etc/opt/edge/native-messaging-hosts",
}
FIREFOX_HOSTS = "/usr/lib/mozilla/native-messaging-hosts"
FIREFOX_POLICIES = "/etc/firefox/policies/policies.json"
"""The one policy file of Firefox on Linux (Debian's firefox-esr reads this path too)."""
EXTERNAL_DIRS = {
    "chromium": "/usr/share/chromium/extensions",
    "chrome": "/usr/share/google-chrome/extensions",
}
POLICY_DIRS = {
    "chromium": "/etc/chromium/policies/managed",
    "chrome": "/etc/opt/chrome/policies/managed",
}
WINDOWS_HOST = r"C:\Program Files\commaudit\venv\Scripts\commaudit-browser-host.exe"
MACOS_HOST = "/opt/commaudit/venv/bin/commaudit-browser-host"
EXAMPLE_BASE_URL = "https://intranet.city.example/commaudit/browser/"
"""Where Windows and macOS devices fetch the extension unless the build is told otherwise."""


@dataclass(frozen=True)
class BuiltExtension:
    """The extension as built: what every generated file names."""

    extension_id: str
    """Chromium's ID, from the signing key."""
    version: str
    gecko_id: str
    """Firefox's ID, from the manifest's browser_specific_settings."""
    crx: bytes
    xpi: bytes
    """The same ZIP archive the .crx holds: what Firefox installs (once Mozilla signs it)."""


def linux_files(built: BuiltExtension) -> dict[str, bytes]:
    """Every browser file the agent package installs, by absolute path."""
    files = {
        CRX_PATH: built.crx,
        XPI_PATH: built.xpi,
        UPDATES_PATH: update_manifest(built, f"file://{CRX_PATH}").encode(),
        f"{FIREFOX_HOSTS}/{HOST_NAME}.json": _json(firefox_host_manifest(built, HOST_PATH)),
    }
    for directory in CHROMIUM_HOSTS.values():
        files[f"{directory}/{HOST_NAME}.json"] = _json(chromium_host_manifest(built, HOST_PATH))
    for directory in EXTERNAL_DIRS.values():
        files[f"{directory}/{built.extension_id}.json"] = _json(external_extension(built))
    for directory in POLICY_DIRS.values():
        files[f"{directory}/{POLICY_NAME}"] = _json(managed_policy(built, f"file://{UPDATES_PATH}"))
    return files


def chromium_host_manifest(built: BuiltExtension, path: str) -> dict[str, object]:
    """Chromium, Chrome and Edge start the host only for the origins listed here."""
    return {
        "name": HOST_NAME,
        "description": HOST_DESCRIPTION,
        "path": path,
        "type": "stdio",
        "allowed_origins": [f"chrome-extension://{built.extension_id}/"],
    }


def firefox_host_manifest(built: BuiltExtension, path: str) -> dict[str, object]:
    """Firefox names extensions by their add-on ID instead, under another key (it refuses a
    manifest with `allowed_origins`: bugzilla 1361459)."""
    return {
        "name": HOST_NAME,
        "description": HOST_DESCRIPTION,
        "path": path,
        "type": "stdio",
        "allowed_extensions": [built.gecko_id],
    }


def firefox_policy(built: BuiltExtension, install_url: str, *, unsigned: bool) -> dict[str, object]:
    """Firefox's enterprise policy that installs the add-on and keeps the user from removing
    or disabling it (ExtensionSettings `force_installed`). Not installed by the package:
    Firefox has one policies.json, which the organisation owns and merges this into.

    `unsigned`: the .xpi as built, not signed by Mozilla. Firefox ESR (and Debian's
    firefox-esr) then installs it only with `xpinstall.signatures.required` false, which the
    policy may set and lock there (Policies.sys.mjs allows it where signing is not compiled in,
    as on ESR; release Firefox refuses); that turns signature checks off for every add-on."""
    policies: dict[str, object] = {
        "ExtensionSettings": {
            built.gecko_id: {"installation_mode": "force_installed", "install_url": install_url}
        }
    }
    if unsigned:
        policies["Preferences"] = {
            "xpinstall.signatures.required": {"Value": False, "Status": "locked"}
        }
    return {"policies": policies}


def external_extension(built: BuiltExtension) -> dict[str, str]:
    """Chromium's "external extension" preference file: install this .crx at this version.
    The managed policy is what makes the install mandatory; this file alone installs the
    extension too, but the user may disable or remove it."""
    return {"external_crx": CRX_PATH, "external_version": built.version}


def managed_policy(built: BuiltExtension, update_url: str) -> dict[str, object]:
    """ExtensionInstallForcelist: installed without asking, and the user can neither disable
    nor remove it (a policy-installed extension is not user-modifiable). The entry is
    "<id>;<update manifest URL>"; on Linux the update manifest and the .crx it names may be
    file:// URLs, so a device needs no update server (verified with Debian's Chromium)."""
    return {"ExtensionInstallForcelist": [f"{built.extension_id};{update_url}"]}


def update_manifest(built: BuiltExtension, codebase: str) -> str:
    """The gupdate XML that the force-install policy's update URL points at."""
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        "<gupdate xmlns='http://www.google.com/update2/response' protocol='2.0'>\n"
        f"  <app appid='{built.extension_id}'>\n"
        f"    <updatecheck codebase='{codebase}' version='{built.version}' />\n"
        "  </app>\n"
        "</gupdate>\n"
    )


def windows_registry(built: BuiltExtension, update_url: str) -> str:
    """A .reg file for Windows (untested: see packaging/README.md): the native messaging host
    for Chrome, Edge and Firefox, and the force-install policy for Chrome and Edge. The host
    manifests it names are the JSON files written beside it."""
    manifest_dir = r"C:\Program Files\commaudit\browser"
    lines = ["Windows Registry Editor Version 5.00", ""]
    hosts = {
        r"SOFTWARE\Google\Chrome\NativeMessagingHosts": "chromium",
        r"SOFTWARE\Microsoft\Edge\NativeMessagingHosts": "chromium",
        r"SOFTWARE\Mozilla\NativeMessagingHosts": "firefox",
    }
    for key, flavour in hosts.items():
        manifest = _reg_string(rf"{manifest_dir}\{HOST_NAME}.{flavour}.json")
        lines += [rf"[HKEY_LOCAL_MACHINE\{key}\{HOST_NAME}]", f"@={manifest}", ""]
    entry = _reg_string(f"{built.extension_id};{update_url}")
    for vendor in (r"Google\Chrome", r"Microsoft\Edge"):
        key = rf"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\{vendor}\ExtensionInstallForcelist"
        lines += [f"[{key}]", f'"1"={entry}', ""]
    return "\r\n".join(lines)


def macos_profile(built: BuiltExtension, update_url: str) -> bytes:
    """A configuration profile (.mobileconfig; untested: see packaging/README.md) that forces
    the install in Chrome and Edge. Off-store force installs need an MDM-managed Mac."""
    payloads = [
        _macos_payload(domain, built, update_url)
        for domain in ("com.google.Chrome", "com.microsoft.Edge")
    ]
    profile = {
        "PayloadContent": payloads,
        "PayloadDisplayName": "commaudit browser extension",
        "PayloadIdentifier": "org.commaudit.browser-extension",
        "PayloadType": "Configuration",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"commaudit:{built.extension_id}")),
        "PayloadVersion": 1,
        "PayloadScope": "System",
    }
    return plistlib.dumps(profile)


def _macos_payload(domain: str, built: BuiltExtension, update_url: str) -> dict[str, object]:
    return {
        "PayloadType": domain,
        "PayloadIdentifier": f"org.commaudit.browser-extension.{domain}",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"commaudit:{domain}:{built.version}")),
        "PayloadVersion": 1,
        "PayloadDisplayName": f"commaudit extension for {domain}",
        "ExtensionInstallForcelist": [f"{built.extension_id};{update_url}"],
    }


def _reg_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()


def other_platform_files(built: BuiltExtension, base_url: str) -> dict[str, bytes]:
    """What an administrator deploys by hand, by relative path: for Windows and macOS the
    extension files to publish at `base_url` (an HTTPS server of the organisation's: those
    platforms take no file:// update URL), the host manifests and the policy templates; for
    Firefox on Linux the policy to merge into its policies.json, naming the packaged .xpi."""
    update_url = f"{base_url}updates.xml"
    return {
        "commaudit.crx": built.crx,
        "commaudit.xpi": built.xpi,
        "updates.xml": update_manifest(built, f"{base_url}commaudit.crx").encode(),
        "extension-id.txt": f"{built.extension_id}\n".encode(),
        "linux/firefox-policies.json": _json(
            firefox_policy(built, f"file://{XPI_PATH}", unsigned=True)
        ),
        "windows/commaudit-browser.reg": ("\ufeff" + windows_registry(built, update_url)).encode(
            "utf-16-le"
        ),
        f"windows/{HOST_NAME}.chromium.json": _json(chromium_host_manifest(built, WINDOWS_HOST)),
        f"windows/{HOST_NAME}.firefox.json": _json(firefox_host_manifest(built, WINDOWS_HOST)),
        "macos/commaudit-browser.mobileconfig": macos_profile(built, update_url),
        f"macos/{HOST_NAME}.chromium.json": _json(chromium_host_manifest(built, MACOS_HOST)),
        f"macos/{HOST_NAME}.firefox.json": _json(firefox_host_manifest(built, MACOS_HOST)),
    }
