-- Jobs (the seed's job_history, grown) and persistent schedules.

ALTER TABLE job_history ADD COLUMN action TEXT;
ALTER TABLE job_history ADD COLUMN params TEXT NOT NULL DEFAULT '{}';   -- JSON object
ALTER TABLE job_history ADD COLUMN triggered_by TEXT NOT NULL DEFAULT '';
ALTER TABLE job_history ADD COLUMN created_at TIMESTAMPTZ;
ALTER TABLE job_history ADD COLUMN exit_code INTEGER;
ALTER TABLE job_history ADD COLUMN signal TEXT;
ALTER TABLE job_history ADD COLUMN progress DOUBLE PRECISION;
ALTER TABLE job_history ADD COLUMN progress_label TEXT;
ALTER TABLE job_history ADD COLUMN error TEXT;
CREATE INDEX job_history_by_status ON job_history (status, id);
CREATE INDEX job_history_by_action ON job_history (action, id);

CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    action      TEXT NOT NULL,
    cron        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    missed      TEXT NOT NULL,            -- skip | run_once
    params      TEXT NOT NULL,            -- JSON object
    enabled     BOOLEAN NOT NULL,
    source      TEXT NOT NULL,            -- config | api
    next_run_at TIMESTAMPTZ,              -- the time it fires next: kept across restarts for the missed-run policy
    last_run_at TIMESTAMPTZ,
    last_job_id BIGINT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
