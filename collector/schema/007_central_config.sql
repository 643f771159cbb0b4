-- Schema version 7: the catalogs and agent configs IMS publishes to every agent (issue 7 item 9;
-- DESIGN.md §3 "the collector can serve a newer catalog to agents").
--
-- One row per push, never changed: which file was served from when, and who pushed it, stays on
-- record. Each push was validated by the agent's own validator and is newer, by version compared
-- number by number, than every earlier push of its kind, so the row with the highest seq is the
-- one served (collector/central_config.py). Not published to the lake: agents fetch it by
-- GetConfig and operators list it with `commaudit catalog show`.
CREATE TABLE central_files (
    kind       VARCHAR   NOT NULL CHECK (kind IN ('catalog', 'agent_config')),
    seq        INTEGER   NOT NULL CHECK (seq > 0),  -- 1, 2, ... per kind, in push order
    version    VARCHAR   NOT NULL,                  -- the file's own `version`
    content    VARCHAR   NOT NULL,                  -- the TOML as pushed
    sha256     VARCHAR   NOT NULL,                  -- hex, of the content's UTF-8 bytes
    file_name  VARCHAR   NOT NULL,                  -- as the operator named it
    summary    VARCHAR   NOT NULL,                  -- "161 apps" / the settings it sets
    pushed_at  TIMESTAMP NOT NULL,                  -- UTC
    pushed_by  VARCHAR   NOT NULL,                  -- operators.operator_id
    PRIMARY KEY (kind, seq),
    UNIQUE (kind, version)
);
