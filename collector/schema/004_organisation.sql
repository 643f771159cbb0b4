-- Schema version 4: the two organisations and their policies, the roster with its history,
-- training records, restrictions, the catalog's apps and the sessions derived from events
-- (DESIGN.md §5, §6). Reports read these tables (through the published lake) by these names.
--
-- Time: every TIMESTAMP is naive UTC, like the events. An effective *day* from a CSV file or
-- the CLI is that day's 00:00 in the organisation's time zone, stored converted to UTC.
-- History: a versioned row is valid over [valid_from, valid_to); valid_to NULL = still valid.
-- A change closes the old row (sets its valid_to once) and adds a new one; nothing else is
-- ever updated.

-- The two organisations out of the box, with the words their policies use.
CREATE TABLE org_policies (
    org                      VARCHAR PRIMARY KEY,   -- city | library
    organisation             VARCHAR NOT NULL,      -- 'Salt Lake City Corporation'
    policy                   VARCHAR NOT NULL,      -- '4.01.06' | 'CS3'
    director_title           VARCHAR NOT NULL,      -- 'Department Director' | 'Associate Director'
    ims                      VARCHAR NOT NULL,      -- 'IMS' | 'Salt Lake City IMS'
    time_zone                VARCHAR NOT NULL,      -- IANA name; schedules and work hours use it
    training_interval_months INTEGER NOT NULL DEFAULT 12 CHECK (training_interval_months > 0),
    -- Work hours (local time) for the personal-use report; ISO days 1 = Monday .. 7 = Sunday.
    work_days                INTEGER[] NOT NULL DEFAULT [1, 2, 3, 4, 5],
    work_start_minute        INTEGER NOT NULL DEFAULT 480,    -- 08:00
    work_end_minute          INTEGER NOT NULL DEFAULT 1020,   -- 17:00
    -- The personal-use report is off unless an admin enables it (§4.1: reviewed by
    -- appropriate staff only).
    personal_use_report      BOOLEAN NOT NULL DEFAULT false
);
INSERT INTO org_policies (org, organisation, policy, director_title, ims, time_zone) VALUES
    ('city', 'Salt Lake City Corporation', '4.01.06', 'Department Director', 'IMS',
     'America/Denver'),
    ('library', 'The City Library', 'CS3', 'Associate Director', 'Salt Lake City IMS',
     'America/Denver');

-- The clause each kind of finding cites, per organisation: "4.01.06 §4.4" or "CS3.4.4".
CREATE TABLE policy_clauses (
    org    VARCHAR NOT NULL,
    topic  VARCHAR NOT NULL,
    clause VARCHAR NOT NULL,
    PRIMARY KEY (org, topic)
);
INSERT INTO policy_clauses VALUES
    ('city', 'technologies', '4.01.06 §1.1'),        ('library', 'technologies', 'CS3.1'),
    ('city', 'accountability', '4.01.06 §2.2'),      ('library', 'accountability', 'CS3.2.2'),
    ('city', 'safeguards', '4.01.06 §2.3'),          ('library', 'safeguards', 'CS3.2.3'),
    ('city', 'employer_devices', '4.01.06 §3.1'),    ('library', 'employer_devices', 'CS3.3.1'),
    ('city', 'personal_devices', '4.01.06 §3.2'),    ('library', 'personal_devices', 'CS3.3.2'),
    ('city', 'personal_use', '4.01.06 §4.1'),        ('library', 'personal_use', 'CS3.4.1'),
    ('city', 'training', '4.01.06 §4.3'),            ('library', 'training', 'CS3.4.3'),
    ('city', 'restriction', '4.01.06 §4.4'),         ('library', 'restriction', 'CS3.4.4');

-- Every accepted CSV file. The same content imported again is recognised by its digest and
-- changes nothing.
CREATE TABLE org_imports (
    import_id    VARCHAR   PRIMARY KEY,
    kind         VARCHAR   NOT NULL,   -- workgroups | employees | device_assignments | training
    file_name    VARCHAR   NOT NULL,
    sha256       VARCHAR   NOT NULL,
    imported_at  TIMESTAMP NOT NULL,
    imported_by  VARCHAR   NOT NULL,   -- operator id, or 'folder' for the watched folder
    rows_read    INTEGER   NOT NULL,
    rows_changed INTEGER   NOT NULL
);

-- Workgroups and their director (§4.4 "Department Directors ... within their workgroups").
CREATE TABLE workgroups (
    workgroup_id VARCHAR   NOT NULL,   -- unique across both organisations
    org          VARCHAR   NOT NULL,
    name         VARCHAR   NOT NULL,
    director_id  VARCHAR,              -- an employee_id
    valid_from   TIMESTAMP NOT NULL,
    valid_to     TIMESTAMP,
    import_id    VARCHAR   NOT NULL
);

-- Employees: one version per change of name, email, workgroup or manager, so membership is
-- kept as history (who was in which workgroup, under which manager, when).
CREATE TABLE employees (
    employee_id  VARCHAR   NOT NULL,   -- unique across both organisations
    org          VARCHAR   NOT NULL,
    full_name    VARCHAR   NOT NULL,
    email        VARCHAR,
    workgroup_id VARCHAR,
    manager_id   VARCHAR,              -- an employee_id (§2.2 / CS3.2.2 accountability)
    valid_from   TIMESTAMP NOT NULL,
    valid_to     TIMESTAMP,
    import_id    VARCHAR   NOT NULL
);

-- Which employee a device is assigned to, by host name (known before the device enrolls, so
-- "assigned but never enrolled" can be found). Host names compare case-insensitively.
CREATE TABLE device_assignments (
    hostname    VARCHAR   NOT NULL,    -- stored lower-case
    org         VARCHAR   NOT NULL,
    employee_id VARCHAR   NOT NULL,
    valid_from  TIMESTAMP NOT NULL,
    valid_to    TIMESTAMP,
    import_id   VARCHAR   NOT NULL
);

-- Completed training (§4.3 / CS3.4.3): facts, never versioned; one row per
-- (employee, course, day).
CREATE TABLE training_records (
    employee_id  VARCHAR NOT NULL,
    course       VARCHAR NOT NULL,
    completed_on DATE    NOT NULL,
    import_id    VARCHAR NOT NULL,
    PRIMARY KEY (employee_id, course, completed_on)
);

-- Restrictions a director sets on a workgroup (§4.4 / CS3.4.4): exactly one of category and
-- app_id. Versioned: ending or correcting a restriction adds version n+1; the newest version
-- of a restriction_id is the one in force.
CREATE TABLE restrictions (
    restriction_id VARCHAR   NOT NULL,
    version        INTEGER   NOT NULL,
    org            VARCHAR   NOT NULL,
    workgroup_id   VARCHAR   NOT NULL,
    category       VARCHAR,
    app_id         VARCHAR,
    effective_from TIMESTAMP NOT NULL,
    effective_to   TIMESTAMP,            -- NULL: until ended
    schedule       VARCHAR,              -- as given, e.g. 'Mon-Fri 08:00-17:00'; NULL: always
    set_by         VARCHAR   NOT NULL,   -- who decided it (the director), as given
    reason         VARCHAR   NOT NULL,
    recorded_at    TIMESTAMP NOT NULL,
    recorded_by    VARCHAR   NOT NULL,   -- operator id
    PRIMARY KEY (restriction_id, version),
    CHECK ((category IS NULL) <> (app_id IS NULL))
);

-- A schedule's weekly windows in the organisation's local time: [start_minute, end_minute) of
-- ISO day iso_day (1 = Monday). A restriction with no windows applies at all hours.
CREATE TABLE restriction_windows (
    restriction_id VARCHAR NOT NULL,
    version        INTEGER NOT NULL,
    iso_day        INTEGER NOT NULL CHECK (iso_day BETWEEN 1 AND 7),
    start_minute   INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute     INTEGER NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    CHECK (start_minute < end_minute)
);

-- The catalog's apps as the collector knows them (refreshed from the shipped catalog at
-- start): `use` says which apps are personal for the personal-use report.
CREATE TABLE catalog_apps (
    app_id   VARCHAR PRIMARY KEY,
    name     VARCHAR NOT NULL,
    vendor   VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    use      VARCHAR NOT NULL        -- business | personal | mixed
);

-- Sessions derived from events, kept up to date as events arrive (analytics/sql/sessions.sql
-- is the reference derivation; this table must always equal it for the events it has seen).
-- A row can exist before its app_started arrives (a heartbeat or stop came first, e.g. filling
-- a seq gap late); such rows have started_at NULL and are not published.
CREATE TABLE sessions (
    device_id    VARCHAR NOT NULL,
    session_id   UUID    NOT NULL,
    os_user      VARCHAR,
    app_id       VARCHAR,
    category     VARCHAR,
    started_at   TIMESTAMP,
    duration_ms  UBIGINT,             -- from app_stopped
    stop_reason  VARCHAR,             -- from app_stopped
    last_beat_at TIMESTAMP,           -- latest heartbeat listing the session
    ended_at     TIMESTAMP,           -- as sessions.sql defines it
    end_reason   VARCHAR,             -- exited | agent_stopped | last_heartbeat | no_evidence
    PRIMARY KEY (device_id, session_id)
);

-- Each device's latest state, kept up to date as events arrive, so the coverage report never
-- scans the heartbeats (one a minute per device: the bulk of all events).
CREATE TABLE device_health (
    device_id         VARCHAR PRIMARY KEY,
    first_seen_at     TIMESTAMP NOT NULL,   -- received_at of its first stored event
    last_seen_at      TIMESTAMP NOT NULL,   -- received_at of its latest stored event
    last_heartbeat_at TIMESTAMP,            -- occurred_at of its latest heartbeat
    agent_version     VARCHAR,              -- from its latest heartbeat or lifecycle event
    catalog_version   VARCHAR,
    -- Device clock minus collector clock, estimated from the latest committed group:
    -- max(occurred_at) - received_at. Transit and batching only make it more negative, so a
    -- positive value is a clock running ahead by at least that much.
    clock_offset_ms   BIGINT,
    events_dropped    UBIGINT               -- as its latest heartbeat reported
);

-- Directors see only their own workgroups: a director operator is an employee.
ALTER TABLE operators ADD COLUMN employee_id VARCHAR;
