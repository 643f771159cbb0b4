"""What `commaudit-agent status` says of browsers (issue 9 item 4): the catalog web services
open in tabs by name and category, or why browsers are not collected; from status.json, which
holds no OS user and no hostname."""

from __future__ import annotations

import json
from pathlib import Path

from agent import status
from agent.status_file import (
    STATUS_FILE,
    BrowserStatus,
    DeviceFacts,
    StatusFile,
    TabApp,
    read_status,
)

DEVICE = DeviceFacts("dev-1", "city", "employer", "127.0.0.1:1", True)
OPEN = BrowserStatus(
    True,
    "",
    (
        TabApp("gmail", "email", "chrome", 3, True),
        TabApp("youtube", "video_sharing", "edge", 1, False),
    ),
)


def _shown(tmp_path: Path, browsers: BrowserStatus | None) -> str:
    StatusFile(tmp_path, DEVICE, 60.0).write(None, "running", "2026.11.3", browsers)
    found = status.Status(tmp_path, enrolled=None, snapshot=read_status(tmp_path))
    return status.render(found, now_ms=found.snapshot.written_at_ms if found.snapshot else 0)


def test_the_status_file_keeps_the_tab_apps_and_nothing_about_who(tmp_path: Path) -> None:
    StatusFile(tmp_path, DEVICE, 60.0).write(None, "running", "2026.11.3", OPEN)
    snapshot = read_status(tmp_path)
    assert snapshot is not None and snapshot.browsers == OPEN
    written = json.loads((tmp_path / STATUS_FILE).read_text())["browsers"]
    assert set(written) == {"collected", "detail", "tabs"}
    assert set(written["tabs"][0]) == {"app_id", "category", "browser", "tabs", "focused"}


def test_a_status_file_from_an_agent_without_browsers_still_reads(tmp_path: Path) -> None:
    StatusFile(tmp_path, DEVICE, 60.0).write(None, "running", "1")
    path = tmp_path / STATUS_FILE
    data = json.loads(path.read_text())
    del data["browsers"]
    path.write_text(json.dumps(data))
    snapshot = read_status(tmp_path)
    assert snapshot is not None and snapshot.browsers is None
    assert "Browser tabs" not in _shown(tmp_path, None)


def test_status_lists_each_open_service_with_its_category_browser_and_use(tmp_path: Path) -> None:
    shown = _shown(tmp_path, OPEN)
    assert (
        "Catalog web services open in browser tabs now (reported by name only):\n"
        "  gmail (email) in chrome: 3 tabs, in use\n"
        "  youtube (video_sharing) in edge: 1 tab\n"
    ) in shown


def test_status_says_why_browsers_are_not_collected(tmp_path: Path) -> None:
    why = "not collected: this is a personal device (City 4.01.06 §3.2, Library CS3.3.2)"
    assert f"Browser tabs: {why}\n" in _shown(tmp_path, BrowserStatus(False, why))
    assert "Browser tabs: no catalog web service is open in a browser now" in _shown(
        tmp_path, BrowserStatus(True, "")
    )


def test_status_json_has_the_browsers(tmp_path: Path) -> None:
    StatusFile(tmp_path, DEVICE, 60.0).write(None, "running", "1", OPEN)
    found = status.Status(tmp_path, enrolled=None, snapshot=read_status(tmp_path))
    browsers = status.as_json(found)["browsers"]
    assert browsers["tabs"][0] == {
        "app_id": "gmail",
        "category": "email",
        "browser": "chrome",
        "tabs": 3,
        "focused": True,
    }
