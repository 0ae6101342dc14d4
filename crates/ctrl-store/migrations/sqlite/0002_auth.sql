-- People, API tokens, login sessions and the audit trail.

CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,          -- argon2id, PHC string
    role          TEXT NOT NULL,          -- viewer | operator | admin
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,    -- SHA-256 of the token, hex; the token itself is never stored
    role         TEXT NOT NULL,
    created_by   TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,        -- SHA-256 of the cookie value, hex
    user_name    TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    address      TEXT,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL            -- absolute expiry
);
CREATE INDEX sessions_by_user ON sessions (user_name);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,                -- user name, "token:<name>" or "local"
    action  TEXT NOT NULL,                -- login, login_failed, start, stop, token_created, …
    target  TEXT,
    address TEXT,
    result  TEXT NOT NULL,                -- ok | denied | failed
    detail  TEXT
);
