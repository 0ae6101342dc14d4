-- Agent sessions: each session's history (append-only, one row per message,
-- never rewritten) and its events (append-only, seq rising by one per session,
-- replayed to clients that reconnect).

CREATE TABLE agent_sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    title         TEXT NOT NULL,
    status        TEXT NOT NULL,     -- idle | running | interrupted | error
    model         TEXT NOT NULL,
    system_prompt TEXT,              -- NULL: [agent] system_prompt
    owner         TEXT NOT NULL,     -- the user whose role the tools act with
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX agent_sessions_by_owner ON agent_sessions (owner, id);

CREATE TABLE agent_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL,
    idx        INTEGER NOT NULL,     -- its place in the history, from 0
    role       TEXT NOT NULL,        -- user | assistant | tool
    message    TEXT NOT NULL,        -- JSON, OpenAI's chat message
    at         TEXT NOT NULL,
    UNIQUE (session_id, idx)
);

CREATE TABLE agent_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL,
    seq        INTEGER NOT NULL,     -- from 1, rising by one per session
    type       TEXT NOT NULL,        -- text | thinking | tool_use | tool_result | status | error
    data       TEXT NOT NULL,        -- JSON
    at         TEXT NOT NULL,
    UNIQUE (session_id, seq)
);
