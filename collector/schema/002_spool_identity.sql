-- Schema version 2: the spool each device reports from (agent_service.proto ReportRequest).
-- A Report from another spool whose seqs overlap what is stored is a reset spool: nothing of it
-- is stored and the agent is told to renumber (ReportResponse.renumber_after).
ALTER TABLE device_seq ADD COLUMN spool_id VARCHAR;
