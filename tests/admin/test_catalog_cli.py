"""`commaudit catalog push|show` and `commaudit agent-config push|show` against a real
collector over TLS whose writer runs in its own process, as `commaudit-collector serve` runs it
(so each push crosses the writer's pipe), through typer's CliRunner."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from analytics.cli import app
from commaudit.v1 import agent_service_pb2
from tests.admin.operators import collector_with_operators
from tests.collector.collector_harness import RunningCollector

CATALOG = """schema = 1
version = "{version}"

[[app]]
id = "probe-chat"
name = "Probe Chat"
vendor = "Test"
category = "{category}"
use = "mixed"
linux = {{ process_names = ["probe-chat"] }}
"""


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    running = collector_with_operators(tmp_path, writer_process=True, publish_interval_s=0)
    yield running
    running.stop()


def commaudit(
    tmp_path: Path, collector: RunningCollector, *args: str, who: str = "admin"
) -> Result:
    connection = ["--connection", str(tmp_path / f"{who}.json"), "--collector", collector.address]
    return CliRunner().invoke(app, [*args, *connection])


def test_an_admin_pushes_a_catalog_an_analyst_sees_it_and_a_bad_one_is_refused(
    tmp_path: Path, collector: RunningCollector
) -> None:
    assert commaudit(tmp_path, collector, "catalog", "show").stdout == (
        "no catalog pushed: agents use their own\n"
    )
    bad = tmp_path / "catalog-2099.2.toml"
    bad.write_text(CATALOG.format(version="2099.2", category="fax"))
    refused = commaudit(tmp_path, collector, "catalog", "push", str(bad))
    assert refused.exit_code == 1
    assert refused.stderr == (
        "commaudit: collector said INVALID_ARGUMENT: catalog-2099.2.toml: app 'probe-chat' (#1):"
        " category: 'fax' is not one of email, instant_messaging, text_messaging,"
        " social_networking, teleconferencing, video_sharing\n"
    )

    good = tmp_path / "catalog-2099.1.toml"
    good.write_text(CATALOG.format(version="2099.1", category="instant_messaging"))
    pushed = commaudit(tmp_path, collector, "catalog", "push", str(good))
    assert pushed.exit_code == 0, pushed.output
    assert pushed.stdout.startswith("catalog 2099.1 (1 app) is served now;")
    by_analyst = commaudit(tmp_path, collector, "catalog", "push", str(good), who="ana")
    assert by_analyst.exit_code == 1
    assert "PERMISSION_DENIED: push_central_file needs role admin; ana is analyst" in (
        by_analyst.stderr
    )

    shown = commaudit(tmp_path, collector, "catalog", "show", "--json", who="ana")
    assert shown.exit_code == 0, shown.output
    [row] = [json.loads(line) for line in shown.stdout.splitlines()]
    assert {k: row[k] for k in ("version", "served", "pushed_by", "file_name", "summary")} == {
        "version": "2099.1",
        "served": True,
        "pushed_by": "admin",
        "file_name": "catalog-2099.1.toml",
        "summary": "1 app",
    }
    served = collector.stub.GetConfig(
        agent_service_pb2.GetConfigRequest(catalog_version="2026.1"),
        metadata=collector.metadata("laptop-7"),
        timeout=10,
    )
    assert (served.catalog_version, served.catalog_toml) == ("2099.1", good.read_text())
    assert collector.rows("SELECT app_id FROM catalog_apps") == [("probe-chat",)]


def test_agent_config_push_names_a_forbidden_setting_and_show_lists_newest_first(
    tmp_path: Path, collector: RunningCollector
) -> None:
    file = tmp_path / "agent-fleet.toml"
    file.write_text('version = "1"\nstate_dir = "/srv"\n')
    refused = commaudit(tmp_path, collector, "agent-config", "push", str(file))
    assert refused.exit_code == 1
    assert "INVALID_ARGUMENT: agent-fleet.toml: state_dir: the device's own setting" in (
        refused.stderr
    )
    for version, interval in (("1", 5.0), ("2", 10.0)):
        file.write_text(f'version = "{version}"\nscan_interval_s = {interval}\n')
        pushed = commaudit(tmp_path, collector, "agent-config", "push", str(file))
        assert pushed.exit_code == 0, pushed.output
    shown = commaudit(tmp_path, collector, "agent-config", "show")
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:3] == ["2", "served", time.strftime("%Y-%m-%d", time.gmtime())]
    assert lines[1].split()[0] == "1" and "served" not in lines[1]
    assert lines[0].endswith("agent-fleet.toml  scan_interval_s = 10.0")
    assert lines[1].endswith("agent-fleet.toml  scan_interval_s = 5.0")
    missing = commaudit(tmp_path, collector, "agent-config", "push", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2
