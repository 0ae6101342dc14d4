-- The LLM gateway: the seed's api_usage per day, service (a key's name or a
-- caller), model and key, with tokens; LLM keys with their budgets; and the
-- interaction log.

ALTER TABLE api_usage ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE api_usage ADD COLUMN key_id INTEGER;
ALTER TABLE api_usage ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_usage ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_usage ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;     -- calls answered from the cache
ALTER TABLE api_usage ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;  -- calls whose tokens were counted here
CREATE INDEX api_usage_by_day ON api_usage (date, service, model);
CREATE INDEX api_usage_by_key ON api_usage (key_id, date);

CREATE TABLE llm_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,   -- SHA-256 of the key; the key itself is shown once
    prefix       TEXT NOT NULL,          -- its first characters, to recognise it
    models       TEXT NOT NULL DEFAULT '["*"]',  -- JSON array of patterns
    budget       REAL,       -- NULL: no budget
    period       TEXT NOT NULL DEFAULT 'day',    -- day | month
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX llm_keys_live_name ON llm_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE llm_interactions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    at                TEXT NOT NULL,
    endpoint          TEXT NOT NULL,      -- chat/completions | completions | embeddings | chat
    model             TEXT NOT NULL,
    upstream          TEXT,
    service           TEXT NOT NULL,
    key_id            INTEGER,
    stream            INTEGER NOT NULL,
    request           TEXT,               -- NULL when log_interactions = false
    response          TEXT,
    status            INTEGER NOT NULL,
    processing_ms     REAL NOT NULL,
    ttfb_ms           REAL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost              REAL NOT NULL,
    cached            INTEGER NOT NULL,
    estimated         INTEGER NOT NULL,
    error             TEXT,
    attempts          TEXT NOT NULL DEFAULT '[]'   -- JSON: [{upstream, status, error, ms}]
);
CREATE INDEX llm_interactions_by_at ON llm_interactions (at);
