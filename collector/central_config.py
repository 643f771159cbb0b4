"""The catalogs and agent configs IMS publishes to every agent: checked, stored, served by version.

    check_file   a pushed file, validated by the agent's own validators (agent/catalog.py,
                 agent/config.py `parse_central_config`: the collector may import agent code,
                 never the reverse), so that nothing is served that an agent would refuse
    store_file   kept in central_files if newer than every earlier push of its kind; a catalog
                 also becomes catalog_apps, in the same transaction (reports name its apps)
    list_files   what was pushed, by whom, when; newest (the one served) first
    ServedFiles  what GetConfig answers, in the RPC process

Versions are numbers separated by dots, compared number by number (agent/versions.py): the
newest valid file wins, on the agents as here. A catalog must also be newer than the one the
agents ship with, which they would otherwise ignore.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from agent.catalog import CatalogError, load_catalog, parse_catalog
from agent.config import ConfigError, parse_central_config
from agent.layered_settings import toml_value
from agent.versions import DOTTED, is_newer
from collector.catalog_apps import Row, catalog_rows, write_catalog_apps
from collector.writer import WriterLike

KINDS = ("catalog", "agent_config")
MAX_FILE_BYTES = 1024 * 1024
"""Largest file accepted: the packaged catalog of 160 apps is ~60 KiB, and every agent
downloads each new one."""
_TS = "make_timestamp(?::BIGINT * 1000)"  # ms since the epoch -> TIMESTAMP (UTC)
CACHE_S = 1.0
"""How long GetConfig answers from what it last read: a push is served within a second."""


class CentralFileError(ValueError):
    """A push is refused; the message names the file and, from the validator, the app or key."""


@dataclass(frozen=True)
class CheckedFile:
    """A pushed file that the agent's validator took; plain data, it crosses to the writer."""

    kind: str
    file_name: str
    version: str
    text: str
    sha256: str
    size_bytes: int
    summary: str
    apps: list[Row] | None
    """A catalog's apps, for catalog_apps; None for an agent config."""


@dataclass(frozen=True)
class CentralFileRecord:
    kind: str
    version: str
    file_name: str
    sha256: str
    size_bytes: int
    pushed_at_ms: int
    pushed_by: str
    summary: str


def check_file(kind: str, file_name: str, content: bytes) -> CheckedFile:
    """The file as agents will read it, or CentralFileError saying what is wrong."""
    if kind not in KINDS:
        raise CentralFileError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    if len(content) > MAX_FILE_BYTES:
        raise CentralFileError(
            f"{file_name}: {len(content)} bytes, more than the {MAX_FILE_BYTES} allowed"
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise CentralFileError(f"{file_name}: not UTF-8 text") from None
    version, summary, apps = _validate(kind, file_name, text)
    if not DOTTED.fullmatch(version):
        raise CentralFileError(
            f"{file_name}: version: {version!r} is not numbers separated by dots (2026.11.2):"
            " agents compare versions number by number"
        )
    digest = hashlib.sha256(content).hexdigest()
    return CheckedFile(kind, file_name, version, text, digest, len(content), summary, apps)


def _validate(kind: str, file_name: str, text: str) -> tuple[str, str, list[Row] | None]:
    """(version, summary, apps) by the agent's own validator."""
    if kind == "agent_config":
        try:
            settings = parse_central_config(text, file_name)
        except ConfigError as error:
            raise CentralFileError(str(error)) from None
        summary = ", ".join(f"{k} = {toml_value(v)}" for k, v in settings.values.items())
        return settings.version, summary or "sets nothing", None
    try:
        catalog = parse_catalog(text, file_name)
    except CatalogError as error:
        raise CentralFileError(str(error)) from None
    shipped = load_catalog().version
    if not is_newer(catalog.version, shipped):
        raise CentralFileError(
            f"{file_name}: version {catalog.version} is not newer than {shipped}, the catalog"
            " agents ship with: they would ignore it"
        )
    apps = len(catalog.apps)
    return catalog.version, f"{apps} app{'' if apps == 1 else 's'}", catalog_rows(catalog).rows


def store_file(
    con: duckdb.DuckDBPyConnection, checked: CheckedFile, *, pushed_by: str, now_ms: int
) -> CentralFileRecord:
    """Keep the file as the one served, if it is newer than every earlier push of its kind."""
    newest = con.execute(
        """SELECT seq, version, file_name, pushed_by, strftime(pushed_at, '%Y-%m-%d %H:%M UTC')
           FROM central_files WHERE kind = ? ORDER BY seq DESC LIMIT 1""",
        [checked.kind],
    ).fetchone()
    if newest is not None and not is_newer(checked.version, newest[1]):
        raise CentralFileError(
            f"{checked.file_name}: version {checked.version} is not newer than"
            f" {newest[1]}, served since {newest[4]} ({newest[2]}, pushed by {newest[3]});"
            " give the file a newer version"
        )
    con.execute(
        f"INSERT INTO central_files VALUES (?, ?, ?, ?, ?, ?, ?, {_TS}, ?)",
        [
            checked.kind,
            (newest[0] if newest else 0) + 1,
            checked.version,
            checked.text,
            checked.sha256,
            checked.file_name,
            checked.summary,
            now_ms,
            pushed_by,
        ],
    )
    if checked.apps is not None:
        write_catalog_apps(con, checked.apps)
    return CentralFileRecord(
        checked.kind,
        checked.version,
        checked.file_name,
        checked.sha256,
        checked.size_bytes,
        now_ms,
        pushed_by,
        checked.summary,
    )


def list_files(con: duckdb.DuckDBPyConnection, kind: str) -> list[CentralFileRecord]:
    """Every push of `kind`, newest (the one served) first."""
    if kind not in KINDS:
        raise CentralFileError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    rows = con.execute(
        """SELECT kind, version, file_name, sha256, strlen(content),
                  epoch_ms(pushed_at), pushed_by, summary
           FROM central_files WHERE kind = ? ORDER BY seq DESC""",
        [kind],
    ).fetchall()
    return [CentralFileRecord(*row) for row in rows]


@dataclass(frozen=True)
class ServedFile:
    seq: int
    version: str
    text: str


@dataclass(frozen=True)
class Answer:
    """GetConfig's answer: the versions served, and a file only where it is newer."""

    config_version: str = ""
    catalog_version: str = ""
    config_toml: str = ""
    catalog_toml: str = ""


class ServedFiles:
    """The newest file of each kind, as GetConfig serves it.

    Read again from the database at most every CACHE_S, a file's text only when a newer push
    arrived: a fleet of 20,000 agents polling costs the writer one small query a second, not
    one each. Pushes come through AdminService, a second's delay is nothing beside the agents'
    poll interval, and the database stays the one place that says what is served.
    """

    def __init__(
        self,
        writer: WriterLike,
        cache_s: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._writer = writer
        self._cache_s = cache_s
        self._clock = clock
        self._files: dict[str, ServedFile] = {}
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    async def answer(self, config_version: str, catalog_version: str) -> Answer:
        """What to send an agent that has these versions."""
        files = await self._current()
        config, catalog = files.get("agent_config"), files.get("catalog")
        return Answer(
            config_version=config.version if config else "",
            catalog_version=catalog.version if catalog else "",
            config_toml=config.text if config and is_newer(config.version, config_version) else "",
            catalog_toml=(
                catalog.text if catalog and is_newer(catalog.version, catalog_version) else ""
            ),
        )

    async def _current(self) -> dict[str, ServedFile]:
        if not self._stale():
            return self._files
        async with self._lock:
            if self._stale():
                self._files = await asyncio.to_thread(self._read, dict(self._files))
                self._read_at = self._clock()
        return self._files

    def _stale(self) -> bool:
        return self._read_at is None or self._clock() - self._read_at >= self._cache_s

    def _read(self, files: dict[str, ServedFile]) -> dict[str, ServedFile]:
        newest = self._writer.rows("SELECT kind, max(seq) FROM central_files GROUP BY kind")
        for kind, seq in newest:
            if kind in files and files[kind].seq == seq:
                continue
            [(version, text)] = self._writer.rows(
                "SELECT version, content FROM central_files WHERE kind = ? AND seq = ?",
                [kind, seq],
            )
            files[kind] = ServedFile(seq, version, text)
        return files
