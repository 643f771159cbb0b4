"""The catalog's apps, copied into the database at start so reports know each app's `use`
(business | personal | mixed: the personal-use report, §4.1) and name, from the same file the
agents ship with."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from agent.catalog import Catalog
from collector.store import with_table


def catalog_rows(catalog: Catalog) -> list[tuple[str, str, str, str, str]]:
    """Plain tuples: they cross the pipe to the writer process."""
    return [(app.id, app.name, app.vendor, app.category, app.use) for app in catalog.apps]


def replace_catalog_apps(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, str, str]]
) -> int:
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
