-- Schema version 1: raw events as append-only evidence (DESIGN.md §2, §5).
-- Every column is a plain, typed value so analysts need no protobuf to read them; `raw` keeps the
-- event exactly as the device sent it, for evidence and for fields added after this version.
-- Timestamps are UTC (TIMESTAMP, not TIMESTAMPTZ: no time-zone setting can shift them).

CREATE TABLE events (
    device_id        VARCHAR   NOT NULL,   -- from the caller's credential, never the payload alone
    seq              UBIGINT   NOT NULL,   -- per device, strictly increasing; (device_id, seq) unique
    event_id         UUID      NOT NULL,
    kind             VARCHAR   NOT NULL,   -- app_started | app_stopped | heartbeat | app_installed
                                           -- | app_removed | agent_lifecycle
    occurred_at      TIMESTAMP NOT NULL,   -- device clock, UTC, ms precision
    received_at      TIMESTAMP NOT NULL,   -- collector clock, UTC, when the batch was committed
    session_id       UUID,                 -- app_started, app_stopped
    app_id           VARCHAR,              -- app_*: catalog app id
    category         VARCHAR,              -- app_*: email | instant_messaging | text_messaging |
                                           -- social_networking | teleconferencing | video_sharing
    os_user          VARCHAR,              -- app_started, app_stopped
    process_count    UINTEGER,             -- app_started
    duration_ms      UBIGINT,              -- app_stopped
    stop_reason      VARCHAR,              -- app_stopped: exited | agent_stopped
    running_sessions UUID[],               -- heartbeat: sessions running at that instant
    agent_version    VARCHAR,              -- heartbeat, agent_lifecycle
    catalog_version  VARCHAR,              -- heartbeat, agent_lifecycle
    spool_depth      UBIGINT,              -- heartbeat
    events_dropped   UBIGINT,              -- heartbeat: dropped from the spool so far
    uptime_ms        UBIGINT,              -- heartbeat: agent monotonic clock
    path             VARCHAR,              -- app_installed, app_removed
    lifecycle        VARCHAR,              -- agent_lifecycle: started | stopped | ... | events_dropped
    detail           VARCHAR,              -- agent_lifecycle
    first_seq        UBIGINT,              -- agent_lifecycle: range of dropped/rejected events
    last_seq         UBIGINT,
    raw              BLOB      NOT NULL    -- the commaudit.v1.Event as received
);

-- Per-device delivery state: every seq <= acked_seq is stored or recorded in seq_gaps.
CREATE TABLE device_seq (
    device_id VARCHAR PRIMARY KEY,
    acked_seq UBIGINT NOT NULL
);

-- Seq ranges that a device skipped: a coverage finding (deleted spool, tampering, or a drop the
-- agent recorded as agent_lifecycle events_dropped). A late event inside a gap still gets stored
-- and shrinks the gap.
CREATE TABLE seq_gaps (
    device_id   VARCHAR   NOT NULL,
    first_seq   UBIGINT   NOT NULL,
    last_seq    UBIGINT   NOT NULL,
    detected_at TIMESTAMP NOT NULL
);
