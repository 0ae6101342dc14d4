-- Every alert sent (or tried): firing, resolved and test sends, with how delivery went.

CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    rule       TEXT NOT NULL,
    kind       TEXT NOT NULL,      -- crash | fatal | unhealthy | job_failed | job_timed_out | cpu | memory | disk | test
    subject    TEXT NOT NULL,      -- a service, an action, cpu, memory or a mount point
    state      TEXT NOT NULL,      -- firing | resolved | test
    message    TEXT NOT NULL,
    deliveries TEXT NOT NULL DEFAULT '[]'   -- JSON: [{channel, format, ok, attempts, status, error}]
);
