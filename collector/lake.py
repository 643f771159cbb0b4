"""The published lake: what analysts and `commaudit report` read while the collector runs.

DuckDB locks the collector's file against every other process (DESIGN.md §5), so the writer's
process publishes what it has committed into a DuckLake, which any process can attach read-only:

    <lake_dir>/catalog.sqlite   the DuckLake catalog (snapshots, tables, their files)
    <lake_dir>/data/            the tables' Parquet files

One publish is one lake transaction, hence one snapshot, in which everything agrees: the events
up to a rowid, `sessions` and `device_health` folded up to that same rowid (session_table.py),
and `device_seq`/`seq_gaps` exactly as committed with those events. Events are appended past the
watermark kept in the lake's `publish_state` (so a restart publishes nothing twice); changed
sessions and device rows are replaced by key; the small tables are replaced whole when their
content changed. Upkeep (merging files, expiring snapshots) runs every few publishes
(lake_upkeep.py). Never published: `raw` (evidence stays in the collector), the digests of
secrets (`devices.key_sha256`, `operators`, `enrollment_tokens`) and who looked at what
(`audit_log`).

The extensions come from the PyPI wheels duckdb-extension-ducklake and
duckdb-extension-sqlite-scanner, loaded by file path: `INSTALL` would reach for the network.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from collector.lake_upkeep import FILE_GRACE, SNAPSHOT_RETENTION, maintain_lake
from collector.session_table import NOTHING_FOLDED, Refresh, refresh_derived
from collector.store import registered, with_table

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite"
PUBLISHED_MARKER = "published"
"""Left in the lake's folder once a publish has committed (lake_exists)."""
DATA_DIR = "data"
STATE_TABLE = "publish_state"

APPENDED = "events"
REPLACED_BY_KEY = {"sessions": ("device_id", "session_id"), "device_health": ("device_id",)}
REPLACED_WHOLE = (
    "devices",
    "device_revocations",
    "device_seq",
    "seq_gaps",
    "org_policies",
    "policy_clauses",
    "org_imports",
    "workgroups",
    "employees",
    "device_assignments",
    "training_records",
    "restrictions",
    "restriction_windows",
    "catalog_apps",
)
UNPUBLISHED_COLUMNS = {"events": ("raw",), "devices": ("key_sha256",)}
PUBLISHED_TABLES = (APPENDED, *REPLACED_BY_KEY, *REPLACED_WHOLE)

_ALIAS = re.compile(r"^[a-z_][a-z0-9_]*$")


class LakeUnavailable(RuntimeError):
    """The DuckLake extensions are not installed (the collector's `server` extra has them)."""


class LakeMismatch(RuntimeError):
    """The lake was published from another database than the one publishing now."""


def extension_path(name: str) -> Path:
    """The extension file shipped in the PyPI wheel `duckdb-extension-<name>` for this DuckDB."""
    package = f"duckdb_extension_{name}"
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        wheel = f"duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}"
        raise LakeUnavailable(
            f"the DuckDB extension {name!r} is missing: install {wheel}"
        ) from None
    path = Path(str(root)) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise LakeUnavailable(f"{path} is missing: its wheel does not match DuckDB")
    return path


def load_lake_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """LOAD sqlite_scanner (the catalog's database) and ducklake, from the wheels' files."""
    for name in ("sqlite_scanner", "ducklake"):
        con.execute(f"LOAD {_quote(str(extension_path(name)))}")


def attach_lake(
    con: duckdb.DuckDBPyConnection, lake_dir: Path, *, read_only: bool, alias: str = "lake"
) -> None:
    """Attach the lake in `lake_dir` as `alias`; read-write creates it when missing.

    The data path is always given and overrides the one the catalog recorded, so a lake moved
    with its state directory (a restored backup) still finds its files.
    """
    if not _ALIAS.match(alias):
        raise ValueError(f"lake alias {alias!r} is not a plain lower-case name")
    load_lake_extensions(con)
    if not read_only:
        (lake_dir / DATA_DIR).mkdir(parents=True, exist_ok=True)
        _write_ahead_log(lake_dir / CATALOG_FILE)
    con.execute(_attach_statement(lake_dir, alias, read_only))


def _write_ahead_log(catalog: Path) -> None:
    """Create the catalog in SQLite's WAL mode (it stays so); an existing one is left alone.

    Why WAL: in the default rollback-journal mode a reader's open transaction keeps the
    publisher from committing, and DuckLake retries with backoff; measured here, a reader
    checking in a loop made 60-event publishes take 1.2-1.5 s instead of 0.2 s. With WAL
    neither waits. Only a new file is opened with Python's sqlite3: an existing one may be open
    in DuckDB's SQLite in this very process (lake_exists says why that must not meet another
    SQLite library).
    """
    if catalog.exists():
        return
    with contextlib.closing(sqlite3.connect(catalog)) as db:
        db.execute("PRAGMA journal_mode=WAL")


def attach_sql(lake_dir: Path) -> str:
    """The statements that attach the lake read-only in one's own DuckDB session (1.5.5)."""
    loads = [
        f"LOAD {_quote(str(extension_path(name)))};" for name in ("sqlite_scanner", "ducklake")
    ]
    return "\n".join([*loads, _attach_statement(lake_dir, "lake", True) + ";", "USE lake;"]) + "\n"


def lake_exists(lake_dir: Path) -> bool:
    """True once a first publish committed: the publisher then leaves PUBLISHED_MARKER.

    A file, not a look into the catalog: opening the catalog with Python's own sqlite3 in a
    process where DuckDB's SQLite has it open (the collector: reports beside the publisher)
    is two SQLite libraries on one file. POSIX locks are per process, so each believes it is
    alone; the one that closes last checkpoints and truncates the shared WAL files under the
    other's memory map, which ends in SIGBUS or "database disk image is malformed" (SQLite's
    "How To Corrupt", multiple copies of SQLite in one application)."""
    return (lake_dir / PUBLISHED_MARKER).is_file()


def _attach_statement(lake_dir: Path, alias: str, read_only: bool) -> str:
    catalog = _quote(f"ducklake:sqlite:{(lake_dir / CATALOG_FILE).absolute()}")
    data = _quote(f"{(lake_dir / DATA_DIR).absolute()}/")
    options = f"DATA_PATH {data}, OVERRIDE_DATA_PATH true" + (", READ_ONLY" if read_only else "")
    return f"ATTACH {catalog} AS {alias} ({options})"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class PublishResult:
    snapshot_id: int
    """The lake's newest snapshot after this publish."""
    events: int
    """Events appended."""
    sessions_changed: int
    """`sessions` rows the fold inserted or changed (published once they have a start)."""
    seconds: float


@dataclass(frozen=True)
class _Collected:
    """What a publish copies, read in one snapshot of the collector's database."""

    after_rowid: int
    refresh: Refresh
    staged: dict[str, pa.Table]
    fingerprints: dict[str, str]

    @property
    def changes_anything(self) -> bool:
        return bool(
            self.refresh.last_rowid != self.after_rowid
            or self.refresh.sessions_changed.num_rows
            or self.refresh.devices_changed.num_rows
            or self.staged
        )


class Publisher:
    """Publishes the collector's committed state into the lake; one thread at a time.

    `con` is a connection of its own (Store.cursor()) whose default database is the
    collector's: its reads and the lake's writes never block the writer's commits (MVCC; they
    share the CPU: measured on 2 cores, an ingest commit took 40-60 ms instead of 25 ms while a
    publish ran).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        lake_dir: Path,
        *,
        merge_every: int = 10,
        alias: str = "lake",
    ) -> None:
        self.lake_dir = lake_dir
        self.merge_every = merge_every
        self.publishes = 0
        self._con = con
        self._alias = alias
        self._state: tuple[int, dict[str, str]] | None = None  # None: read it from the lake
        self._tables_checked = False
        attach_lake(con, lake_dir, read_only=False, alias=alias)

    def publish_once(self) -> PublishResult:
        """Refresh the derived tables, then copy what changed in one lake transaction."""
        started = time.perf_counter()
        try:
            after, published = self._state or self._read_state()
            collected = self._collect(after, published)
            events = self._write(collected) if collected.changes_anything else 0
        except BaseException:
            # Whatever committed, the lake's publish_state and tables say where it is.
            self._state = None
            self._tables_checked = False
            raise
        self._state = (collected.refresh.last_rowid, collected.fingerprints)
        if collected.changes_anything:
            self._mark_published()
        seconds = time.perf_counter() - started
        changed = collected.refresh.sessions_changed.num_rows
        if collected.changes_anything:
            self.publishes += 1
            if self.merge_every and self.publishes % self.merge_every == 0:
                self._maintain_logged()
        return PublishResult(self._snapshot_id(), events, changed, seconds)

    def maintain(
        self,
        *,
        snapshot_retention: timedelta = SNAPSHOT_RETENTION,
        file_grace: timedelta = FILE_GRACE,
    ) -> None:
        """Merge small files, expire old snapshots, delete unreferenced files (lake_upkeep.py)."""
        maintain_lake(
            self._con, self._alias, snapshot_retention=snapshot_retention, file_grace=file_grace
        )

    def close(self) -> None:
        """Detach the lake (the connection stays the caller's)."""
        try:
            self._con.execute(f"DETACH DATABASE IF EXISTS {self._alias}")
        except duckdb.Error as exc:
            log.warning("detaching the lake failed: %s", exc)

    def _maintain_logged(self) -> None:
        started = time.perf_counter()
        try:
            self.maintain()
        except duckdb.Error:
            log.exception("lake maintenance failed; publishing goes on")
            return
        log.info("lake maintained in %.2f s", time.perf_counter() - started)

    def _read_state(self) -> tuple[int, dict[str, str]]:
        """The published watermark and table fingerprints; nothing before the first publish."""
        exists = self._con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
            [self._alias, STATE_TABLE],
        ).fetchone()
        if not exists or not exists[0]:
            return NOTHING_FOLDED, {}
        self._mark_published()  # a lake published before the marker existed
        row = self._con.execute(
            f"SELECT last_rowid, fingerprints FROM {self._alias}.{STATE_TABLE}"
        ).fetchone()
        if row is None:
            return NOTHING_FOLDED, {}
        last_rowid, fingerprints = row
        self._check_same_database(int(last_rowid))
        return int(last_rowid), dict(json.loads(fingerprints))

    def _mark_published(self) -> None:
        marker = self.lake_dir / PUBLISHED_MARKER
        if not marker.exists():
            marker.write_text("a publish has committed; see collector/lake.py\n")

    def _check_same_database(self, last_rowid: int) -> None:
        """A lake ahead of the database was published from another one: appending to it would
        skip events. Moving the lake aside makes the next publish start it anew."""
        row = self._con.execute("SELECT coalesce(max(rowid), -1) FROM events").fetchone()
        stored = int(row[0]) if row else NOTHING_FOLDED
        if stored < last_rowid:
            raise LakeMismatch(
                f"{self.lake_dir} holds events up to rowid {last_rowid}, the database only up to"
                f" {stored}: it was published from another database; move it aside"
            )

    def _collect(self, after: int, published: dict[str, str]) -> _Collected:
        """One transaction of the collector's database: fold the derived tables, and read the
        small tables that changed, as committed together with the events up to last_rowid."""
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            refresh = refresh_derived(con, after)
            fingerprints, staged = self._stage_small_tables(published)
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise
        return _Collected(after, refresh, staged, fingerprints)

    def _stage_small_tables(
        self, published: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, pa.Table]]:
        """Every small table's fingerprint, and the rows of those that changed since published
        (read into memory: the lake transaction comes after this one, and must not see later
        commits of device_seq or seq_gaps)."""
        fingerprints = _fingerprints(self._con)
        staged = {
            table: self._con.execute(f"SELECT {_columns(table)} FROM {table}").to_arrow_table()
            for table, fingerprint in fingerprints.items()
            if published.get(table) != fingerprint
        }
        return fingerprints, staged

    def _write(self, collected: _Collected) -> int:
        """One lake transaction; returns the number of events appended."""
        con, lake = self._con, self._alias
        refresh = collected.refresh
        con.execute("BEGIN TRANSACTION")
        try:
            self._create_missing_tables()
            row = con.execute(
                f"INSERT INTO {lake}.{APPENDED} BY NAME SELECT {_columns(APPENDED)}"
                f" FROM {APPENDED} WHERE rowid > $after AND rowid <= $last",
                {"after": collected.after_rowid, "last": refresh.last_rowid},
            ).fetchone()
            self._replace_by_key("sessions", refresh.sessions_changed, "started_at IS NOT NULL")
            self._replace_by_key("device_health", refresh.devices_changed, "true")
            for table, rows in collected.staged.items():
                con.execute(f"DELETE FROM {lake}.{table}")
                with_table(con, "staged", rows, f"INSERT INTO {lake}.{table} BY NAME FROM staged")
            self._write_state(refresh.last_rowid, collected.fingerprints)
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise
        return int(row[0]) if row else 0

    def _replace_by_key(self, table: str, keys: pa.Table, published_rows: str) -> None:
        """Delete the rows of these keys and insert them as they are now (ids come as text)."""
        if not keys.num_rows:
            return
        con, lake = self._con, self._alias
        types = self._table_columns(table)
        key_columns = REPLACED_BY_KEY[table]
        typed = ", ".join(f"{key}::{types[key]} AS {key}" for key in key_columns)
        match = " AND ".join(f"t.{key} = k.{key}" for key in key_columns)
        changed = f"(SELECT {typed} FROM keys) AS k"
        with registered(con, "keys", keys):
            con.execute(f"DELETE FROM {lake}.{table} AS t USING {changed} WHERE {match}")
            con.execute(
                f"INSERT INTO {lake}.{table} BY NAME SELECT t.* FROM {table} AS t"
                f" SEMI JOIN {changed} ON {match} WHERE {published_rows}"
            )

    def _write_state(self, last_rowid: int, fingerprints: dict[str, str]) -> None:
        """One row, so the catalog holds it inline: no Parquet file per publish."""
        lake = self._alias
        self._con.execute(f"DELETE FROM {lake}.{STATE_TABLE}")
        self._con.execute(
            f"INSERT INTO {lake}.{STATE_TABLE} VALUES (?, ?, make_timestamp(?))",
            [last_rowid, json.dumps(fingerprints, sort_keys=True), time.time_ns() // 1000],
        )

    def _create_missing_tables(self) -> None:
        """On first publish, every published table as in the collector (names and types);
        later, columns a newer schema added to the collector's tables."""
        if self._tables_checked:
            return
        con, lake = self._con, self._alias
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {lake}.{STATE_TABLE} (last_rowid BIGINT NOT NULL,"
            " fingerprints VARCHAR NOT NULL, published_at TIMESTAMP NOT NULL)"
        )
        for table in PUBLISHED_TABLES:
            columns = self._table_columns(table)
            if not self._table_columns(table, lake):
                con.execute(
                    f"CREATE TABLE {lake}.{table} AS SELECT {_columns(table)} FROM {table}"
                    " WITH NO DATA"
                )
                continue
            missing = set(columns) - set(self._table_columns(table, lake))
            for name, data_type in columns.items():
                if name in missing:
                    con.execute(f'ALTER TABLE {lake}.{table} ADD COLUMN "{name}" {data_type}')
        self._tables_checked = True

    def _table_columns(self, table: str, database: str | None = None) -> dict[str, str]:
        rows = self._con.execute(
            "SELECT column_name, data_type FROM duckdb_columns()"
            " WHERE database_name = coalesce(?, current_database()) AND table_name = ?"
            " ORDER BY column_index",
            [database, table],
        ).fetchall()
        hidden = UNPUBLISHED_COLUMNS.get(table, ()) if database is None else ()
        return {name: data_type for name, data_type in rows if name not in hidden}

    def _snapshot_id(self) -> int:
        row = self._con.execute(
            f"SELECT id FROM ducklake_current_snapshot({_quote(self._alias)})"
        ).fetchone()
        return int(row[0]) if row else 0


def _columns(table: str) -> str:
    hidden = UNPUBLISHED_COLUMNS.get(table)
    return f"* EXCLUDE ({', '.join(hidden)})" if hidden else "*"


def _fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Per small table, its row count and the sum of its row hashes: equal contents, equal
    fingerprint, in any order (one query: a publish runs it every time)."""
    sql = " UNION ALL ".join(
        f"SELECT '{table}', count(*) || ':' || coalesce(sum(hash(t)), 0)"
        f" FROM (SELECT {_columns(table)} FROM {table}) AS t"
        for table in REPLACED_WHOLE
    )
    return {str(table): str(fingerprint) for table, fingerprint in con.execute(sql).fetchall()}


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error as exc:
        log.warning("rollback failed after a failed publish: %s", exc)
