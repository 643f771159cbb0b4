"""The catalog and agent config IMS pushes and the collector serves (issue 7 item 9), over real
gRPC to a real collector: a push is validated by the agent's own validator and by version, only
an admin may push, every push and refusal is audited, GetConfig sends a file only to an agent
that has an older one, and the pushed catalog's apps become catalog_apps."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from agent.catalog import load_catalog
from collector.central_config import MAX_FILE_BYTES
from collector.enrollment import add_operator
from collector.store import Store
from commaudit.v1 import admin_service_pb2 as pb
from commaudit.v1 import admin_service_pb2_grpc, agent_service_pb2
from tests.collector.collector_harness import RunningCollector, metadata

Code = grpc.StatusCode
DEVICE = "laptop-0042"
SHIPPED = load_catalog().version  # the catalog agents ship with, "2026.11.2" when written

CATALOG = """
schema = 1
version = "{version}"

[[app]]
id = "probe-mail"
name = "Probe Mail"
vendor = "Test"
category = "email"
use = "business"
linux = {{ process_names = ["probe-mail"] }}

[[app]]
id = "probe-chat"
name = "Probe Chat"
vendor = "Test"
category = "{category}"
use = "personal"
linux = {{ process_names = ["probe-chat"] }}
"""


def catalog(version: str = "2099.1", category: str = "instant_messaging") -> bytes:
    return CATALOG.format(version=version, category=category).encode()


class Operators:
    """AdminService as the admin `root` and an analyst `ana` call it."""

    def __init__(self, collector: RunningCollector, admin: str, analyst: str) -> None:
        self.stub = admin_service_pb2_grpc.AdminServiceStub(collector.channel)
        self.collector = collector
        self.credentials = {"root": admin, "ana": analyst}

    def push(
        self, kind: str, content: bytes, name: str = "fleet.toml", who: str = "root"
    ) -> pb.CentralFile:
        request = pb.PushCentralFileRequest(kind=kind, file_name=name, content=content)
        answer: pb.CentralFile = self.stub.PushCentralFile(
            request, metadata=metadata(self.credentials[who]), timeout=20
        )
        return answer

    def refused(
        self, kind: str, content: bytes, name: str = "fleet.toml", who: str = "root"
    ) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as raised:
            self.push(kind, content, name, who)
        return raised.value

    def listed(self, kind: str, who: str = "root") -> list[pb.CentralFile]:
        answer = self.stub.ListCentralFiles(
            pb.ListCentralFilesRequest(kind=kind), metadata=metadata(self.credentials[who]),
            timeout=20,
        )  # fmt: skip
        return list(answer.files)

    def audit(self, action: str) -> list[tuple[str, str, str]]:
        """(operator, target, outcome) of each `action` in the audit log, oldest first."""
        rows = self.collector.rows(
            f"SELECT operator_id, coalesce(target, ''), outcome FROM audit_log"
            f" WHERE action = '{action}' ORDER BY logged_at"
        )
        return [(str(a), str(b), str(c)) for a, b, c in rows]


@pytest.fixture
def operators(tmp_path: Path) -> Iterator[Operators]:
    store = Store(tmp_path / "commaudit.duckdb")
    now = time.time_ns() // 10**6
    admin = store.transaction(lambda con: add_operator(con, "root", "admin", now_ms=now))
    analyst = store.transaction(lambda con: add_operator(con, "ana", "analyst", now_ms=now))
    store.close()
    collector = RunningCollector(tmp_path, publish_interval_s=0)
    yield Operators(collector, admin, analyst)
    collector.stop()


def get_config(
    collector: RunningCollector, config_version: str = "", catalog_version: str = ""
) -> agent_service_pb2.GetConfigResponse:
    request = agent_service_pb2.GetConfigRequest(
        config_version=config_version, catalog_version=catalog_version
    )
    answer: agent_service_pb2.GetConfigResponse = collector.stub.GetConfig(
        request, metadata=collector.metadata(DEVICE), timeout=10
    )
    return answer


def served_soon(
    collector: RunningCollector, **versions: str
) -> agent_service_pb2.GetConfigResponse:
    """GetConfig once the push is visible: the service reads the database at most once a
    second (collector/central_config.py CACHE_S)."""
    deadline = time.monotonic() + 5
    while True:
        answer = get_config(collector, **versions)
        if answer.catalog_version or answer.config_version or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_a_bad_catalog_is_refused_with_the_validators_message_and_nothing_is_served(
    operators: Operators,
) -> None:
    bad = operators.refused("catalog", catalog(category="fax"), name="catalog-2099.1.toml")
    assert bad.code() == Code.INVALID_ARGUMENT
    assert bad.details() == (
        "catalog-2099.1.toml: app 'probe-chat' (#2): category: 'fax' is not one of email,"
        " instant_messaging, text_messaging, social_networking, teleconferencing, video_sharing"
    )
    assert operators.listed("catalog") == []
    time.sleep(1.1)  # past the service's cache: what it serves is read again
    answer = get_config(operators.collector)
    assert (answer.catalog_version, answer.catalog_toml) == ("", "")
    [(who, target, outcome)] = operators.audit("push_central_file")
    assert (who, target) == ("root", "catalog:catalog-2099.1.toml")
    assert outcome.startswith("refused: catalog-2099.1.toml: app 'probe-chat' (#2): category:")


def test_only_an_admin_may_push_and_the_denial_is_audited(operators: Operators) -> None:
    denied = operators.refused("catalog", catalog(), who="ana")
    assert denied.code() == Code.PERMISSION_DENIED
    assert denied.details() == "push_central_file needs role admin; ana is analyst"
    assert operators.audit("push_central_file") == [("ana", "", "denied")]
    assert operators.listed("catalog", who="ana") == []  # an analyst may look


def test_a_catalog_must_be_newer_than_the_one_served_and_the_one_agents_ship_with(
    operators: Operators,
) -> None:
    first = operators.push("catalog", catalog("2099.1"), name="a.toml")
    assert (first.version, first.summary, first.pushed_by) == ("2099.1", "2 apps", "root")
    same = operators.refused("catalog", catalog("2099.1"), name="b.toml")
    assert same.code() == Code.INVALID_ARGUMENT
    served_since = r"served since \d{4}-\d\d-\d\d \d\d:\d\d UTC \(a\.toml, pushed by root\)"
    assert re.fullmatch(
        rf"b\.toml: version 2099\.1 is not newer than 2099\.1, {served_since}; give the file"
        " a newer version",
        same.details() or "",
    ), same.details()
    older = operators.refused("catalog", catalog("2099.0.9"), name="b.toml")
    assert (older.details() or "").startswith("b.toml: version 2099.0.9 is not newer than 2099.1,")
    shipped = operators.refused("catalog", catalog(SHIPPED), name="b.toml")
    assert shipped.details() == (
        f"b.toml: version {SHIPPED} is not newer than {SHIPPED}, the catalog agents ship with:"
        " they would ignore it"
    )
    operators.push("catalog", catalog("2099.1.10"), name="c.toml")
    operators.push("catalog", catalog("2099.2"), name="d.toml")  # 2 > 1.10, number by number
    listed = operators.listed("catalog")
    assert [(f.version, f.file_name, f.pushed_by) for f in listed] == [
        ("2099.2", "d.toml", "root"), ("2099.1.10", "c.toml", "root"), ("2099.1", "a.toml", "root"),
    ]  # fmt: skip
    assert [f.size_bytes for f in listed] == [len(catalog(f.version)) for f in listed]
    assert all(0 < time.time() * 1000 - f.pushed_at_ms < 60_000 for f in listed)
    audited = [(target, outcome.split(":")[0]) for _, target, outcome in operators.audit(
        "push_central_file")]  # fmt: skip
    assert audited == [
        ("catalog:a.toml", "ok"), *[("catalog:b.toml", "refused")] * 3, ("catalog:c.toml", "ok"),
        ("catalog:d.toml", "ok"),
    ]  # fmt: skip


def test_a_version_that_is_not_dotted_numbers_and_a_file_too_large_are_refused(
    operators: Operators,
) -> None:
    named = operators.refused("catalog", catalog("2099.1-beta"))
    assert named.details() == (
        "fleet.toml: version: '2099.1-beta' is not numbers separated by dots (2026.11.2):"
        " agents compare versions number by number"
    )
    huge = catalog() + b"#" * MAX_FILE_BYTES
    too_large = operators.refused("catalog", huge)
    assert too_large.details() == (
        f"fleet.toml: {len(huge)} bytes, more than the {MAX_FILE_BYTES} allowed"
    )
    assert operators.refused("fonts", b"").details() == (
        "kind: 'fonts' is not one of catalog, agent_config"
    )


def test_get_config_sends_a_file_only_to_an_agent_that_has_an_older_one(
    operators: Operators,
) -> None:
    collector = operators.collector
    operators.push("catalog", catalog("2099.1"))
    operators.push("agent_config", b'version = "3"\nscan_interval_s = 5.0\n')
    fresh = served_soon(collector, catalog_version=SHIPPED)
    assert (fresh.config_version, fresh.catalog_version) == ("3", "2099.1")
    assert fresh.catalog_toml == catalog("2099.1").decode()
    assert fresh.config_toml == 'version = "3"\nscan_interval_s = 5.0\n'

    current = get_config(collector, config_version="3", catalog_version="2099.1")
    assert (current.config_version, current.catalog_version) == ("3", "2099.1")
    assert (current.config_toml, current.catalog_toml) == ("", "")
    assert current.ByteSize() < 20  # an unchanged poll: two short strings

    newer_here = get_config(collector, config_version="3", catalog_version="2099.1.5")
    assert newer_here.catalog_toml == ""  # an agent's own newer catalog is never replaced

    with pytest.raises(grpc.RpcError) as long_version:
        get_config(collector, catalog_version="9" * 65)
    assert long_version.value.code() == Code.INVALID_ARGUMENT


def test_an_agent_config_may_set_only_fleet_settings_validated_as_a_file_is(
    operators: Operators,
) -> None:
    for text, message in (
        (b'version = "1"\ncollector = "elsewhere:1"\n',
         "fleet.toml: collector: the device's own setting (an agent config from the collector"
         " sets only scan_interval_s, heartbeat_interval_s, batch_max_events,"
         " batch_max_delay_s, spool_max_bytes, flush_timeout_s, browser_incognito)"),
        (b'version = "1"\nstate_dir = "/tmp"\n', "fleet.toml: state_dir: the device's own"),
        (b'version = "1"\nscan_intervall_s = 1\n', "fleet.toml: scan_intervall_s: unknown"),
        (b'version = "1"\nscan_interval_s = 0\n',
         "fleet.toml: scan_interval_s: must be greater than 0, got 0.0"),
        (b"scan_interval_s = 5\n", "fleet.toml: version: missing or not a non-empty string"),
        (b'version = "1"\nscan_interval_s = [\n', "fleet.toml: not valid TOML: "),
    ):  # fmt: skip
        refused = operators.refused("agent_config", text)
        assert refused.code() == Code.INVALID_ARGUMENT
        assert (refused.details() or "").startswith(message), refused.details()
    pushed = operators.push("agent_config", b'version = "1"\nheartbeat_interval_s = 120\n')
    assert pushed.summary == "heartbeat_interval_s = 120.0"
    assert (
        operators.refused("agent_config", b'version = "1"\n')
        .details()
        .startswith("fleet.toml: version 1 is not newer than 1, served since")
    )


WORKGROUPS = b"""workgroup_id,org,name,director_id,effective_from
city-fin,city,Finance,C4001,2025-01-06
"""
EMPLOYEES = b"""employee_id,org,full_name,email,workgroup_id,manager_id,effective_from
C4001,city,Robert Chen,,city-fin,,2025-01-06
"""


def test_catalog_apps_follow_the_pushed_catalog_so_a_director_may_restrict_a_new_app(
    tmp_path: Path, operators: Operators
) -> None:
    collector, root = operators.collector, metadata(operators.credentials["root"])
    for kind, content in (("workgroups", WORKGROUPS), ("employees", EMPLOYEES)):
        request = pb.ImportOrgDataRequest(kind=kind, file_name=f"{kind}.csv", content=content)
        assert operators.stub.ImportOrgData(request, metadata=root, timeout=20).applied
    restrict = pb.AddRestrictionRequest(
        workgroup_id="city-fin", app_id="probe-chat", set_by="C4001", reason="§4.4"
    )
    with pytest.raises(grpc.RpcError) as unknown:
        operators.stub.AddRestriction(restrict, metadata=root, timeout=20)
    assert unknown.value.details() == "app: 'probe-chat' is not an app of the catalog"

    operators.push("catalog", catalog("2099.1"))
    apps = "SELECT app_id, category, use FROM catalog_apps ORDER BY app_id"
    assert collector.rows(apps) == [
        ("probe-chat", "instant_messaging", "personal"),
        ("probe-mail", "email", "business"),
    ]
    added = operators.stub.AddRestriction(restrict, metadata=root, timeout=20)
    assert added.restriction.app_id == "probe-chat"

    collector.stop()
    restarted = RunningCollector(tmp_path, publish_interval_s=0)
    try:  # at start the newest catalog wins: the pushed one, not the packaged one
        assert [row[0] for row in restarted.rows(apps)] == ["probe-chat", "probe-mail"]
    finally:
        restarted.stop()
