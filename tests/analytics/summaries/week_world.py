"""A collector's database holding five weeks of one small organisation's use, for the summaries'
end-to-end tests: org_fixture.py's world (its roster, devices and catalog), directors' email
addresses, a restriction, training records, and events that the collector folds into sessions
when it starts.

2026-W47 (Mon 16 Nov - Sun 22 Nov), as each director should read it:

    E100 Dana Dogwood, wg-parks (dana@city.example)
        usage: d-bob email 1.5 h Mon, video 0.5 h Tue, teleconferencing 1 h Sun
        violations: Bob Birch, youtube, Tue 10:00, 30 min (R-video, from Tue)
        overdue training: Dana Dogwood (never)
        silent: bob-phone (never heard from)
    E200 Finn Fir, wg-fin (finn@city.example)
        usage: d-finn facebook 0.5 h Thu
        violations: Finn Fir, facebook, Thu 16:00 UTC (09:00 local), 30 min (R-fb, office hours)
        overdue training: Ann Alder (never; in wg-fin since Wednesday), Finn Fir (2025)
        silent: none (d-ann has no events but belongs to E101, who moved to wg-fin: silent)
    L100 Lee Larch, wg-main (no address in the roster)

Earlier weeks: d-bob email 2 h in W45, video 0.75 h in W46 (before the restriction).
"""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path

from collector.enrollment import add_operator
from tests.analytics.event_rows import EventLog
from tests.analytics.org_fixture import build_world
from tests.analytics.test_violations import OFFICE_HOURS

WEEK = "2026-W47"
EMAILS = {"E100": "dana@city.example", "E200": "finn@city.example"}


def build_week_world(database: Path) -> str:
    """The database above at `database`; returns an admin operator's credential."""
    world = build_world(database)
    for employee, email in EMAILS.items():
        world.sql("UPDATE employees SET email = ? WHERE employee_id = ?", email, employee)
    world.restriction("R-video", "wg-parks", datetime(2026, 11, 17, 7), category="video_sharing")
    world.restriction("R-fb", "wg-fin", datetime(2026, 10, 1, 6), app_id="facebook",
                      windows=OFFICE_HOURS)  # fmt: skip
    world.training("E102", date(2026, 6, 1))
    world.training("E200", date(2025, 1, 1))
    world.training("L101", date(2026, 10, 1))
    credential = add_operator(world.con, "root", "admin", now_ms=time.time_ns() // 10**6)
    world.con.close()

    log = EventLog(database)
    log.session("d-bob", "outlook", datetime(2026, 11, 2, 9), minutes=120, user="bob")
    log.session("d-bob", "youtube", datetime(2026, 11, 11, 10), minutes=45, user="bob",
                category="video_sharing")  # fmt: skip
    log.session("d-bob", "outlook", datetime(2026, 11, 16, 9), minutes=90, user="bob")
    log.session("d-bob", "youtube", datetime(2026, 11, 17, 10), minutes=30, user="bob",
                category="video_sharing")  # fmt: skip
    log.session("d-bob", "zoom", datetime(2026, 11, 22, 20), minutes=60, user="bob",
                category="teleconferencing")  # fmt: skip
    log.heartbeat("d-bob", datetime(2026, 11, 22, 23, 30), [])
    log.session("d-finn", "facebook", datetime(2026, 11, 19, 16), minutes=30, user="finn",
                category="social_networking")  # fmt: skip
    log.heartbeat("d-finn", datetime(2026, 11, 22, 23), [])
    log.session("d-liz", "slack", datetime(2026, 11, 18, 14), minutes=60, user="liz",
                category="instant_messaging")  # fmt: skip
    log.heartbeat("d-kiosk", datetime(2026, 11, 22, 22), [])
    log.close()
    return credential
