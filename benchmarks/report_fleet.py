"""A realistic fleet for the report benchmark, generated in SQL into a collector-shaped DuckDB file.

Two organisations (city 80% of the devices, library 20%), ~0.9 employees per device in
workgroups of ~150 under directors (some directing two), team leads every ten employees, ~2% of
employees moving workgroup mid-week; every device assigned by host name (plus a few dozen
assigned host names that never enrolled), ~5% personal devices, a few revoked; training mostly
current, ~10% overdue, ~3% never; ~40 restrictions (half by category, half by app, a third with
Mon-Fri 08:00-17:00 windows, a few ended mid-week); the personal-use report enabled.

Sessions: 30-60 a device per working day and a few at weekends, in the organisations' local
working hours (America/Denver) with evenings and sessions crossing midnight. They are written as
the events a collector stores (app_started, app_stopped, a heartbeat where an agent died and
each device's final one; not the one-a-minute heartbeats, which reports never read), beside
installs, removals and agent lifecycle events, in dense per-device seqs with a few hundred gaps.
`sessions` and `device_health` are left to the collector's own fold (session_table.py), which a
publish runs first: the lake then holds what a running collector would publish, no more.
Devices go silent, run old agents or clocks ahead only through the events they send.

Randomness (event ids aside) is `hash(key, salt)`, not `setseed()` + `random()`: DuckDB runs these
queries on all cores, and `random()` is then not reproducible, while a hash of the row's key is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from agent.catalog import load_catalog
from collector.schema import apply_migrations

FLEET_VERSION = 1
"""Bumped whenever the generated data changes, so a kept fleet (--keep) is not reused stale."""
WEEK_START = datetime(2026, 11, 16)  # Monday of ISO week 2026-W47, UTC
# Both organisations keep America/Denver time; in November that is MST, UTC-7 throughout, so a
# fixed offset places local working hours exactly (DST ended on 1 November 2026).
LOCAL_OFFSET_H = 7
AGENT_VERSION, OLD_AGENT_VERSION = "0.1.0", "0.0.9"
CATALOG_VERSION, OLD_CATALOG_VERSION = load_catalog().version, "2026.10.2"
TRAINING_COURSE = "Electronic Communication Policy"
# How often a session picks each app: most time goes to the organisations' own tools.
HEAVY_APPS = {"outlook": 40, "teams": 40, "zoom": 10, "webex": 5, "youtube": 3, "linkedin": 3}
USE_WEIGHT = {"business": 3, "mixed": 2, "personal": 1}


@dataclass(frozen=True)
class FleetShape:
    """How many of everything; each count scales with the devices."""

    devices: int
    days: int

    @property
    def city_devices(self) -> int:
        return round(self.devices * 0.8)

    @property
    def city_employees(self) -> int:
        return max(2, round(self.city_devices * 0.9))

    @property
    def library_employees(self) -> int:
        return max(2, round((self.devices - self.city_devices) * 0.9))

    @property
    def city_workgroups(self) -> int:
        return max(4, round(self.devices * 48 / 10_000))

    @property
    def library_workgroups(self) -> int:
        return max(2, round(self.devices * 12 / 10_000))

    @property
    def week_end(self) -> datetime:
        return WEEK_START + timedelta(days=self.days)

    @property
    def move_at(self) -> datetime:
        """Employees who change workgroup do so at local midnight half-way through the range."""
        return WEEK_START + timedelta(days=self.days // 2, hours=LOCAL_OFFSET_H)


def _macros(con: duckdb.DuckDBPyConnection, shape: FleetShape) -> None:
    """The shape as SQL macros, so every step below reads as plain SQL."""
    values = {
        "n_devices": shape.devices,
        "n_city_dev": shape.city_devices,
        "n_city_emp": shape.city_employees,
        "n_lib_emp": shape.library_employees,
        "n_city_wg": shape.city_workgroups,
        "n_lib_wg": shape.library_workgroups,
        "n_days": shape.days,
        "tz_hours": LOCAL_OFFSET_H,
        "week_start": f"TIMESTAMP '{WEEK_START}'",
        "week_end": f"TIMESTAMP '{shape.week_end}'",
        "move_at": f"TIMESTAMP '{shape.move_at}'",
        "roster_from": "TIMESTAMP '2024-01-01 07:00:00'",
    }
    for name, value in values.items():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}() AS {value}")
    # A uniform draw in [0, 1) from a row's key and a salt naming the draw. Hashed twice: the
    # two-argument hash(key, salt) only combines two hashes, so draws under different salts
    # would move together.
    con.execute(
        "CREATE OR REPLACE TEMP MACRO rnd(key, salt) AS"
        " hash(xor(hash(key), hash(salt))) / 2.0 ** 64"
    )


_PEOPLE = """
CREATE TEMP TABLE people AS
WITH base AS (
    SELECT e, e < n_city_emp() AS city,
           ['Ana','Ben','Chen','Dana','Eli','Fatima','Gus','Hana','Ivan','June','Kofi','Lena',
            'Mateo','Nia','Omar','Priya','Quinn','Rosa','Sam','Tara'][1 + e % 20] AS first,
           ['Smith','Garcia','Nguyen','Jensen','Young','Patel','Larsen','Kim','Martinez','Olsen',
            'Brown','Christensen','Lopez','Hansen','Tanaka','Peterson'][1 + (e // 20) % 16] AS last
    FROM range(n_city_emp() + n_lib_emp()) AS t(e)
)
SELECT e, printf('e%05d', e + 1) AS employee_id,
       CASE WHEN city THEN 'city' ELSE 'library' END AS org,
       -- uneven workgroup sizes, as real departments are
       floor(pow(rnd(e, 'wg'), 1.3) * CASE WHEN city THEN n_city_wg() ELSE n_lib_wg() END)::INT
           AS wg,
       first || ' ' || last AS full_name,
       lower(first || '.' || last || '.' || (e + 1)) || CASE WHEN city THEN '@slc.gov'
           ELSE '@slcpl.org' END AS email,
       lower(first[1] || last) || (e + 1) AS username
FROM base
"""

_WORKGROUPS = """
CREATE TEMP TABLE groups AS
WITH heads AS (SELECT org, wg, min(e) AS head FROM people GROUP BY org, wg)
SELECT org, wg, printf('wg-%s-%02d', org, wg + 1) AS workgroup_id,
       -- every seventh workgroup shares the director of the one before it
       CASE WHEN wg % 7 = 1 THEN lag(head) OVER (PARTITION BY org ORDER BY wg) ELSE head END
           AS director_e,
       ['Public Utilities','Police','Fire','Airport','Parks','Finance','Human Resources',
        'Justice Court','Community Development','Sustainability','Engineering','IMS'][1 + wg % 12]
           AS dept
FROM heads;
INSERT INTO workgroups
SELECT g.workgroup_id, g.org,
       CASE WHEN g.org = 'city' THEN g.dept ELSE 'Library Branch' END || ' ' || (g.wg + 1),
       p.employee_id, roster_from(), NULL, 'imp-workgroups'
FROM groups AS g LEFT JOIN people AS p ON p.e = g.director_e;
"""

_EMPLOYEES = """
CREATE TEMP TABLE ranked AS
SELECT p.*, row_number() OVER (PARTITION BY p.org, p.wg ORDER BY p.e) AS r,
       g.director_e,
       p.e IN (SELECT director_e FROM groups WHERE director_e IS NOT NULL) AS is_director
FROM people AS p JOIN groups AS g USING (org, wg);
CREATE TEMP TABLE movers AS
SELECT e FROM ranked WHERE NOT is_director AND rnd(e, 'move') < 0.02;
INSERT INTO employees
SELECT p.employee_id, p.org, p.full_name, p.email, g.workgroup_id,
       -- a team lead every ten people reports to the director, the rest to their lead
       CASE WHEN p.is_director THEN NULL
            WHEN (p.r - 1) % 10 = 0 THEN d.employee_id
            ELSE lead.employee_id END,
       roster_from(), CASE WHEN p.e IN (SELECT e FROM movers) THEN move_at() END, 'imp-employees'
FROM ranked AS p
JOIN groups AS g USING (org, wg)
LEFT JOIN people AS d ON d.e = p.director_e
LEFT JOIN ranked AS lead
    ON lead.org = p.org AND lead.wg = p.wg AND lead.r = (p.r - 1) // 10 * 10 + 1;
INSERT INTO employees
SELECT p.employee_id, p.org, p.full_name, p.email, g.workgroup_id, d.employee_id,
       move_at(), NULL, 'imp-employees-moves'
FROM ranked AS p
JOIN groups AS g ON g.org = p.org
    AND g.wg = (p.wg + 1) % CASE WHEN p.org = 'city' THEN n_city_wg() ELSE n_lib_wg() END
LEFT JOIN people AS d ON d.e = g.director_e
WHERE p.e IN (SELECT e FROM movers);
"""

_TRAINING = f"""
INSERT INTO training_records
SELECT employee_id, '{TRAINING_COURSE}',
       (week_start() - INTERVAL 1 DAY * CASE
            WHEN rnd(e, 'train') < 0.13 THEN 380 + floor(rnd(e, 'days') * 700)  -- ~10% overdue
            ELSE floor(rnd(e, 'days') * 350) END)::DATE,
       'imp-training'
FROM people WHERE rnd(e, 'train') >= 0.03   -- ~3% never trained
UNION ALL   -- about a third also have last cycle's record
SELECT employee_id, '{TRAINING_COURSE}', (week_start() - INTERVAL 1 DAY * (400 +
       floor(rnd(e, 'prev') * 30)))::DATE, 'imp-training'
FROM people WHERE rnd(e, 'train') >= 0.13 AND rnd(e, 'prev') < 0.33;
"""

_DEVICES = f"""
CREATE TEMP TABLE fleet AS
WITH base AS (
    SELECT n, n < n_city_dev() AS city,
           CASE WHEN n < n_city_dev() THEN n ELSE n - n_city_dev() END AS k,
           rnd(n, 'personal') < 0.05 AS personal
    FROM range(n_devices()) AS t(n)
), placed AS (
    SELECT *,
           -- one device each, then a second device for the first employees
           CASE WHEN city THEN k % n_city_emp() ELSE n_city_emp() + k % n_lib_emp() END AS e,
           printf('%s-%s-%05d', CASE WHEN city THEN 'slc' ELSE 'lib' END,
                  CASE WHEN personal THEN 'byod' ELSE 'ws' END, k + 1) AS hostname,
           CASE WHEN rnd(n, 'enrolled') < 0.01   -- a few enroll during the week
                THEN week_start() + INTERVAL 1 MINUTE * floor(rnd(n, 'at') * 1440 * n_days())
                ELSE TIMESTAMP '2025-06-01' + INTERVAL 1 MINUTE * floor(rnd(n, 'at') * 760000)
           END AS enrolled_at
    FROM base
)
SELECT n, p.org, p.employee_id, p.username AS os_user, personal, hostname, enrolled_at,
       hostname || '-' || md5(hostname)[:10] AS device_id,
       CASE WHEN rnd(n, 'os') < 0.7 THEN 'windows' WHEN rnd(n, 'os') < 0.9 THEN 'macos'
            ELSE 'linux' END AS os,
       CASE WHEN rnd(n, 'revoked') < 0.002
            THEN week_start() + INTERVAL 1 MINUTE * floor(rnd(n, 'rev') * 1440 * n_days())
       END AS revoked_at,
       -- silent for a day or more before the end of the range
       CASE WHEN rnd(n, 'silent') < 0.02
            THEN week_end() - INTERVAL 1 MINUTE * (1500 + floor(rnd(n, 's') * 5760))
       END AS silent_since,
       CASE WHEN rnd(n, 'agent') < 0.01 THEN '{OLD_AGENT_VERSION}' ELSE '{AGENT_VERSION}' END
           AS agent_version,
       CASE WHEN rnd(n, 'cat') < 0.02 THEN '{OLD_CATALOG_VERSION}' ELSE '{CATALOG_VERSION}' END
           AS catalog_version,
       CASE WHEN rnd(n, 'clock') < 0.005 THEN 300000 + floor(rnd(n, 'off') * 7200000)
            WHEN rnd(n, 'clock') < 0.008 THEN -360000 - floor(rnd(n, 'off') * 3600000)
            ELSE -50 - floor(rnd(n, 'off') * 3000) END::BIGINT AS clock_offset_ms
FROM placed JOIN people AS p USING (e);
-- Each device's last word: its final heartbeat, minutes before the end of the range, or when
-- it went silent or was revoked. Nothing it did later is known.
ALTER TABLE fleet ADD COLUMN last_seen TIMESTAMP;
UPDATE fleet SET last_seen = coalesce(least(revoked_at, silent_since), week_end())
    - INTERVAL 1 SECOND * floor(1 + rnd(n, 'seen') * 300);
INSERT INTO devices
SELECT device_id, unhex(sha256('key ' || device_id)), org,
       CASE WHEN personal THEN 'personal' ELSE 'employer' END, employee_id, hostname, os,
       agent_version, md5('token ' || device_id)[:16], enrolled_at
FROM fleet;
INSERT INTO device_revocations
SELECT device_id, revoked_at, 'op-admin', 'device reported lost' FROM fleet
WHERE revoked_at IS NOT NULL;
INSERT INTO device_assignments
SELECT hostname, org, employee_id, roster_from(), NULL, 'imp-assignments' FROM fleet
UNION ALL   -- assigned, never enrolled
SELECT printf('slc-ws-9%04d', i), 'city', printf('e%05d', 1 + i * 37 % n_city_emp()),
       roster_from(), NULL, 'imp-assignments'
FROM range(greatest(5, n_devices() // 300)) AS t(i);
"""

_RESTRICTIONS = """
CREATE TEMP TABLE rules AS
WITH apps AS (
    SELECT list(app_id ORDER BY app_id) AS ids FROM catalog_apps WHERE use <> 'business'
), picked AS (
    SELECT k, g.org, g.workgroup_id, d.employee_id AS director,
           -- not instant messaging or e-mail: the organisations' own tools are in those
           CASE WHEN k % 2 = 0 THEN ['social_networking', 'video_sharing', 'text_messaging']
                [1 + (k // 2) % 3] END AS category,
           CASE WHEN k % 2 = 1 THEN ids[1 + (k * 7) % len(ids)] END AS app_id,
           k % 3 = 0 AS scheduled,
           CASE WHEN k % 10 = 4 THEN week_start() + INTERVAL 2 DAY + INTERVAL (tz_hours()) HOUR
                ELSE TIMESTAMP '2026-10-01 06:00:00' END AS effective_from,
           k % 10 = 7 AS ended
    FROM range(greatest(8, (n_city_wg() + n_lib_wg()) * 2 // 3)) AS t(k)
    CROSS JOIN apps
    JOIN groups AS g ON g.wg = (k * 7) % CASE WHEN g.org = 'city' THEN n_city_wg()
        ELSE n_lib_wg() END AND g.org = CASE WHEN k % 5 = 4 THEN 'library' ELSE 'city' END
    LEFT JOIN people AS d ON d.e = g.director_e
)
SELECT *, printf('r-%03d', k + 1) AS restriction_id FROM picked;
INSERT INTO restrictions
SELECT restriction_id, 1, org, workgroup_id, category, app_id, effective_from, NULL,
       CASE WHEN scheduled THEN 'Mon-Fri 08:00-17:00' END, coalesce(director, 'director'),
       'not needed for the workgroup''s duties', effective_from - INTERVAL 3 DAY, 'op-admin'
FROM rules
UNION ALL   -- a few ended mid-range by a second version
SELECT restriction_id, 2, org, workgroup_id, category, app_id, effective_from, move_at(),
       CASE WHEN scheduled THEN 'Mon-Fri 08:00-17:00' END, coalesce(director, 'director'),
       'lifted by the director', move_at() - INTERVAL 1 HOUR, 'op-admin'
FROM rules WHERE ended;
INSERT INTO restriction_windows
SELECT r.restriction_id, r.version, d, 480, 1020
FROM restrictions AS r, range(1, 6) AS t(d)
WHERE r.schedule IS NOT NULL;
"""


def _catalog_apps(con: duckdb.DuckDBPyConnection) -> None:
    apps = load_catalog().apps
    table = pa.table({
        "app_id": [a.id for a in apps], "name": [a.name for a in apps],
        "vendor": [a.vendor for a in apps], "category": [a.category for a in apps],
        "use": [a.use for a in apps],
        "weight": [HEAVY_APPS.get(a.id, USE_WEIGHT[a.use]) for a in apps],
    })  # fmt: skip
    con.register("shipped_apps", table)
    con.execute("INSERT INTO catalog_apps SELECT * EXCLUDE (weight) FROM shipped_apps")
    con.execute(
        "CREATE TEMP TABLE app_pool AS SELECT list(app_id ORDER BY app_id, i) AS ids"
        " FROM (SELECT app_id, unnest(range(weight)) AS i FROM shipped_apps)"
    )
    con.unregister("shipped_apps")


# Each device's day in local time (the day before the range too, for its late evening), kept
# where it falls inside the UTC range and before the device's last word. How each session ends
# is drawn here; the events below say it, and the collector's fold makes `sessions` from them.
_SESSIONS = """
CREATE TEMP TABLE drawn AS
WITH days AS (
    SELECT f.*, day, isodow(week_start() + INTERVAL (day) DAY) <= 5 AS workday
    FROM fleet AS f, range(-1, n_days()) AS t(day)
), slots AS (
    SELECT device_id, os_user, n, day, workday, enrolled_at, last_seen,
           unnest(range(CASE WHEN workday THEN 30 + floor(rnd(n * 64 + day, 'count') * 31)
                             ELSE floor(rnd(n * 64 + day, 'count') * 12) END::BIGINT)) AS k
    FROM days
), keyed AS (
    SELECT *, (n * 64 + day + 1) * 1000 + k AS key FROM slots
)
SELECT device_id, os_user, key, enrolled_at, last_seen,
       ids[1 + floor(rnd(key, 'app') * len(ids))::BIGINT] AS app_id,
       week_start() + INTERVAL (day) DAY + INTERVAL (tz_hours()) HOUR + INTERVAL 1 SECOND * floor(
           CASE WHEN NOT workday THEN 32400 + rnd(key, 'at') * 50400          -- 09:00-23:00
                WHEN rnd(key, 'slot') < 0.85 THEN 28800 + rnd(key, 'at') * 32400  -- 08-17
                WHEN rnd(key, 'slot') < 0.97 THEN 61200 + rnd(key, 'at') * 24300  -- evening
                ELSE 21600 + rnd(key, 'at') * 7200 END) AS started_at,       -- early
       rnd(key, 'dur') AS r_dur, rnd(key, 'long') < 0.02 AS long_run, rnd(key, 'end') AS r_end
FROM keyed, app_pool;
CREATE TEMP TABLE planned AS
WITH timed AS (
    SELECT d.*, a.category,
           (CASE WHEN long_run THEN 14400000 + r_dur * 21600000        -- open all day
                 WHEN a.category = 'teleconferencing' THEN 600000 + r_dur * 4800000
                 ELSE 20000 + 7200000 * pow(r_dur, 4) END)::UBIGINT AS dur
    FROM drawn AS d JOIN catalog_apps AS a USING (app_id)
    WHERE d.started_at >= week_start() AND d.started_at < d.last_seen
      AND d.started_at >= d.enrolled_at
)
SELECT device_id, os_user, app_id, category, started_at, dur, last_seen,
       md5('session ' || key)::UUID AS session_id,
       -- 94% exit, 3% stop with the agent, 2.5% lose the agent (heartbeats end), 0.5% unknown
       CASE WHEN r_end < 0.94 THEN 'exited' WHEN r_end < 0.97 THEN 'agent_stopped'
            WHEN r_end < 0.995 AND dur >= 60000 THEN 'agent_died' END AS ending,
       CASE WHEN ending = 'agent_died' THEN started_at + INTERVAL 1 MINUTE * (dur // 60000)
            WHEN ending IS NOT NULL THEN started_at + to_milliseconds(dur::BIGINT) END AS end_at,
       -- still running at the device's last word: only that heartbeat knows of it
       end_at >= last_seen AS running_at_end
FROM timed;
DROP TABLE drawn;
"""

_EVENTS = """
CREATE TEMP TABLE stream AS
WITH inventory AS (   -- installed apps, reported at enrollment or found during the week
    SELECT f.*, i, rnd(n * 8 + i, 'late') < 0.2 AS late,
           ids[1 + floor(rnd(n * 8 + i, 'app') * len(ids))::BIGINT] AS app_id
    FROM fleet AS f, (SELECT list(app_id ORDER BY app_id) AS ids FROM catalog_apps),
         LATERAL range(2 + floor(rnd(n, 'installs') * 4)::BIGINT) AS t(i)
), installs AS (
    SELECT device_id, app_id, 'app_installed' AS kind,
           CASE WHEN late THEN greatest(enrolled_at, week_start())
                    + INTERVAL 1 MINUTE * floor(rnd(n * 8 + i, 'at') * 1440 * n_days())
                ELSE enrolled_at + INTERVAL 1 SECOND * (5 + i) END AS occurred_at,
           CASE os WHEN 'windows' THEN 'C:\\Program Files\\' || app_id || '\\' || app_id || '.exe'
                   WHEN 'macos' THEN '/Applications/' || app_id || '.app'
                   ELSE '/usr/bin/' || app_id END AS path, i = 0 AND rnd(n, 'rm') < 0.3 AS removed
    FROM inventory
)
SELECT * EXCLUDE (removed) FROM installs
UNION ALL BY NAME
SELECT device_id, app_id, path, 'app_removed' AS kind,
       greatest(occurred_at, week_start()) + INTERVAL 1 HOUR * (1 + floor(rnd(path, 'rm') * 100))
           AS occurred_at
FROM installs WHERE removed
UNION ALL BY NAME   -- started at enrollment; Monday's overnight update stops and restarts it
SELECT device_id, 'agent_lifecycle' AS kind, l.lifecycle,
       CASE WHEN l.h = 0 THEN enrolled_at
            ELSE week_start() + INTERVAL (tz_hours()) HOUR + INTERVAL 1 MINUTE * l.h END
           AS occurred_at,
       agent_version, catalog_version
FROM fleet, (VALUES ('started', 0), ('stopped', 60), ('started', 63)) AS l(lifecycle, h)
WHERE l.h = 0 OR enrolled_at < week_start()
UNION ALL BY NAME   -- a few hundred devices drop part of their spool and say so
SELECT device_id, 'agent_lifecycle' AS kind, 'events_dropped' AS lifecycle,
       'spool full' AS detail, agent_version, catalog_version,
       greatest(enrolled_at, week_start())
           + INTERVAL 1 MINUTE * floor(rnd(n, 'gap at') * 1440 * n_days()) AS occurred_at
FROM fleet WHERE rnd(n, 'gap') < 0.03
UNION ALL BY NAME
SELECT device_id, 'app_started' AS kind, started_at AS occurred_at, session_id, app_id,
       category, os_user, (1 + (rnd(session_id, 'procs') < 0.2)::INT * 3)::UINTEGER
           AS process_count
FROM planned
UNION ALL BY NAME
SELECT device_id, 'app_stopped' AS kind, end_at AS occurred_at, session_id, app_id, category,
       os_user, dur AS duration_ms, ending AS stop_reason
FROM planned WHERE ending IN ('exited', 'agent_stopped') AND NOT running_at_end
UNION ALL BY NAME   -- the last heartbeat that listed a session whose agent then died
SELECT device_id, 'heartbeat' AS kind, end_at AS occurred_at, [session_id] AS running_sessions
FROM planned WHERE ending = 'agent_died' AND NOT running_at_end;
CREATE TEMP TABLE last_words AS   -- each device's final heartbeat
SELECT f.device_id, 'heartbeat' AS kind, f.last_seen AS occurred_at,
       coalesce(list(p.session_id ORDER BY p.started_at) FILTER (WHERE p.running_at_end), [])
           AS running_sessions
FROM fleet AS f LEFT JOIN planned AS p USING (device_id)
WHERE f.last_seen > f.enrolled_at
GROUP BY f.device_id, f.last_seen;
"""

# Seqs in each device's own order; a device that dropped events skips that many seqs just
# before its events_dropped record, which is what seq_gaps then holds. Each device's final
# heartbeat is stored last: the collector's fold takes a device's latest state from its
# highest rowid, and a parallel INSERT keeps no order (an ORDER BY would cost a second sort).
_SEQ = """
CREATE TEMP TABLE numbered AS
SELECT s.*, f.clock_offset_ms,
       row_number() OVER (PARTITION BY s.device_id ORDER BY s.occurred_at, s.kind) AS rn
FROM stream AS s JOIN fleet AS f USING (device_id)
WHERE s.occurred_at < f.last_seen;
DROP TABLE stream;
CREATE TEMP TABLE gaps AS
SELECT device_id, rn AS first_seq, rn + floor(rnd(device_id, 'gap size') * 500)::BIGINT
           AS last_seq
FROM numbered WHERE lifecycle = 'events_dropped';
INSERT INTO events BY NAME
SELECT n.device_id, n.kind, n.occurred_at,
       CASE WHEN n.rn >= g.first_seq THEN n.rn + g.last_seq - g.first_seq + 1 ELSE n.rn END
           AS seq,
       uuid() AS event_id,
       -- the collector's clock: the device's offset removed, plus up to 10 s of batching
       n.occurred_at - to_milliseconds(n.clock_offset_ms)
           + INTERVAL 1 MILLISECOND * floor(rnd(n.rn, n.device_id) * 10000) AS received_at,
       n.session_id, n.app_id, n.category, n.os_user, n.process_count, n.duration_ms,
       n.stop_reason, n.running_sessions, n.agent_version, n.catalog_version, n.path,
       n.lifecycle, n.detail,
       CASE WHEN n.lifecycle = 'events_dropped' THEN g.first_seq END AS first_seq,
       CASE WHEN n.lifecycle = 'events_dropped' THEN g.last_seq END AS last_seq,
       encode(n.kind) AS raw
FROM numbered AS n LEFT JOIN gaps AS g USING (device_id);
DROP TABLE numbered;
INSERT INTO events BY NAME
SELECT w.device_id, w.kind, w.occurred_at, coalesce(e.seq, 0) + 1 AS seq, uuid() AS event_id,
       w.occurred_at - to_milliseconds(f.clock_offset_ms) AS received_at, w.running_sessions,
       f.agent_version, f.catalog_version, 0 AS spool_depth,
       coalesce(g.last_seq - g.first_seq + 1, 0) AS events_dropped, 3600000 AS uptime_ms,
       encode(w.kind) AS raw
FROM last_words AS w
JOIN fleet AS f USING (device_id)
LEFT JOIN gaps AS g USING (device_id)
LEFT JOIN (SELECT device_id, max(seq) AS seq FROM events GROUP BY device_id) AS e
    USING (device_id);
INSERT INTO seq_gaps
SELECT g.device_id, g.first_seq, g.last_seq, e.received_at
FROM gaps AS g JOIN events AS e ON e.device_id = g.device_id AND e.seq = g.last_seq + 1;
INSERT INTO device_seq
SELECT device_id, max(seq), 'spool-' || md5(device_id)[:8] FROM events GROUP BY device_id;
"""

_ORGANISATION = """
-- The personal-use report is opt-in (section 4.1); on here, so that it does its full work.
UPDATE org_policies SET personal_use_report = true;
INSERT INTO org_imports
SELECT 'imp-' || kind, kind, kind || '.csv', sha256(kind), roster_from(), 'op-admin', rows, rows
FROM (VALUES ('workgroups', (SELECT count(*) FROM workgroups)),
             ('employees', (SELECT count(*) FROM employees)),
             ('employees-moves', (SELECT count(*) FROM employees WHERE valid_from = move_at())),
             ('assignments', (SELECT count(*) FROM device_assignments)),
             ('training', (SELECT count(*) FROM training_records))) AS t(kind, rows);
INSERT INTO operators
SELECT 'op-' || role, role, unhex(sha256('operator ' || role)), roster_from(), NULL
FROM (VALUES ('admin'), ('analyst')) AS t(role)
UNION ALL
SELECT DISTINCT 'op-' || director_id, 'director', unhex(sha256('operator ' || director_id)),
       roster_from(), director_id
FROM workgroups WHERE director_id IS NOT NULL;
"""

STEPS: tuple[tuple[str, str], ...] = (
    ("employees and workgroups", _PEOPLE + ";" + _WORKGROUPS + _EMPLOYEES),
    ("training records", _TRAINING),
    ("devices and assignments", _DEVICES),
    ("restrictions", _RESTRICTIONS),
    ("sessions planned", _SESSIONS),
    ("their events, installs, lifecycle, heartbeats", _EVENTS),
    ("seqs and gaps", _SEQ),
    ("imports, operators, policies", _ORGANISATION),
)


def generate(path: Path, shape: FleetShape, progress: Callable[[str, float], None]) -> None:
    """Write the fleet into a new DuckDB file at `path`; `progress` hears each step's seconds."""
    con = duckdb.connect(str(path))
    try:
        started = time.perf_counter()
        apply_migrations(con)
        _macros(con, shape)
        _catalog_apps(con)
        progress("schema and catalog apps", time.perf_counter() - started)
        for name, sql in STEPS:
            started = time.perf_counter()
            con.execute(sql)
            progress(name, time.perf_counter() - started)
        con.execute("CHECKPOINT")
    finally:
        con.close()


def directors_scope(con: duckdb.DuckDBPyConnection) -> tuple[str, list[str]]:
    """A director of more than one workgroup, and those workgroups: the scoped runs' scope."""
    row = con.execute(
        "SELECT director_id, list(workgroup_id ORDER BY workgroup_id) AS groups FROM workgroups"
        " WHERE valid_to IS NULL AND director_id IS NOT NULL"
        " GROUP BY director_id ORDER BY len(groups) DESC, director_id LIMIT 1"
    ).fetchone()
    if row is None:
        raise ValueError("the fleet has no director")
    return str(row[0]), list(row[1])
