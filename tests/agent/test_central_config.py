"""Central config and catalog on the agent (issue 7 item 9): what the collector serves is
validated and applied like a local file, kept as the last good copy, and used when the
collector cannot be reached.

The settings' precedence and the watched catalog's version rules are checked on the real
objects; the rest with a real daemon (built by `open_agent` from a real config file) polling a
real collector on 127.0.0.1, to which an admin pushes through AdminService.
"""

from __future__ import annotations

import logging
import random
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.catalog import load_catalog
from agent.central_config import LAST_GOOD_FILES, CentralConfig
from agent.collector_channel import CollectorChannel
from agent.config import (
    CENTRAL_SETTINGS,
    ConfigError,
    ConfigSource,
    load_effective,
    parse_central_config,
)
from agent.daemon import open_agent
from agent.enrollment import Enrollment
from agent.hot_reload import LIVE_SETTINGS, Offered, WatchedCatalog, WatchedConfig
from collector.enrollment import add_operator
from collector.store import Store
from commaudit.v1 import admin_service_pb2 as pb
from commaudit.v1 import admin_service_pb2_grpc
from tests.agent.agent_harness import (
    CATALOG_V1,
    CATALOG_V2,
    Lifecycle,
    RunningAgent,
    config_text,
    lifecycles,
    refusing_address,
    started_apps,
)
from tests.collector.collector_harness import RunningCollector, metadata

CATALOG = Lifecycle.KIND_CATALOG_RELOADED
CONFIG = Lifecycle.KIND_CONFIG_RELOADED
PUSHED_CATALOG = CATALOG_V2.replace('"test-2"', '"2099.1"')
"""probe-mail and probe-chat; newer than the collector's packaged catalog and the agent's own."""
StandIn = Callable[[str], subprocess.Popen[bytes]]


def central(version: str, **settings: float) -> str:
    return f'version = "{version}"\n' + "".join(f"{k} = {v}\n" for k, v in settings.items())


# ---------------------------------------------------------------- the real objects


def test_central_settings_win_over_the_file_and_lose_to_environment_and_options(
    tmp_path: Path,
) -> None:
    file = tmp_path / "agent.toml"
    file.write_text("scan_interval_s = 3.0\nheartbeat_interval_s = 90.0\nbatch_max_events = 50\n")
    pushed = parse_central_config(
        central("7", scan_interval_s=5.0, heartbeat_interval_s=120.0, batch_max_events=10),
        "collector agent config 7",
    )
    effective = load_effective(
        file,
        {"COMMAUDIT_AGENT_HEARTBEAT_INTERVAL_S": "30"},
        {"batch_max_events": 20},
        pushed,
    )
    config, origins = effective.config, effective.origins
    assert (config.scan_interval_s, config.heartbeat_interval_s, config.batch_max_events) == (
        5.0, 30.0, 20,
    )  # fmt: skip
    assert (origins["scan_interval_s"].source, origins["scan_interval_s"].where) == (
        "central", "collector agent config 7",
    )  # fmt: skip
    assert origins["heartbeat_interval_s"].source == "env"
    assert origins["batch_max_events"].source == "flag"
    assert origins["spool_max_bytes"].source == "default"


def test_every_setting_the_collector_may_set_is_taken_by_a_running_agent() -> None:
    """Else a pushed value would wait for each device's next restart."""
    assert set(CENTRAL_SETTINGS) <= LIVE_SETTINGS


def test_an_agent_config_may_not_move_the_collector_or_the_state(tmp_path: Path) -> None:
    for key, value in (("collector", '"elsewhere:1"'), ("state_dir", '"/tmp"'),
                       ("config_poll_interval_s", "0")):  # fmt: skip
        with pytest.raises(ConfigError) as refused:
            parse_central_config(f'version = "1"\n{key} = {value}\n', "pushed.toml")
        assert str(refused.value).startswith(f"pushed.toml: {key}: the device's own setting")


def test_a_collector_catalog_runs_only_while_it_is_the_newest_valid_one(tmp_path: Path) -> None:
    file = tmp_path / "catalog.toml"
    file.write_text(CATALOG_V1)
    watched = WatchedCatalog(file, load_catalog(file))
    kept: list[str] = []
    bad = PUSHED_CATALOG.replace('category = "instant_messaging"', 'category = "fax"')
    watched.offer(Offered(bad, "collector catalog 2099.1", lambda: kept.append("bad")))
    refused = watched.reload()
    assert refused is not None and refused.rejected
    assert refused.detail.startswith("rejected: collector catalog 2099.1: app 'probe-chat' (#2)")
    assert (watched.catalog.version, kept) == ("test-1", [])

    watched.offer(Offered(PUSHED_CATALOG, "collector catalog 2099.1", lambda: kept.append("1")))
    taken = watched.reload()
    assert taken is not None and taken.detail == (
        "test-1 -> 2099.1: 2 apps; added: probe-chat (from the collector)"
    )
    assert (watched.catalog.version, kept) == ("2099.1", ["1"])

    older = PUSHED_CATALOG.replace('"2099.1"', '"2098.12"')
    watched.offer(Offered(older, "collector catalog 2098.12", lambda: kept.append("old")))
    assert watched.reload() is None  # ignored: not newer than the running one
    file.write_text(CATALOG_V2)  # the local file moves on, but is older than the collector's
    assert watched.reload() is None
    assert (watched.catalog.version, kept) == ("2099.1", ["1"])
    file.write_text(CATALOG_V2.replace('"test-2"', '"2100.1"'))  # now the file's is newest
    assert watched.reload() is not None
    assert watched.catalog.version == "2100.1"


def test_the_packaged_catalog_is_newer_than_an_old_collector_catalog(tmp_path: Path) -> None:
    packaged = load_catalog()
    watched = WatchedCatalog(None, packaged)
    old = PUSHED_CATALOG.replace('"2099.1"', '"2020.1"')
    watched.offer(Offered(old, "last good collector catalog 2020.1"))
    assert watched.reload() is None
    assert watched.catalog is packaged


def test_a_collector_config_layers_over_settings_from_no_file() -> None:
    running = ConfigSource(None).load()
    watched = WatchedConfig(None, running)
    watched.offer(Offered(central("2", scan_interval_s=9.0), "collector agent config 2"))
    outcome = watched.reload()
    assert outcome is not None
    assert outcome.detail == "collector agent config 2: scan_interval_s: 2.0 -> 9.0"
    assert watched.config.scan_interval_s == 9.0
    watched.offer(Offered(central("3"), "collector agent config 3"))  # sets nothing any more
    back = watched.reload()
    assert back is not None and back.detail.endswith("scan_interval_s: 9.0 -> 2.0")


def test_waits_are_jittered_around_the_interval(tmp_path: Path) -> None:
    channel = CollectorChannel("127.0.0.1:9", None)
    try:
        poller = CentralConfig(
            channel, (), tmp_path, 300.0,
            WatchedConfig(None, ConfigSource(None).load()), WatchedCatalog(None, load_catalog()),
            rng=random.Random(7),
        )  # fmt: skip
        waits = [poller.next_wait() for _ in range(2000)]
    finally:
        channel.close()
    assert 150.0 <= min(waits) < 160.0
    assert 440.0 < max(waits) <= 450.0
    assert 290.0 < sum(waits) / len(waits) < 310.0


# ---------------------------------------------------------------- a real daemon, a real collector


class Admin:
    """Pushes as an admin through AdminService."""

    def __init__(self, collector: RunningCollector, credential: str) -> None:
        self.stub = admin_service_pb2_grpc.AdminServiceStub(collector.channel)
        self.credential = credential

    def push(self, kind: str, text: str) -> None:
        request = pb.PushCentralFileRequest(
            kind=kind, file_name="fleet.toml", content=text.encode()
        )
        self.stub.PushCentralFile(request, metadata=metadata(self.credential), timeout=20)


@pytest.fixture
def collector_dir(tmp_path: Path) -> Path:
    return tmp_path / "collector"


@pytest.fixture
def admin_credential(collector_dir: Path) -> str:
    collector_dir.mkdir()
    store = Store(collector_dir / "commaudit.duckdb")
    credential: str = store.transaction(
        lambda con: add_operator(con, "root", "admin", now_ms=time.time_ns() // 10**6)
    )
    store.close()
    return credential


@pytest.fixture
def collector(collector_dir: Path, admin_credential: str) -> Iterator[RunningCollector]:
    running = RunningCollector(collector_dir, publish_interval_s=0)
    yield running
    running.stop()


@pytest.fixture
def admin(collector: RunningCollector, admin_credential: str) -> Admin:
    return Admin(collector, admin_credential)


def write_config(tmp_path: Path, collector: str, **settings: object) -> Path:
    """agent.toml and the local catalog (test-1) in tmp_path/etc; polls every 0.2 s."""
    etc = tmp_path / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "catalog.toml").write_text(CATALOG_V1)
    config = etc / "agent.toml"
    settings = {"config_poll_interval_s": 0.2, **settings}
    config.write_text(config_text(tmp_path, collector, **settings))
    return config


@contextmanager
def central_agent(config_file: Path, credential: str) -> Iterator[RunningAgent]:
    """The daemon as `commaudit-agent run --config FILE` wires it, enrolled as dev-1."""
    source = ConfigSource(config_file, {}, {})
    config = source.load()
    config.state_dir.mkdir(parents=True, exist_ok=True)
    enrollment = Enrollment("dev-1", credential, config.collector, True, "city", "employer", "")
    daemon = open_agent(config, enrollment, source)
    daemon.watches.debounce_s = 0.1
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), name="agent-under-test")
    before_seq = daemon.spool.last_seq()
    thread.start()
    try:
        yield RunningAgent(daemon, stop, thread, before_seq)
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the daemon did not stop"
        pollers = [t for t in threading.enumerate() if t.name == "commaudit-central-config"]
        assert pollers == [], "the central config thread outlived the daemon"


def stored(
    collector: RunningCollector, sql: str, timeout: float = 10.0
) -> list[tuple[object, ...]]:
    """The rows of `sql` once it has any: the agent delivers its events to this collector, so
    they are read where they end up (its spool keeps only what is not yet acknowledged)."""
    deadline = time.monotonic() + timeout
    while not (rows := collector.rows(sql)):
        assert time.monotonic() < deadline, f"nothing stored for {sql}"
        time.sleep(0.05)
    return rows


def test_a_pushed_catalog_is_taken_within_a_poll_and_a_process_only_it_knows_is_seen(
    tmp_path: Path, collector: RunningCollector, admin: Admin, stand_in_app: StandIn
) -> None:
    stand_in_app("probe-chat")
    config = write_config(tmp_path, collector.address)
    with central_agent(config, collector.credential("dev-1")) as agent:
        agent.wait_scanning()
        poller = agent.daemon.watches.central
        assert poller is not None
        while poller.answers < 2:  # polls that find nothing newer change nothing
            time.sleep(0.05)
        assert agent.daemon.catalog.version == "test-1"
        admin.push("catalog", PUSHED_CATALOG)
        started = stored(collector, "SELECT seq FROM events WHERE app_id = 'probe-chat'"
                         " AND kind = 'app_started'")  # fmt: skip
        answered = poller.answers
        time.sleep(0.8)  # more polls, each answered with two versions and no file
        assert poller.answers > answered
    reloads = collector.rows(
        "SELECT seq, catalog_version, detail FROM events WHERE lifecycle = 'catalog_reloaded'"
    )
    assert [row[1:] for row in reloads] == [
        ("2099.1", "test-1 -> 2099.1: 2 apps; added: probe-chat (from the collector)"),
    ]
    assert reloads[0][0] < started[0][0]
    last_good = tmp_path / "state" / LAST_GOOD_FILES["catalog"]
    assert last_good.read_text() == PUSHED_CATALOG


def test_a_pushed_scan_interval_applies_over_the_file(
    tmp_path: Path, collector: RunningCollector, admin: Admin
) -> None:
    config = write_config(tmp_path, collector.address)
    with central_agent(config, collector.credential("dev-1")) as agent:
        agent.wait_scanning()
        admin.push("agent_config", central("2026.12.1", scan_interval_s=0.07))
        [(detail,)] = stored(
            collector, "SELECT detail FROM events WHERE lifecycle = 'config_reloaded'"
        )
        assert detail == "collector agent config 2026.12.1: scan_interval_s: 0.05 -> 0.07"
        assert agent.daemon.scan_interval_s == 0.07
    assert (tmp_path / "state" / LAST_GOOD_FILES["config"]).read_text() == central(
        "2026.12.1", scan_interval_s=0.07
    )


def test_the_last_good_copy_is_used_when_the_collector_is_down_at_start(
    tmp_path: Path,
    collector: RunningCollector,
    admin: Admin,
    stand_in_app: StandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    credential = collector.credential("dev-1")
    admin.push("catalog", PUSHED_CATALOG)
    admin.push("agent_config", central("4", heartbeat_interval_s=45.0))
    config = write_config(tmp_path, collector.address)
    with central_agent(config, credential):
        stored(collector, "SELECT 1 FROM events WHERE lifecycle = 'catalog_reloaded'")
        stored(collector, "SELECT 1 FROM events WHERE lifecycle = 'config_reloaded'")
    collector.stop()

    stand_in_app("probe-chat")
    with refusing_address() as down, caplog.at_level(logging.WARNING, logger="agent"):
        config = write_config(tmp_path, down)
        with central_agent(config, credential) as agent:
            agent.wait_for(lambda events: "probe-chat" in started_apps(events) or None)
            time.sleep(1.0)  # about five polls, every one refused
            events = agent.this_run()
            assert agent.daemon.heartbeat_interval_s == 45.0
    [taken] = lifecycles(events, CATALOG)
    assert taken.catalog_version == "2099.1"
    assert taken.detail.startswith("test-1 -> 2099.1: 2 apps; added: probe-chat")
    [settings] = lifecycles(events, CONFIG)
    assert settings.detail.endswith("heartbeat_interval_s: 60.0 -> 45.0")
    outage = [r for r in caplog.records if "cannot get the agent config" in r.getMessage()]
    assert len(outage) == 1, [r.getMessage() for r in outage]  # once per outage


def test_a_bad_last_good_copy_is_rejected_and_the_agents_own_catalog_kept(
    tmp_path: Path, stand_in_app: StandIn
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    bad = PUSHED_CATALOG.replace('use = "mixed"', 'use = "sometimes"')
    (state / LAST_GOOD_FILES["catalog"]).write_text(bad)
    stand_in_app("probe-mail")
    with refusing_address() as down:
        config = write_config(tmp_path, down)
        with central_agent(config, "cad1.dev-1.unused") as agent:
            [refusal] = agent.wait_for(lambda events: lifecycles(events, CATALOG) or None)
            agent.wait_for(lambda events: "probe-mail" in started_apps(events) or None)
            assert agent.daemon.catalog.version == "test-1"
    assert refusal.catalog_version == "test-1"
    assert refusal.detail.startswith(
        f"rejected: last good collector catalog 2099.1 ({state / LAST_GOOD_FILES['catalog']}):"
        " app 'probe-chat' (#2): use: 'sometimes' is not one of business, personal, mixed"
    )
