-- Processes that work background jobs say so every few seconds; /health and /readyz
-- report whether any is alive.
CREATE TABLE worker_heartbeats (
    process_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    seen_at    TEXT NOT NULL
) STRICT;
