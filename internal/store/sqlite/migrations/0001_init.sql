-- Vibe Coder schema, SQLite dialect. Ids are UUID text, times are fixed-width
-- RFC 3339 UTC text with microseconds (so text order is time order), booleans 0/1.
-- Every project-scoped table carries user_id and a composite foreign key to its parent's
-- (id, user_id), so a row can never point at another tenant's parent.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;
CREATE INDEX api_keys_user_idx ON api_keys (user_id, id);

CREATE TABLE sessions (
    token_hash   BLOB PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE projects (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    repo_url       TEXT NOT NULL,
    default_branch TEXT NOT NULL DEFAULT '',
    test_command   TEXT NOT NULL DEFAULT '',
    index_status   TEXT NOT NULL DEFAULT 'never',
    indexed_at     TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    UNIQUE (id, user_id)
) STRICT;
CREATE INDEX projects_user_idx ON projects (user_id, id);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('coder', 'reviewer')),
    model         TEXT NOT NULL DEFAULT '',
    system_prompt TEXT NOT NULL DEFAULT '',
    temperature   REAL NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (id, user_id)
) STRICT;
CREATE INDEX agents_user_idx ON agents (user_id, id);

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL CHECK (status IN ('open', 'running', 'done', 'failed', 'cancelled')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (id, user_id),
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX tasks_project_idx ON tasks (project_id, id);
CREATE INDEX tasks_user_idx ON tasks (user_id, id);

CREATE TABLE executions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    step        TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    tokens_in   INTEGER NOT NULL DEFAULT 0,
    tokens_out  INTEGER NOT NULL DEFAULT 0,
    cost_usd    REAL NOT NULL DEFAULT 0,
    started_at  TEXT,
    finished_at TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (id, user_id),
    FOREIGN KEY (task_id, user_id) REFERENCES tasks (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX executions_task_idx ON executions (task_id, id);
CREATE INDEX executions_user_idx ON executions (user_id, id);
CREATE INDEX executions_status_idx ON executions (status);

CREATE TABLE commits (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    execution_id  TEXT NOT NULL,
    sha           TEXT NOT NULL,
    branch        TEXT NOT NULL,
    message       TEXT NOT NULL DEFAULT '',
    files_changed TEXT NOT NULL DEFAULT '[]', -- JSON array of paths
    pr_url        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    FOREIGN KEY (execution_id, user_id) REFERENCES executions (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX commits_execution_idx ON commits (execution_id, id);

CREATE TABLE reviews (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    agent_id     TEXT REFERENCES agents (id) ON DELETE SET NULL,
    verdict      TEXT NOT NULL CHECK (verdict IN ('approve', 'request_changes', 'comment')),
    summary      TEXT NOT NULL DEFAULT '',
    comments     TEXT NOT NULL DEFAULT '[]', -- JSON array of {path, line, body}
    created_at   TEXT NOT NULL,
    FOREIGN KEY (execution_id, user_id) REFERENCES executions (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX reviews_execution_idx ON reviews (execution_id, id);

CREATE TABLE code_chunks (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    path         TEXT NOT NULL,
    language     TEXT NOT NULL DEFAULT '',
    start_line   INTEGER NOT NULL,
    end_line     INTEGER NOT NULL,
    symbol       TEXT NOT NULL DEFAULT '',
    content      TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    embedding    BLOB, -- little-endian float32 vector; searched exactly in Go
    created_at   TEXT NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX code_chunks_project_path_idx ON code_chunks (project_id, path);
CREATE INDEX code_chunks_hash_idx ON code_chunks (project_id, content_hash);

CREATE TABLE llm_usage (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id        TEXT REFERENCES projects (id) ON DELETE SET NULL,
    execution_id      TEXT REFERENCES executions (id) ON DELETE SET NULL,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens     INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0,
    cost_saved_usd    REAL NOT NULL DEFAULT 0,
    latency_ms        INTEGER NOT NULL DEFAULT 0,
    cache_hit         INTEGER NOT NULL DEFAULT 0 CHECK (cache_hit IN (0, 1)),
    status            TEXT NOT NULL DEFAULT 'ok',
    created_at        TEXT NOT NULL
) STRICT;
CREATE INDEX llm_usage_user_time_idx ON llm_usage (user_id, created_at);
CREATE INDEX llm_usage_project_idx ON llm_usage (project_id, created_at);

-- Append-only: the triggers below refuse updates and deletes.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL DEFAULT '',
    target_id   TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL DEFAULT 'success',
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    metadata    TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, created_at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
