"""A small world of two organisations in a real DuckDB file with the collector's schema, for the
report tests. Rows go in with plain SQL INSERTs, as the collector and the imports store them.

Who is who (every roster row valid from 2026-01-01; times are naive UTC, Denver is UTC-7 in
November):

    city     wg-parks  director E100 Dana Dogwood; E101 Ann Alder (manager E100) until
                       MOVE = Wed 2026-11-18 12:00, then wg-fin (manager E200);
                       E102 Bob Birch (manager E100)
    city     wg-fin    director E200 Finn Fir
    library  wg-main   director L100 Lee Larch; L101 Liz Lime (manager L100)

    device      org      ownership  enrolled for  host name    assigned (lower-case) to
    d-ann       city     employer   E101          ANN-LAPTOP   ann-laptop -> E101
    d-bob       city     employer   E102          bob-pc       bob-pc -> E102
    d-finn      city     employer   E200          finn-pc      finn-pc -> E200
    d-bob-phone city     personal   E102          bob-phone    (none: enrollment's E102)
    d-liz       library  employer   L101          liz-desk     liz-desk -> L101
    d-kiosk     library  employer   L100          kiosk-1      (none: enrollment's L100)
    (none)                                                     fin-spare -> E200, never enrolled

Catalog: outlook (email, business), zoom (teleconferencing, business), youtube (video_sharing,
personal), facebook (social_networking, personal), slack (instant_messaging, mixed).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from analytics.run import run_report
from collector.schema import apply_migrations

SINCE = datetime(2026, 1, 1, 7)
MOVE = datetime(2026, 11, 18, 12)
WEEK_FROM = datetime(2026, 11, 16)  # 2026-W47, Monday 00:00 UTC
WEEK_TO = datetime(2026, 11, 23)
ENROLLED = datetime(2026, 10, 1)

WORKGROUPS = [
    ("wg-parks", "city", "Parks", "E100"),
    ("wg-fin", "city", "Finance", "E200"),
    ("wg-main", "library", "Main Library", "L100"),
]
# employee_id, org, full_name, workgroup_id, manager_id, valid_from, valid_to
EMPLOYEES = [
    ("E100", "city", "Dana Dogwood", "wg-parks", None, SINCE, None),
    ("E101", "city", "Ann Alder", "wg-parks", "E100", SINCE, MOVE),
    ("E101", "city", "Ann Alder", "wg-fin", "E200", MOVE, None),
    ("E102", "city", "Bob Birch", "wg-parks", "E100", SINCE, None),
    ("E200", "city", "Finn Fir", "wg-fin", None, SINCE, None),
    ("L100", "library", "Lee Larch", "wg-main", None, SINCE, None),
    ("L101", "library", "Liz Lime", "wg-main", "L100", SINCE, None),
]
# device_id, org, ownership, employee_id, hostname
DEVICES = [
    ("d-ann", "city", "employer", "E101", "ANN-LAPTOP"),
    ("d-bob", "city", "employer", "E102", "bob-pc"),
    ("d-finn", "city", "employer", "E200", "finn-pc"),
    ("d-bob-phone", "city", "personal", "E102", "bob-phone"),
    ("d-liz", "library", "employer", "L101", "liz-desk"),
    ("d-kiosk", "library", "employer", "L100", "kiosk-1"),
]
ASSIGNMENTS = [
    ("ann-laptop", "city", "E101"),
    ("bob-pc", "city", "E102"),
    ("finn-pc", "city", "E200"),
    ("liz-desk", "library", "L101"),
    ("fin-spare", "city", "E200"),
]
CATALOG = [
    ("outlook", "email", "business"),
    ("zoom", "teleconferencing", "business"),
    ("youtube", "video_sharing", "personal"),
    ("facebook", "social_networking", "personal"),
    ("slack", "instant_messaging", "mixed"),
]
CATEGORY = {app_id: category for app_id, category, _ in CATALOG}


class World:
    """The world above plus what each test adds; `rows` runs a report the way the CLI does."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._seq: dict[str, int] = {}

    def sql(self, statement: str, *values: object) -> None:
        self.con.execute(statement, list(values))

    def session(
        self,
        device: str,
        app_id: str,
        start: datetime | None,
        minutes: float,
        end_reason: str = "exited",
        *,
        surfaces: list[str] | None = None,
        foreground_ms: int | None = None,
    ) -> None:
        """One row of the collector's sessions table; start None is a row whose app_started
        has not arrived yet. No surfaces: a session from an agent too old to name them."""
        ended = start + timedelta(minutes=minutes) if start else None
        self.sql(
            "INSERT INTO sessions (device_id, session_id, os_user, app_id, category, started_at,"
            " duration_ms, stop_reason, ended_at, end_reason, surfaces, foreground_ms) VALUES"
            " (?, ?, 'user', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            device, uuid.uuid4(), app_id, CATEGORY[app_id], start, round(minutes * 60000),
            end_reason, ended, end_reason, surfaces, foreground_ms,
        )  # fmt: skip

    def restriction(
        self,
        restriction_id: str,
        workgroup: str,
        effective_from: datetime,
        *,
        app_id: str | None = None,
        category: str | None = None,
        effective_to: datetime | None = None,
        windows: Sequence[tuple[int, int, int]] = (),
        version: int = 1,
    ) -> None:
        """A restriction version; windows are (iso_day, start_minute, end_minute), local."""
        org = next(org for wg, org, _, _ in WORKGROUPS if wg == workgroup)
        self.sql(
            "INSERT INTO restrictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 'E100', 'test',"
            " ?, 'admin')",
            restriction_id, version, org, workgroup, category, app_id, effective_from,
            effective_to, effective_from,
        )  # fmt: skip
        for iso_day, start_minute, end_minute in windows:
            self.sql(
                "INSERT INTO restriction_windows VALUES (?, ?, ?, ?, ?)",
                restriction_id, version, iso_day, start_minute, end_minute,
            )  # fmt: skip

    def event(self, device: str, kind: str, at: datetime, **columns: object) -> None:
        """One events row (only what reports read), each device's seq counting from 1."""
        seq = self._seq[device] = self._seq.get(device, 0) + 1
        names = ["device_id", "seq", "event_id", "kind", "occurred_at", "received_at", "raw"]
        values: list[object] = [device, seq, uuid.uuid4(), kind, at, at, b"", *columns.values()]
        names += list(columns)
        marks = ", ".join("?" for _ in values)
        self.sql(f"INSERT INTO events ({', '.join(names)}) VALUES ({marks})", *values)

    def training(self, employee: str, completed_on: date, course: str = "ecp") -> None:
        self.sql("INSERT INTO training_records VALUES (?, ?, ?, 'imp')", employee, course,
                 completed_on)  # fmt: skip

    def rows(self, report: str, **params: object) -> list[dict[str, object]]:
        """Report rows as dicts; params override the week, no filters, 24 silent hours."""
        given: dict[str, object] = {
            "from": WEEK_FROM,
            "to": WEEK_TO,
            "org": None,
            "workgroup": None,
            "scope": None,
            "device": None,
            "silent_hours": 24,
        }
        result = run_report(self.con, report, given | params)
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def build_world(path: Path) -> World:
    """The two organisations' roster, devices and catalog in a new database file at `path`."""
    con = duckdb.connect(str(path))
    apply_migrations(con)
    world = World(con)
    for workgroup_id, org, name, director in WORKGROUPS:
        world.sql("INSERT INTO workgroups VALUES (?, ?, ?, ?, ?, NULL, 'imp')",
                  workgroup_id, org, name, director, SINCE)  # fmt: skip
    for employee_id, org, name, workgroup, manager, valid_from, valid_to in EMPLOYEES:
        world.sql(
            "INSERT INTO employees VALUES (?, ?, ?, NULL, ?, ?, ?, ?, 'imp')",
            employee_id, org, name, workgroup, manager, valid_from, valid_to,
        )  # fmt: skip
    for device_id, org, ownership, employee, hostname in DEVICES:
        world.sql(
            "INSERT INTO devices (device_id, key_sha256, org, ownership, employee_id, hostname,"
            " token_id, enrolled_at) VALUES (?, '', ?, ?, ?, ?, 'tok', ?)",
            device_id, org, ownership, employee, hostname, ENROLLED,
        )  # fmt: skip
    for hostname, org, employee in ASSIGNMENTS:
        world.sql("INSERT INTO device_assignments VALUES (?, ?, ?, ?, NULL, 'imp')",
                  hostname, org, employee, SINCE)  # fmt: skip
    for app_id, category, use in CATALOG:
        world.sql("INSERT INTO catalog_apps VALUES (?, ?, 'vendor', ?, ?)",
                  app_id, app_id.title(), category, use)  # fmt: skip
    return world
