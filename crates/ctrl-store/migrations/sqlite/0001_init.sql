-- The seed tables (seed 000's schema) and the supervisor's event log.

CREATE TABLE services (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL UNIQUE,
    status         TEXT NOT NULL DEFAULT 'stopped',
    port           INTEGER,
    pid            INTEGER,
    command        TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    -- identity of the live process, to recognise it after a daemon crash
    pid_start      INTEGER,
    restarts       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE service_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    service    TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    pid        INTEGER,
    exit_code  INTEGER,
    signal     TEXT,
    reason     TEXT,
    at         TEXT NOT NULL
);
CREATE INDEX service_events_by_service ON service_events (service, id);

CREATE TABLE agents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    level      TEXT,
    category   TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE knowledge_files (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id   INTEGER REFERENCES agents (id) ON DELETE CASCADE,
    file_path  TEXT NOT NULL,
    confidence REAL,
    created_at TEXT NOT NULL
);

CREATE TABLE api_usage (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    cost    REAL NOT NULL DEFAULT 0,
    calls   INTEGER NOT NULL DEFAULT 0,
    date    TEXT NOT NULL
);

CREATE TABLE job_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_type     TEXT NOT NULL,
    status       TEXT NOT NULL,
    started_at   TEXT,
    completed_at TEXT,
    result       TEXT
);
