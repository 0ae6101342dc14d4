-- Hosts behind this hub: each one's enrolment (a one-time token's hash until the
-- host pins its key), its link (which hub holds it, until when), and what it
-- reported (events: append-only, unique by the host's run and number).

CREATE TABLE hosts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT NOT NULL UNIQUE,
    public_key        TEXT,              -- hex Ed25519 key, pinned at enrolment
    enroll_hash       TEXT,              -- SHA-256 of the one-time token; NULL once used
    enroll_expires_at TEXT,
    created_at        TEXT NOT NULL,
    enrolled_at       TEXT,
    last_seen         TEXT,
    version           TEXT,
    address           TEXT,
    boot              TEXT,              -- the host's run whose events were stored last
    seq               INTEGER NOT NULL DEFAULT 0,  -- and the last number stored of it
    hub               TEXT,              -- the hub holding the link
    lease_until       TEXT               -- until when that hub's hold counts
);

CREATE TABLE host_events (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    host  TEXT NOT NULL,
    boot  TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    kind  TEXT NOT NULL,                 -- service | alert
    data  TEXT NOT NULL,                 -- JSON
    at    TEXT NOT NULL,
    UNIQUE (host, boot, seq)
);
CREATE INDEX host_events_by_host ON host_events (host, id);
