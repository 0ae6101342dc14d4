-- The hubs running on this database now (several `ctrl up` with `[storage] shared`):
-- where each is reached, and the key it signs relayed requests with (made at its
-- start, never stored elsewhere). A row is renewed while its hub runs.

CREATE TABLE hubs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,    -- the value of hosts.hub while it holds a link
    address     TEXT NOT NULL,           -- http(s)://host:port its peers reach it at
    public_key  TEXT NOT NULL,           -- hex Ed25519 key of this run
    cert_sha256 TEXT,                    -- its TLS certificate, which peers pin
    seen_at     TEXT NOT NULL
);
