"""An analyst in another process: attaches the published lake read-only and checks, snapshot
after snapshot, that what it reads agrees with itself. Run by test_lake.py as

    python -m tests.collector.lake_reader LAKE_DIR STOP_FILE

until STOP_FILE exists; then it checks once more and prints one JSON object: the snapshots it
read and every inconsistency it found (none, if publishing is right).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

from collector.lake import attach_lake, lake_exists

# Each names the rows that break one rule; all are read in one transaction (one snapshot).
CHECKS = {
    # Per device the published seqs are exactly 1..n (one Report's events land together).
    "seqs_with_a_hole": """
        SELECT device_id, count(*), count(DISTINCT seq), min(seq), max(seq) FROM events
        GROUP BY device_id HAVING count(*) <> max(seq) OR count(DISTINCT seq) <> count(*)
            OR min(seq) <> 1""",
    # device_seq was committed with those events: acked_seq is their count (no gaps here).
    "acked_seq_disagrees": """
        SELECT coalesce(e.device_id, d.device_id), e.n, d.acked_seq
        FROM (SELECT device_id, count(*) AS n FROM events GROUP BY device_id) AS e
        FULL JOIN device_seq AS d USING (device_id)
        WHERE e.n IS DISTINCT FROM d.acked_seq""",
    # A published session has its app_started published.
    "session_without_start": """
        SELECT s.device_id, s.session_id FROM sessions AS s
        ANTI JOIN events AS e ON e.device_id = s.device_id AND e.session_id = s.session_id
            AND e.kind = 'app_started'""",
    # Every published app_started has its session, ended as its published stop says.
    "start_without_session": """
        SELECT e.device_id, e.session_id FROM events AS e
        ANTI JOIN sessions AS s USING (device_id, session_id) WHERE e.kind = 'app_started'""",
    "end_disagrees_with_stop": """
        SELECT s.device_id, s.session_id, s.end_reason FROM sessions AS s
        JOIN events AS e USING (device_id, session_id)
        WHERE e.kind = 'app_stopped' AND (s.end_reason IS DISTINCT FROM e.stop_reason
            OR s.ended_at <> s.started_at + to_milliseconds(e.duration_ms::BIGINT))""",
    # device_health saw the same events: its latest heartbeat is the latest published.
    "health_disagrees": """
        SELECT h.device_id FROM device_health AS h
        JOIN (SELECT device_id, max(occurred_at) AS beat FROM events
              WHERE kind = 'heartbeat' GROUP BY device_id) AS e USING (device_id)
        WHERE h.last_heartbeat_at IS DISTINCT FROM e.beat""",
}


def check(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """One snapshot: its id, its event count, and the rows breaking each rule (as text)."""
    con.execute("BEGIN TRANSACTION")
    try:
        row = con.execute("SELECT count(*) FROM events").fetchone()
        events = int(row[0]) if row else 0
        broken = {
            name: [str(bad) for bad in con.execute(sql).fetchall()] for name, sql in CHECKS.items()
        }
        snapshot = con.execute("SELECT id FROM ducklake_current_snapshot('lake')").fetchone()
    finally:
        con.execute("COMMIT")
    return {
        "snapshot": int(snapshot[0]) if snapshot else 0,
        "events": events,
        "broken": {name: rows for name, rows in broken.items() if rows},
    }


def main(lake_dir: Path, stop_file: Path, progress_file: Path) -> None:
    """Read every snapshot until `stop_file` appears; after each read, write how many distinct
    event counts it has seen to `progress_file`, so the test can pace its sending to the reads
    (on a loaded host one read can take longer than several publishes)."""
    while not lake_exists(lake_dir):
        time.sleep(0.02)
    con = duckdb.connect()
    attach_lake(con, lake_dir, read_only=True)
    con.execute("USE lake")
    reads: list[dict[str, Any]] = []
    errors: list[str] = []
    while True:
        last = stop_file.exists()  # the collector stopped: its final publish is in
        try:
            reads.append(check(con))
        except duckdb.Error as exc:
            errors.append(str(exc))
        progress_file.write_text(str(len({read["events"] for read in reads})))
        if last:
            break
        time.sleep(0.02)  # leave the collector the CPU: the host may have two cores
    con.close()
    print(
        json.dumps(
            {
                "reads": len(reads),
                "event_counts": sorted({read["events"] for read in reads}),
                "snapshots": sorted({read["snapshot"] for read in reads}),
                "broken": [read for read in reads if read["broken"]][:5],
                "errors": errors[:5],
                "final": reads[-1] if reads else None,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
