-- LLM accounting: per-user limits and monthly budget periods, and read access to
-- llm_usage across tenants for administrators.

-- A NULL limit means "use the server default".
CREATE TABLE user_limits (
    user_id             uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    requests_per_minute integer CHECK (requests_per_minute >= 0),
    tokens_per_minute   integer CHECK (tokens_per_minute >= 0),
    monthly_budget_usd  double precision CHECK (monthly_budget_usd >= 0),
    updated_at          timestamptz NOT NULL
);

-- One row per user and calendar month ('YYYY-MM'). reserved_usd is what calls in
-- flight may still cost; ReserveBudget raises it with a conditional upsert and
-- SettleBudget moves it into spent_usd. The check tolerates floating-point residue
-- only: releasing more than was reserved is a bug and fails.
CREATE TABLE budget_periods (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    period       text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    spent_usd    double precision NOT NULL DEFAULT 0,
    reserved_usd double precision NOT NULL DEFAULT 0,
    CONSTRAINT budget_periods_reserved_nonnegative CHECK (reserved_usd >= -1e-9),
    PRIMARY KEY (user_id, period)
);

-- Administrators' aggregates scan by time across users.
CREATE INDEX llm_usage_time_idx ON llm_usage (created_at);

ALTER TABLE user_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_limits FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_limits
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE budget_periods ENABLE ROW LEVEL SECURITY;
ALTER TABLE budget_periods FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON budget_periods
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

-- Administrators aggregate usage across tenants inside a transaction that ran
-- set_config('app.admin', 'on', true). Permissive policies are OR-ed, so this adds
-- visibility without touching tenant_isolation; being FOR SELECT it grants reads only:
-- the admin flag can neither write, update nor delete a usage row.
CREATE POLICY admin_read ON llm_usage FOR SELECT
    USING (current_setting('app.admin', true) = 'on');
