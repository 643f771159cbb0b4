"""The catalog's apps in the database, so reports know each app's `use` (business | personal |
mixed: the personal-use report, §4.1), name and category, and restrictions may name an app.

They are the apps of the newest catalog the collector knows: the one packaged with it (the same
file the agents ship with), or the newest one IMS pushed to the fleet (collector/central_config.py)
when that is newer. Set at start and again at each push, in the push's own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from agent.catalog import Catalog, parse_catalog
from agent.versions import is_newer
from collector.store import with_table

Row = tuple[str, str, str, str, str]

_NEWEST_PUSHED = """
SELECT version, content FROM central_files WHERE kind = 'catalog' ORDER BY seq DESC LIMIT 1
"""


@dataclass(frozen=True)
class CatalogRows:
    """A catalog's version and apps as plain tuples: they cross the pipe to the writer process."""

    version: str
    rows: list[Row]


def catalog_rows(catalog: Catalog) -> CatalogRows:
    return CatalogRows(
        catalog.version,
        [(app.id, app.name, app.vendor, app.category, app.use) for app in catalog.apps],
    )


def replace_catalog_apps(con: duckdb.DuckDBPyConnection, packaged: CatalogRows) -> int:
    """At start: the table becomes the apps of `packaged`, or of the newest pushed catalog when
    that is newer; returns how many."""
    pushed = con.execute(_NEWEST_PUSHED).fetchone()
    if pushed is not None and is_newer(pushed[0], packaged.version):
        packaged = catalog_rows(parse_catalog(pushed[1], f"pushed catalog {pushed[0]}"))
    return write_catalog_apps(con, packaged.rows)


def write_catalog_apps(con: duckdb.DuckDBPyConnection, rows: list[Row]) -> int:
    """The table becomes exactly `rows`; returns how many."""
    names = ["app_id", "name", "vendor", "category", "use"]
    apps = pa.Table.from_pylist(
        [dict(zip(names, row, strict=True)) for row in rows],
        schema=pa.schema([(name, pa.string()) for name in names]),
    )
    con.execute("DELETE FROM catalog_apps")
    with_table(
        con, "catalog_rows", apps, "INSERT INTO catalog_apps BY NAME SELECT * FROM catalog_rows"
    )
    return len(rows)
