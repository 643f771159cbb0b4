"""Upkeep of the published lake with DuckLake's own functions (DESIGN.md §5: no hand-rolled lake).

Every publish adds small Parquet files and, for the rows it replaces, delete files; upkeep merges
them, rewrites files whose rows are mostly deleted, expires snapshots past the retention (never
the newest) and deletes the files no snapshot references any more, once no query can still be
reading them. It also deletes files a publisher killed mid-way left behind: none is ever in
flight, since publishing and upkeep take turns on one thread (publish_loop.py).

DuckLake 1.5.5 on a SQLite catalog compares `older_than` by calendar day (measured: a cutoff of
00:00:01 took files scheduled at 16:40 the same day, and snapshots alike). So snapshots to expire
are chosen here, by id; and files are deleted with a cutoff a whole day before the start of
(now - grace)'s day, which is safe whichever time zone that day is read in: a file is kept at
least the grace, at most two days longer.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb

SNAPSHOT_RETENTION = timedelta(days=1)
"""Snapshots older than this are expired (the newest is always kept)."""
FILE_GRACE = timedelta(hours=1)
"""How long a file no snapshot references is kept: a long query may still be reading it."""


def maintain_lake(
    con: duckdb.DuckDBPyConnection,
    alias: str,
    *,
    snapshot_retention: timedelta = SNAPSHOT_RETENTION,
    file_grace: timedelta = FILE_GRACE,
) -> None:
    """Merge, rewrite, expire, then delete unreferenced and orphaned files, in the lake
    attached read-write as `alias`."""
    lake = f"'{alias}'"
    con.execute(f"SELECT count(*) FROM ducklake_merge_adjacent_files({lake})").fetchall()
    con.execute(f"SELECT count(*) FROM ducklake_rewrite_data_files({lake})").fetchall()
    expire_snapshots(con, alias, snapshot_retention)
    grace = {"age": file_grace.total_seconds()}
    before = "older_than => date_trunc('day', now() - to_seconds($age)) - INTERVAL 1 DAY"
    for function in ("ducklake_cleanup_old_files", "ducklake_delete_orphaned_files"):
        con.execute(f"SELECT count(*) FROM {function}({lake}, {before})", grace).fetchall()


def expire_snapshots(con: duckdb.DuckDBPyConnection, alias: str, retention: timedelta) -> int:
    """Expire the snapshots older than `retention` but the newest; how many were."""
    rows = con.execute(
        f"SELECT snapshot_id FROM {alias}.snapshots()"
        " WHERE snapshot_time < now() - to_seconds($age)"
        f" AND snapshot_id < (SELECT max(snapshot_id) FROM {alias}.snapshots())",
        {"age": retention.total_seconds()},
    ).fetchall()
    if rows:
        expire = f"ducklake_expire_snapshots('{alias}', versions => $ids)"
        ids = {"ids": [int(row[0]) for row in rows]}
        con.execute(f"SELECT count(*) FROM {expire}", ids).fetchall()  # runs as it is fetched
    return len(rows)
