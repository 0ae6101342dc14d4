-- A running job's process (its group's leader) and its start time, so that the
-- next daemon finds the processes of jobs a killed daemon left behind.

ALTER TABLE job_history ADD COLUMN pid BIGINT;
ALTER TABLE job_history ADD COLUMN pid_start BIGINT;
