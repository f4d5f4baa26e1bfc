-- Processes that work background jobs say so every few seconds; /health and /readyz
-- report whether any is alive. Not tenant data: no row-level security.
CREATE TABLE worker_heartbeats (
    process_id text PRIMARY KEY,
    started_at timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL
);
