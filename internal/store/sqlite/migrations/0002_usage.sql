-- LLM accounting: per-user limits and monthly budget periods.

-- A NULL limit means "use the server default".
CREATE TABLE user_limits (
    user_id             TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    requests_per_minute INTEGER CHECK (requests_per_minute >= 0),
    tokens_per_minute   INTEGER CHECK (tokens_per_minute >= 0),
    monthly_budget_usd  REAL CHECK (monthly_budget_usd >= 0),
    updated_at          TEXT NOT NULL
) STRICT;

-- One row per user and calendar month ('YYYY-MM'). reserved_usd is what calls in
-- flight may still cost; ReserveBudget raises it with a conditional upsert and
-- SettleBudget moves it into spent_usd. The check tolerates floating-point residue
-- only: releasing more than was reserved is a bug and fails.
CREATE TABLE budget_periods (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    period       TEXT NOT NULL CHECK (length(period) = 7 AND period GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]'),
    spent_usd    REAL NOT NULL DEFAULT 0,
    reserved_usd REAL NOT NULL DEFAULT 0,
    CONSTRAINT budget_periods_reserved_nonnegative CHECK (reserved_usd >= -1e-9),
    PRIMARY KEY (user_id, period)
) STRICT;

CREATE INDEX llm_usage_time_idx ON llm_usage (created_at);
