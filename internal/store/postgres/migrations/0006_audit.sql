-- Audit trail access, and the owner probe that lets the audit trail tell an attempt on
-- another tenant's resource from a request for one that does not exist.
--
-- audit_log (append-only through its triggers) came with 0001 without row-level
-- security. It gets it here, keyed on the same transaction-local settings as every
-- tenant table:
--   * tenant_isolation: a user's transaction (app.user_id) sees, and may update or
--     delete (which the append-only triggers then refuse with an error), only the rows
--     it is the actor of. It may insert its own rows and anonymous ones (actor_id NULL:
--     a failed login for an unknown email); never a row naming another actor. A
--     transaction without app.user_id may insert anonymous rows only.
--   * admin_read: a transaction that ran set_config('app.admin', 'on', true) reads every
--     row. FOR SELECT, so the flag can neither write, update nor delete a row (as with
--     admin_read on llm_usage).
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (actor_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (actor_id IS NULL OR actor_id = NULLIF(current_setting('app.user_id', true), '')::uuid);
CREATE POLICY admin_read ON audit_log FOR SELECT
    USING (current_setting('app.admin', true) = 'on');

-- An administrator's view filtered by action, newest first.
CREATE INDEX audit_log_action_id_idx ON audit_log (action, id);

-- The owner probe. A SECURITY DEFINER function would not do: the application role owns
-- these tables and FORCE ROW LEVEL SECURITY applies to the owner, so the function would
-- see no more than its caller. The narrowest opening is one row: each probe_read policy
-- makes visible, to SELECT only, the single row whose id equals the transaction-local
-- setting app.probe_id (app.probe_job for job_refs). Unset — everywhere but inside
-- vibecoder_resource_owner — they match nothing. Being FOR SELECT they grant no write:
-- UPDATE and DELETE must still pass tenant_isolation.
CREATE POLICY probe_read ON projects FOR SELECT
    USING (id = NULLIF(current_setting('app.probe_id', true), '')::uuid);
CREATE POLICY probe_read ON tasks FOR SELECT
    USING (id = NULLIF(current_setting('app.probe_id', true), '')::uuid);
CREATE POLICY probe_read ON agents FOR SELECT
    USING (id = NULLIF(current_setting('app.probe_id', true), '')::uuid);
CREATE POLICY probe_read ON executions FOR SELECT
    USING (id = NULLIF(current_setting('app.probe_id', true), '')::uuid);
CREATE POLICY probe_read ON job_refs FOR SELECT
    USING (job_id = NULLIF(current_setting('app.probe_job', true), '')::bigint);

-- vibecoder_resource_owner returns the owner (user_id) of the resource of the given
-- kind ('project', 'task', 'agent', 'execution' or 'job') and id, whoever it belongs to,
-- or NULL when there is none or the id is malformed. It sets the probe for its one
-- SELECT and clears it before returning, so nothing else in the transaction sees the
-- row; the store calls it in a read-only transaction of its own.
CREATE FUNCTION vibecoder_resource_owner(p_kind text, p_id text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
BEGIN
    IF p_kind = 'job' THEN
        IF p_id !~ '^[1-9][0-9]{0,17}$' THEN
            RETURN NULL;
        END IF;
        PERFORM set_config('app.probe_job', p_id, true);
        SELECT j.user_id INTO owner FROM job_refs j WHERE j.job_id = p_id::bigint;
        PERFORM set_config('app.probe_job', '', true);
        RETURN owner;
    END IF;
    IF p_id !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('app.probe_id', p_id, true);
    CASE p_kind
        WHEN 'project' THEN SELECT r.user_id INTO owner FROM projects r WHERE r.id = p_id::uuid;
        WHEN 'task' THEN SELECT r.user_id INTO owner FROM tasks r WHERE r.id = p_id::uuid;
        WHEN 'agent' THEN SELECT r.user_id INTO owner FROM agents r WHERE r.id = p_id::uuid;
        WHEN 'execution' THEN SELECT r.user_id INTO owner FROM executions r WHERE r.id = p_id::uuid;
        ELSE RAISE EXCEPTION 'unknown resource kind %', p_kind USING ERRCODE = 'invalid_parameter_value';
    END CASE;
    PERFORM set_config('app.probe_id', '', true);
    RETURN owner;
END
$$;
