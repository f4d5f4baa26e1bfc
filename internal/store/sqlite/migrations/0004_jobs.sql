-- Background jobs and their progress events. River owns its own tables; job_refs ties a
-- River job to the tenant that owns it (inserted in the job's transaction).
CREATE TABLE job_refs (
    job_id       INTEGER PRIMARY KEY,
    user_id      TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    execution_id TEXT,
    kind         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (execution_id, user_id) REFERENCES executions (id, user_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX job_refs_project_idx ON job_refs (project_id, job_id);
CREATE INDEX job_refs_user_idx ON job_refs (user_id, job_id);

-- Progress events of executions and project jobs; the id orders them and is the
-- server-sent event stream's Last-Event-ID.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    execution_id TEXT,
    type         TEXT NOT NULL,
    data         TEXT NOT NULL DEFAULT '{}',
    created_at   TEXT NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (execution_id, user_id) REFERENCES executions (id, user_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX events_execution_idx ON events (execution_id, id);
CREATE INDEX events_project_idx ON events (project_id, id);
