"""Hot reload: a saved catalog or config is applied, or refused with the running one kept, by a
real daemon following real files with watchdog (debounce 0.1 s here, 0.5 s in service)."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.fs_watch import Settling
from tests.agent.agent_harness import (
    CATALOG_V1,
    CATALOG_V2,
    Lifecycle,
    config_text,
    lifecycles,
    refusing_address,
    running_agent,
    save,
    started_apps,
)

CATALOG = Lifecycle.KIND_CATALOG_RELOADED
CONFIG = Lifecycle.KIND_CONFIG_RELOADED
StandIn = Callable[[str], subprocess.Popen[bytes]]


def _messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    """What hot reload logged at `level` or above."""
    records = [r for r in caplog.records if r.name == "agent.hot_reload"]
    return [r.getMessage() for r in records if r.levelno >= level]


@pytest.fixture
def collector() -> Iterator[str]:
    with refusing_address() as address:
        yield address


@pytest.fixture
def files(tmp_path: Path, collector: str) -> tuple[Path, Path]:
    """(agent.toml, catalog.toml), side by side as in /etc/commaudit."""
    catalog = tmp_path / "etc" / "catalog.toml"
    catalog.parent.mkdir()
    catalog.write_text(CATALOG_V1)
    config = tmp_path / "etc" / "agent.toml"
    config.write_text(config_text(tmp_path, collector))
    return config, catalog


def test_a_saved_catalog_is_applied_and_a_process_only_it_knows_becomes_a_session(
    files: tuple[Path, Path], collector: str, stand_in_app: StandIn
) -> None:
    config, catalog = files
    stand_in_app("probe-chat")
    with running_agent(config, collector) as agent:
        agent.wait_scanning()
        time.sleep(0.2)  # scans enough under the old catalog, which does not know probe-chat
        assert "probe-chat" not in started_apps(agent.events())
        save(catalog, CATALOG_V2)
        agent.wait_for(lambda events: "probe-chat" in started_apps(events) or None)
        events = agent.events()
    [reload] = lifecycles(events, CATALOG)
    assert (reload.catalog_version, reload.detail) == (
        "test-2",
        "test-1 -> test-2: 2 apps; added: probe-chat",
    )
    reloaded_at = next(i for i, e in enumerate(events) if e.agent_lifecycle.kind == CATALOG)
    started_at = next(i for i, e in enumerate(events) if e.app_started.app_id == "probe-chat")
    assert reloaded_at < started_at


def test_a_bad_catalog_is_refused_the_running_one_kept_and_the_refusal_spooled(
    files: tuple[Path, Path],
    collector: str,
    stand_in_app: StandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, catalog = files
    stand_in_app("probe-mail")
    bad = CATALOG_V2.replace('category = "instant_messaging"', 'category = "fax"')
    with caplog.at_level(logging.ERROR, logger="agent"), running_agent(config, collector) as agent:
        agent.wait_for(lambda events: "probe-mail" in started_apps(events) or None)
        save(catalog, bad)
        [refusal] = agent.wait_for(lambda events: lifecycles(events, CATALOG) or None)
        time.sleep(0.2)  # scans under the catalog kept
        assert agent.daemon.catalog.version == "test-1"
        save(catalog, CATALOG_V2)  # fixed: now it applies
        agent.wait_for(lambda events: lifecycles(events, CATALOG)[1:] or None)
        events = agent.events()
    reason = (
        f"{catalog}: app 'probe-chat' (#2): category: 'fax' is not one of email,"
        " instant_messaging, text_messaging, social_networking, teleconferencing, video_sharing"
    )
    assert (refusal.catalog_version, refusal.detail) == ("test-1", f"rejected: {reason}")
    assert _messages(caplog, logging.ERROR) == [f"catalog not reloaded, test-1 stays: {reason}"]
    assert [r.catalog_version for r in lifecycles(events, CATALOG)] == ["test-1", "test-2"]
    assert not [e for e in events if e.WhichOneof("kind") == "app_stopped"]  # one session on


def test_saves_that_change_nothing_reload_nothing(
    tmp_path: Path, files: tuple[Path, Path], collector: str, caplog: pytest.LogCaptureFixture
) -> None:
    config, catalog = files
    with (
        caplog.at_level(logging.WARNING, logger="agent"),
        running_agent(config, collector) as agent,
    ):
        agent.wait_scanning()
        save(catalog, CATALOG_V1)  # the same bytes in a new file
        save(config, config_text(tmp_path, collector) + "# only a comment\n")
        save(catalog, CATALOG_V1 + "\n# edited, but still version test-1\n")
        time.sleep(0.6)  # several debounce periods and scans
        events = agent.events()
    assert lifecycles(events, CATALOG) == lifecycles(events, CONFIG) == []
    assert _messages(caplog, logging.WARNING) == [
        f"{catalog} changed but is still version test-1: not applied (a changed catalog needs"
        " a new version, the one the collector records)"
    ]


def test_a_saved_scan_interval_applies_at_once_and_a_new_collector_waits_for_a_restart(
    tmp_path: Path, files: tuple[Path, Path], collector: str
) -> None:
    config, _ = files
    with running_agent(config, collector) as agent:
        agent.wait_scanning()
        save(config, config_text(tmp_path, collector, scan_interval_s=0.08))
        [first] = agent.wait_for(lambda events: lifecycles(events, CONFIG) or None)
        assert first.detail == "scan_interval_s: 0.05 -> 0.08"
        assert agent.daemon.scan_interval_s == 0.08
        moved = config_text(tmp_path, "127.0.0.1:1", scan_interval_s=0.08, batch_max_events=10)
        save(config, moved)
        [second] = agent.wait_for(lambda events: lifecycles(events, CONFIG)[1:] or None)
        assert second.detail == (
            f'collector: "{collector}" -> "127.0.0.1:1" (needs restart);'
            " batch_max_events: 500 -> 10"
        )
        assert agent.daemon.sender.settings.batch_max_events == 10
        save(config, config_text(tmp_path, collector, scan_interval_s=0))
        [third] = agent.wait_for(lambda events: lifecycles(events, CONFIG)[2:] or None)
        assert third.detail == (
            f"rejected: {config}: scan_interval_s: must be greater than 0, got 0.0"
        )
        time.sleep(0.2)
        assert agent.daemon.scan_interval_s == 0.08


def test_a_burst_of_50_writes_is_read_once(
    tmp_path: Path, files: tuple[Path, Path], collector: str
) -> None:
    """Written in place every 10 ms for half a second: about ten scans see the file change, and
    the 0.3 s debounce still makes it one reload, of the last content."""
    config, _ = files
    with running_agent(config, collector, debounce_s=0.3) as agent:
        agent.wait_scanning()
        for i in range(1, 51):
            config.write_text(config_text(tmp_path, collector, heartbeat_interval_s=60 + i))
            time.sleep(0.01)
        agent.wait_for(lambda events: lifecycles(events, CONFIG) or None)
        time.sleep(0.6)  # two more debounce periods: a second reload would be in by now
        events = agent.events()
    assert [r.detail for r in lifecycles(events, CONFIG)] == ["heartbeat_interval_s: 60.0 -> 110.0"]


def test_a_key_written_continuously_still_settles_by_the_maximum_delay() -> None:
    settling = Settling(debounce_s=0.1, max_delay_s=0.3)
    first = time.monotonic()
    while not settling.take():
        assert time.monotonic() - first < 1.0, "never settled"
        settling.note("/opt")
        time.sleep(0.02)
    assert 0.3 <= time.monotonic() - first < 1.0
