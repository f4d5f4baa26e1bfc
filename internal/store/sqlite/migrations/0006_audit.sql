-- Audit trail reads. audit_log itself (append-only through its triggers) came with
-- 0001; its (actor_id, id) index serves a user's own entries newest first. This adds
-- (action, id) so that an administrator's view filtered by action (every failed login,
-- say) reads newest first along an index too. SQLite has no row-level security: the
-- store filters by actor.
CREATE INDEX audit_log_action_id_idx ON audit_log (action, id);
