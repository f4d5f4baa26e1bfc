-- Vibe Coder schema, PostgreSQL dialect. The same tables, columns, constraints and
-- indexes as the SQLite dialect, in PostgreSQL types. Everything is created unqualified
-- so the schema lands in the first schema of search_path (tests use one schema each).
--
-- Every project-scoped table carries user_id and a composite foreign key to its parent's
-- (id, user_id), so a row can never point at another tenant's parent. On top of that the
-- tenant tables have row-level security keyed on the transaction-local setting
-- app.user_id, which the store sets at the start of every tenant-scoped transaction.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, id);

CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    ip           text NOT NULL DEFAULT '',
    user_agent   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE projects (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    repo_url       text NOT NULL,
    default_branch text NOT NULL DEFAULT '',
    test_command   text NOT NULL DEFAULT '',
    index_status   text NOT NULL DEFAULT 'never',
    indexed_at     timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    UNIQUE (id, user_id)
);
CREATE INDEX projects_user_idx ON projects (user_id, id);

CREATE TABLE agents (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('coder', 'reviewer')),
    model         text NOT NULL DEFAULT '',
    system_prompt text NOT NULL DEFAULT '',
    temperature   double precision NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    UNIQUE (id, user_id)
);
CREATE INDEX agents_user_idx ON agents (user_id, id);

CREATE TABLE tasks (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL,
    project_id  uuid NOT NULL,
    title       text NOT NULL,
    description text NOT NULL DEFAULT '',
    status      text NOT NULL CHECK (status IN ('open', 'running', 'done', 'failed', 'cancelled')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (id, user_id),
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
);
CREATE INDEX tasks_project_idx ON tasks (project_id, id);
CREATE INDEX tasks_user_idx ON tasks (user_id, id);

-- Money is double precision everywhere (costs are estimates accumulated from provider
-- price lists, and float64 round-trips exactly through it).
CREATE TABLE executions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL,
    project_id  uuid NOT NULL,
    task_id     uuid NOT NULL,
    status      text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    step        text NOT NULL DEFAULT '',
    error       text NOT NULL DEFAULT '',
    tokens_in   bigint NOT NULL DEFAULT 0,
    tokens_out  bigint NOT NULL DEFAULT 0,
    cost_usd    double precision NOT NULL DEFAULT 0,
    started_at  timestamptz,
    finished_at timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (id, user_id),
    FOREIGN KEY (task_id, user_id) REFERENCES tasks (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
);
CREATE INDEX executions_task_idx ON executions (task_id, id);
CREATE INDEX executions_user_idx ON executions (user_id, id);
CREATE INDEX executions_status_idx ON executions (status);

CREATE TABLE commits (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL,
    project_id    uuid NOT NULL,
    execution_id  uuid NOT NULL,
    sha           text NOT NULL,
    branch        text NOT NULL,
    message       text NOT NULL DEFAULT '',
    files_changed jsonb NOT NULL DEFAULT '[]', -- array of paths
    pr_url        text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    FOREIGN KEY (execution_id, user_id) REFERENCES executions (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
);
CREATE INDEX commits_execution_idx ON commits (execution_id, id);

-- agent_id may be cleared when the agent is deleted; the composite key still stops a
-- review from naming another tenant's agent. SET NULL (agent_id) clears only that
-- column (PostgreSQL 15 or later).
CREATE TABLE reviews (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    project_id   uuid NOT NULL,
    execution_id uuid NOT NULL,
    agent_id     uuid,
    verdict      text NOT NULL CHECK (verdict IN ('approve', 'request_changes', 'comment')),
    summary      text NOT NULL DEFAULT '',
    comments     jsonb NOT NULL DEFAULT '[]', -- array of {path, line, body}
    created_at   timestamptz NOT NULL,
    FOREIGN KEY (execution_id, user_id) REFERENCES executions (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (agent_id, user_id) REFERENCES agents (id, user_id) ON DELETE SET NULL (agent_id)
);
CREATE INDEX reviews_execution_idx ON reviews (execution_id, id);
CREATE INDEX reviews_agent_idx ON reviews (agent_id);

CREATE TABLE code_chunks (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    project_id   uuid NOT NULL,
    path         text NOT NULL,
    language     text NOT NULL DEFAULT '',
    start_line   integer NOT NULL,
    end_line     integer NOT NULL,
    symbol       text NOT NULL DEFAULT '',
    content      text NOT NULL,
    content_hash text NOT NULL,
    embedding    bytea, -- little-endian float32 vector; a pgvector column comes with the index migration
    created_at   timestamptz NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
);
CREATE INDEX code_chunks_project_path_idx ON code_chunks (project_id, path);
CREATE INDEX code_chunks_hash_idx ON code_chunks (project_id, content_hash);

-- Usage outlives the project and the execution it was spent on (the bill does not go
-- away), so those references are cleared rather than cascaded.
CREATE TABLE llm_usage (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id        uuid REFERENCES projects (id) ON DELETE SET NULL,
    execution_id      uuid REFERENCES executions (id) ON DELETE SET NULL,
    provider          text NOT NULL,
    model             text NOT NULL,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    cached_tokens     bigint NOT NULL DEFAULT 0,
    cost_usd          double precision NOT NULL DEFAULT 0,
    cost_saved_usd    double precision NOT NULL DEFAULT 0,
    latency_ms        bigint NOT NULL DEFAULT 0,
    cache_hit         boolean NOT NULL DEFAULT false,
    status            text NOT NULL DEFAULT 'ok',
    created_at        timestamptz NOT NULL
);
CREATE INDEX llm_usage_user_time_idx ON llm_usage (user_id, created_at);
CREATE INDEX llm_usage_project_idx ON llm_usage (project_id, created_at);
CREATE INDEX llm_usage_execution_idx ON llm_usage (execution_id);

-- Append-only: the triggers below refuse updates, deletes and truncation. actor_id has
-- no foreign key on purpose: the trail outlives the account it mentions.
CREATE TABLE audit_log (
    id          uuid PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    actor_id    uuid,
    action      text NOT NULL,
    target_type text NOT NULL DEFAULT '',
    target_id   text NOT NULL DEFAULT '',
    outcome     text NOT NULL DEFAULT 'success',
    ip          text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    metadata    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, created_at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Row-level security on every tenant table. A row is visible and writable only inside a
-- transaction that ran set_config('app.user_id', <owner>, true); with the setting
-- absent or empty the policy matches nothing. FORCE makes the table owner (the role the
-- application connects as) subject to the policy too; superusers and BYPASSRLS roles
-- still bypass it, which is why the store warns at start-up when connected as one.
-- Foreign-key checks and cascades are not filtered by RLS, so the composite keys above
-- keep working across the policy.
--
-- users, api_keys and sessions deliberately carry no RLS: credential lookups (login by
-- email, API key by hash, session by token) happen before the tenant is known. audit_log
-- gets its policies in 0006 (own rows, or all for administrators; append-only here).
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agents
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE executions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON executions
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE commits ENABLE ROW LEVEL SECURITY;
ALTER TABLE commits FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON commits
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE reviews ENABLE ROW LEVEL SECURITY;
ALTER TABLE reviews FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reviews
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE code_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE code_chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON code_chunks
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE llm_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llm_usage
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);
