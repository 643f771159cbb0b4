-- The last group of the ingest log (collector/ingest_log.py) whose events are in this database.
-- Written in the same transaction as those events, so that a restart replays exactly the
-- groups after it: none twice, none lost.
CREATE TABLE ingest_log_applied (
    applied_group UBIGINT NOT NULL
);
INSERT INTO ingest_log_applied VALUES (0);
