-- Schema version 5: the weekly summaries' send ledger (DESIGN.md §5 summaries_sent, §7).
--
-- One row per attempt to send one director one week's summary. An attempt starts as 'claimed'
-- (a run is sending it) and is set once to its outcome; a week's send is idempotent because a
-- run sends only the directors whose newest attempt is neither 'sent' nor a live claim. Kept in
-- the collector's database, not beside the sending command, so two runs on two hosts (the
-- timer and an admin by hand) see one ledger. Not published to the lake: it names recipients.
CREATE TABLE summaries_sent (
    week         DATE      NOT NULL,   -- the ISO week's Monday (UTC weeks, as the reports)
    director_id  VARCHAR   NOT NULL,   -- employees.employee_id
    attempt      INTEGER   NOT NULL CHECK (attempt > 0),
    status       VARCHAR   NOT NULL
        CHECK (status IN ('claimed', 'sent', 'refused', 'failed', 'no_address')),
    recipient    VARCHAR   NOT NULL,   -- the address tried; '' when the roster has none
    message_id   VARCHAR   NOT NULL,   -- the Message-ID header, the same on every attempt
    detail       VARCHAR   NOT NULL,   -- the server's answer, or why nothing was sent
    operator_id  VARCHAR   NOT NULL,   -- who ran the send
    claimed_at   TIMESTAMP NOT NULL,
    settled_at   TIMESTAMP,            -- when the outcome was recorded; NULL while claimed
    PRIMARY KEY (week, director_id, attempt)
);
