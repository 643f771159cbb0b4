"""The policy workflow end to end, as the installed commands do it: an admin imports the
organisation's CSV exports (and drops one into the watched folder), makes a director and an
analyst; the director restricts email in their workgroup (§4.4); an agent of that workgroup
runs an email app; the director's violations report shows it, citing 4.01.06 §4.4, and cannot
see any other workgroup; the personal-use report stays off until an admin turns it on (§4.1);
the admin's audit log shows every report run with its parameters."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.services import BIN, Collector, Service, agent_service, commaudit, run, wait_for

StartApp = Callable[[str], subprocess.Popen[bytes]]
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "org"
KINDS = ("workgroups", "employees", "device_assignments", "training")


def test_the_policy_workflow_from_import_to_audited_reports(
    tmp_path: Path, services: list[Service], stand_in_app: StartApp
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    collector = Collector(
        tmp_path, extra_args=("--publish-interval-s", "0.5", "--import-dir", str(inbox))
    ).start()
    services.append(collector)
    admin = ("--connection", str(collector.connection), "--collector", collector.address)

    # 1. The admin imports the exports; the same files again change nothing.
    files = [str(SAMPLES / f"{kind}.csv") for kind in KINDS[:3]]
    first = commaudit("import", *files, *admin)
    assert first.returncode == 0, first.stderr
    assert "employees.csv: employees, 27 rows read, 27 changed" in first.stdout
    again = commaudit("import", *files, *admin)
    assert again.stdout.count("imported before; nothing changed") == 3, again.stdout

    # A bad export: every bad row named, exit 2, nothing kept.
    bad = tmp_path / "employees-bad.csv"
    bad.write_text(
        "employee_id,org,full_name,email,workgroup_id,manager_id,effective_from\n"
        "C9001,city,Ann,not-an-email,city-ims,C1001,2026-11-01\n"
        "C9002,town,Bob,,city-ims,,2026-11-01\n"
    )
    refused = commaudit("import", str(bad), "--kind", "employees", *admin)
    assert refused.returncode == 2
    assert "employees-bad.csv:2: email:" in refused.stderr
    assert "employees-bad.csv:3: org:" in refused.stderr

    # Training arrives through the watched folder.
    shutil.copy(SAMPLES / "training.csv", inbox / "training.csv.part")
    (inbox / "training.csv.part").rename(inbox / "training.csv")
    wait_for(lambda: (inbox / "done" / "training.csv").exists(), "the folder import")

    # 2. A director (C1001 directs city-ims) and an analyst.
    director = tmp_path / "director.json"
    made = commaudit("operator", "add", "aw", "--role", "director", "--employee", "C1001",
                     "--out", str(director), *admin)  # fmt: skip
    assert made.returncode == 0, made.stderr
    analyst = tmp_path / "analyst.json"
    assert commaudit("operator", "add", "ana", "--role", "analyst", "--out", str(analyst),
                     *admin).returncode == 0  # fmt: skip
    as_director = ("--connection", str(director), "--collector", collector.address)
    as_analyst = ("--connection", str(analyst), "--collector", collector.address)

    # 3. The director restricts email in their own workgroup, not in another's.
    added = commaudit("restriction", "add", "--workgroup", "city-ims", "--category", "email",
                      "--reason", "records retention review", *as_director)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "[4.01.06 §4.4] city/city-ims: category email" in added.stdout
    assert "set by C1001" in added.stdout
    other = commaudit("restriction", "add", "--workgroup", "city-pu", "--category", "email",
                      "--reason", "not mine", *as_director)  # fmt: skip
    assert other.returncode == 1
    assert "PERMISSION_DENIED" in other.stderr and "not one of your workgroups" in other.stderr

    # 4. An agent of an employee in city-ims runs an email app.
    agent = agent_service(tmp_path, collector, "ims-laptop", scan=0.1, heartbeat=0.2,
                          employee="C1003")  # fmt: skip
    services.append(agent.start())
    stand_in_app("thunderbird")
    today = datetime.now(UTC).date().isoformat()
    day = ("--from", today, "--to", today, "--format", "json")

    def violations() -> list[dict[str, object]]:
        result = commaudit("report", "violations", *day, *as_director)
        assert result.returncode == 0, result.stderr
        rows: list[dict[str, object]] = json.loads(result.stdout)
        return rows

    wait_for(lambda: bool(violations()), "a published violation", timeout=40)
    [row] = violations()
    assert (row["device_id"], row["employee_id"], row["workgroup_id"]) == (
        agent.device_id, "C1003", "city-ims",
    )  # fmt: skip
    assert (row["app_id"], row["clause"]) == ("thunderbird", "4.01.06 §4.4")

    # The director sees only city-ims, even when asking for another workgroup.
    usage = commaudit("report", "usage", *day, *as_director)
    assert {r["workgroup_id"] for r in json.loads(usage.stdout)} <= {"city-ims"}
    denied = commaudit("report", "usage", *day, "--workgroup", "city-pu", *as_director)
    assert denied.returncode == 1 and "PERMISSION_DENIED" in denied.stderr

    # 5. Personal use (§4.1) is off until an admin turns it on.
    off = commaudit("report", "personal-use", *day, *as_analyst)
    assert off.returncode == 1 and "FAILED_PRECONDITION" in off.stderr, off.stderr
    assert commaudit("org", "set", "city", "--personal-use-report", "on", *admin).returncode == 0
    on = commaudit("report", "personal-use", *day, "--org", "city", *as_analyst)
    assert on.returncode == 0, on.stderr

    # Parquet goes to a file.
    out = tmp_path / "training.parquet"
    exported = commaudit("report", "training-overdue", *day[:4], "--format", "parquet",
                         "--output", str(out), *as_analyst)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert out.stat().st_size > 0

    # 6. The audit log: who ran what, with which parameters; denials too.
    log = [json.loads(line) for line in run(
        [str(BIN / "commaudit"), "audit", "list", "--json", *admin]).splitlines()]  # fmt: skip
    runs = [e for e in log if e["action"] == "run_report"]
    assert {(e["operator_id"], e["target"], e["outcome"]) for e in runs} >= {
        ("aw", "violations", "ok"), ("aw", "usage", "denied"),
        ("ana", "personal_use", "refused: report off"), ("ana", "personal_use", "ok"),
        ("ana", "training_overdue", "ok"),
    }  # fmt: skip
    exported_entry = next(e for e in runs if e["target"] == "training_overdue")
    assert json.loads(exported_entry["detail"])["format"] == "parquet"
    assert any(e["action"] == "add_restriction" and e["outcome"] == "denied" for e in log)
    assert any(e["action"] == "import_org_data" and e["operator_id"] == "folder" for e in log)
    # Analysts and directors may not read the audit log.
    assert commaudit("audit", "list", *as_analyst).returncode == 1

    assert agent.terminate() == 0, agent.output()
    assert collector.terminate() == 0, collector.output()
