-- Schema version 3: enrollment, device credentials, operators and the audit log (DESIGN.md §4).
-- Secrets are never stored: only the SHA-256 of each token, device key and operator key.

-- One-time, expiring tokens an admin makes; a device redeems one to enroll.
CREATE TABLE enrollment_tokens (
    token_id       VARCHAR   PRIMARY KEY,
    secret_sha256  BLOB      NOT NULL,
    org            VARCHAR   NOT NULL,   -- city | library
    ownership      VARCHAR   NOT NULL,   -- employer | personal (City 4.01.06 §3.1 / §3.2)
    employee_id    VARCHAR,
    created_at     TIMESTAMP NOT NULL,
    created_by     VARCHAR   NOT NULL,   -- operator id
    expires_at     TIMESTAMP NOT NULL,
    used_at        TIMESTAMP,
    used_by_device VARCHAR
);

-- Every device that ever enrolled; revoked devices stay, their events are evidence.
CREATE TABLE devices (
    device_id      VARCHAR   PRIMARY KEY,
    key_sha256     BLOB      NOT NULL,
    org            VARCHAR   NOT NULL,
    ownership      VARCHAR   NOT NULL,
    employee_id    VARCHAR,
    hostname       VARCHAR,
    os             VARCHAR,
    agent_version  VARCHAR,
    token_id       VARCHAR   NOT NULL,
    enrolled_at    TIMESTAMP NOT NULL
);

-- Revocations, one row per device at most; kept apart from `devices` so that no evidence row
-- is ever updated in place.
CREATE TABLE device_revocations (
    device_id   VARCHAR   PRIMARY KEY,
    revoked_at  TIMESTAMP NOT NULL,
    revoked_by  VARCHAR   NOT NULL,
    reason      VARCHAR   NOT NULL
);

-- People and scripts that call AdminService; the role decides what they may do (§4.1:
-- personal use may be reviewed by appropriate staff only).
CREATE TABLE operators (
    operator_id VARCHAR   PRIMARY KEY,
    role        VARCHAR   NOT NULL CHECK (role IN ('admin', 'analyst', 'director')),
    key_sha256  BLOB      NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

-- Who did or looked at what, when, and whether it was allowed.
CREATE TABLE audit_log (
    logged_at   TIMESTAMP NOT NULL,
    operator_id VARCHAR   NOT NULL,
    role        VARCHAR   NOT NULL,
    action      VARCHAR   NOT NULL,
    target      VARCHAR,
    outcome     VARCHAR   NOT NULL,   -- ok | denied | refused: <reason>
    detail      VARCHAR
);
