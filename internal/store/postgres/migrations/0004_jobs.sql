-- Background jobs and their progress events.
--
-- River owns its own tables (river_job and friends, migrated by River). job_refs ties a
-- River job to the tenant that owns it, so the jobs API can list and act on a user's
-- jobs only; a job and its ref are inserted in one transaction.
CREATE TABLE job_refs (
    job_id       bigint PRIMARY KEY,
    user_id      uuid NOT NULL,
    project_id   uuid NOT NULL,
    execution_id uuid,
    kind         text NOT NULL,
    created_at   timestamptz NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (execution_id, user_id) REFERENCES executions (id, user_id) ON DELETE CASCADE
);
CREATE INDEX job_refs_project_idx ON job_refs (project_id, job_id);
CREATE INDEX job_refs_user_idx ON job_refs (user_id, job_id);

-- Progress events of executions and of project jobs (indexing), read by the
-- server-sent event streams. The id orders them and is the stream's Last-Event-ID.
CREATE TABLE events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      uuid NOT NULL,
    project_id   uuid NOT NULL,
    execution_id uuid,
    type         text NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (execution_id, user_id) REFERENCES executions (id, user_id) ON DELETE CASCADE
);
CREATE INDEX events_execution_idx ON events (execution_id, id);
CREATE INDEX events_project_idx ON events (project_id, id);

-- Wake the event streams of every process: the payload names the project, and a
-- listener re-reads the table (under row-level security) rather than trusting it.
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vibecoder_events', NEW.project_id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_notify();

ALTER TABLE job_refs ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_refs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON job_refs
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);
