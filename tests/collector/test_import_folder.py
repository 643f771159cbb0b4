"""The watched import folder (collector/import_folder.py) over a real collector Writer: files
dropped in are imported once complete, then moved to done/ or failed/ with their errors."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.import_folder import ImportFolder
from collector.org_import import KINDS, ImportSummary, import_org_file
from collector.writer import Writer

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "org"
NOW_MS = int(datetime(2026, 11, 27, 16, 0, tzinfo=UTC).timestamp() * 1000)
WAIT_S = 10.0


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    writer = Writer(tmp_path / "commaudit.duckdb")
    yield writer
    writer.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "import"
    path.mkdir()
    return path


@pytest.fixture
def start_folder(folder: Path, writer: Writer) -> Iterator[Callable[..., ImportFolder]]:
    """start_folder(**options) -> a started ImportFolder importing through the writer, as the
    collector wires it; stopped at teardown."""
    started: list[ImportFolder] = []

    def importer(kind: str, path: Path) -> ImportSummary:
        return writer.transaction(
            import_org_file, kind, path.name, path.read_bytes(), imported_by="folder", now_ms=NOW_MS
        )

    def start(**options: float) -> ImportFolder:
        watcher = ImportFolder(folder, importer, **options)
        watcher.start()
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop()


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def drop(source: Path, folder: Path, name: str) -> Path:
    """Write elsewhere, then rename in: the safe way to drop a file."""
    staging = folder.parent / f".staging-{name}"
    shutil.copyfile(source, staging)
    target = folder / name
    os.replace(staging, target)
    return target


def count(writer: Writer, table: str) -> int:
    rows = writer.rows(f"SELECT count(*) FROM {table}")
    return int(rows[0][0])


def test_a_dropped_file_is_imported_and_moved_to_done(
    folder: Path,
    writer: Writer,
    start_folder: Callable[..., ImportFolder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="collector.import_folder")
    start_folder()
    drop(SAMPLES / "workgroups.csv", folder, "workgroups-2026-11-27.csv")
    wait_for(lambda: (folder / "done" / "workgroups-2026-11-27.csv").exists())
    assert not (folder / "workgroups-2026-11-27.csv").exists()
    assert count(writer, "workgroups") == 7
    assert writer.rows("SELECT file_name, imported_by, rows_changed FROM org_imports") == [
        ("workgroups-2026-11-27.csv", "folder", 7)
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "collector.import_folder"] == [
        "import folder: workgroups-2026-11-27.csv (workgroups): 7 row(s) changed"
    ]


def test_a_bad_file_goes_to_failed_with_every_error_and_nothing_in_the_log_but_counts(
    folder: Path,
    writer: Writer,
    start_folder: Callable[..., ImportFolder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="collector.import_folder")
    start_folder()
    bad = (
        "employee_id,org,full_name,email,workgroup_id,manager_id,effective_from\n"
        "C1,city,Ann Lee,ann.lee(at)city.example,,,\n"
        "C2,city,Bo Ruiz,,,C9,\n"
        "C3,town,Cy Dee,,,,\n"
    )
    staging = folder.parent / "employees.csv"
    staging.write_text(bad, encoding="utf-8")
    os.replace(staging, folder / "employees.csv")
    errors = folder / "failed" / "employees.csv.errors.txt"
    wait_for(errors.exists)
    assert (folder / "failed" / "employees.csv").read_text(encoding="utf-8") == bad
    assert errors.read_text(encoding="utf-8").splitlines() == [
        "employees.csv:2: email: 'ann.lee(at)city.example' is not an email address",
        "employees.csv:3: manager_id: 'C9' is not an employee in this file or on record",
        "employees.csv:4: org: 'town' is not an organisation (city or library)",
    ]
    assert count(writer, "employees") == count(writer, "org_imports") == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "collector.import_folder"]
    assert messages == [
        "import folder: employees.csv (employees): not imported, 3 error(s), moved to failed/"
    ]


def test_a_file_whose_name_names_no_kind_goes_to_failed_with_the_reason(
    folder: Path, start_folder: Callable[..., ImportFolder]
) -> None:
    start_folder()
    drop(SAMPLES / "employees.csv", folder, "roster.csv")
    errors = folder / "failed" / "roster.csv.errors.txt"
    wait_for(errors.exists)
    assert errors.read_text(encoding="utf-8") == (
        "roster.csv: the name does not say its kind"
        " (workgroups, employees, device_assignments, training): see samples/org\n"
    )


def test_files_present_at_start_are_imported_in_kind_order(
    folder: Path,
    writer: Writer,
    start_folder: Callable[..., ImportFolder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="collector.import_folder")
    # By name, device_assignments would come first and fail for want of employees.
    for kind in KINDS:
        shutil.copyfile(SAMPLES / f"{kind}.csv", folder / f"{kind}.csv")
    (folder / "notes.txt").write_text("not an export\n", encoding="utf-8")
    start_folder()
    wait_for(lambda: len(list((folder / "done").iterdir())) == len(KINDS))
    assert list((folder / "failed").iterdir()) == []
    assert [r.getMessage() for r in caplog.records if r.name == "collector.import_folder"] == [
        "import folder: workgroups.csv (workgroups): 7 row(s) changed",
        "import folder: employees.csv (employees): 27 row(s) changed",
        "import folder: device_assignments.csv (device_assignments): 22 row(s) changed",
        "import folder: training.csv (training): 24 row(s) changed",
    ]
    assert count(writer, "org_imports") == len(KINDS)
    assert (folder / "notes.txt").exists()  # not a .csv file: left alone


def test_a_set_of_files_dropped_together_imports_in_kind_order(
    folder: Path, writer: Writer, start_folder: Callable[..., ImportFolder]
) -> None:
    start_folder(settle_s=0.3)
    for kind in sorted(KINDS):  # device_assignments first, workgroups last, while it settles
        drop(SAMPLES / f"{kind}.csv", folder, f"{kind}.csv")
        time.sleep(0.03)
    wait_for(lambda: len(list((folder / "done").iterdir())) == len(KINDS))
    assert list((folder / "failed").iterdir()) == []
    assert count(writer, "device_assignments") == 22


def test_a_file_still_being_written_is_imported_only_once_complete(
    folder: Path, writer: Writer, start_folder: Callable[..., ImportFolder]
) -> None:
    start_folder(settle_s=0.5)
    content = (SAMPLES / "workgroups.csv").read_bytes()
    with (folder / "workgroups.csv").open("wb") as out:
        out.write(content[:70])  # the header and half a row
        out.flush()
        time.sleep(0.15)
        out.write(content[70:])
    wait_for(lambda: (folder / "done" / "workgroups.csv").exists())
    assert count(writer, "workgroups") == 7


def test_the_same_name_dropped_twice_keeps_both_copies_in_done(
    folder: Path, writer: Writer, start_folder: Callable[..., ImportFolder]
) -> None:
    start_folder()
    drop(SAMPLES / "workgroups.csv", folder, "workgroups.csv")
    wait_for(lambda: (folder / "done" / "workgroups.csv").exists())
    drop(SAMPLES / "workgroups.csv", folder, "workgroups.csv")
    wait_for(lambda: (folder / "done" / "workgroups.2.csv").exists())
    assert count(writer, "org_imports") == 1  # the second copy was recognised, unchanged


def test_stop_returns_promptly_and_leaves_unprocessed_files_for_the_next_start(
    folder: Path, start_folder: Callable[..., ImportFolder]
) -> None:
    watcher = start_folder(settle_s=30.0)
    drop(SAMPLES / "workgroups.csv", folder, "workgroups.csv")
    time.sleep(0.1)
    began = time.monotonic()
    watcher.stop()
    assert time.monotonic() - began < 2.0
    assert (folder / "workgroups.csv").exists()
