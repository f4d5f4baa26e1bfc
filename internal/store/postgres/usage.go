package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

// budgetEpsilon absorbs floating-point residue when comparing money: a reservation
// that lands on the limit exactly must not be refused because 0.1+0.2 > 0.3.
const budgetEpsilon = 1e-9

// adminTx runs fn in a read-only transaction that sets app.admin, transaction-locally.
// The admin_read policy on llm_usage honours it, so fn reads every tenant's usage;
// app.user_id stays unset, so every other tenant table stays invisible and nothing can
// be written. Only UsageStats for all users (an administrator's view) uses it.
func (s *Store) adminTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('app.admin', 'on', true)"); err != nil {
			return err
		}
		return fn(tx)
	})
}

// insertUsage writes one row only when its project and execution, if named, are the
// row owner's: foreign-key checks bypass row-level security, and llm_usage references
// projects and executions by id alone, so without the guard a row could point at
// another tenant's project. A guarded-out row inserts nothing.
const insertUsage = `INSERT INTO llm_usage (id, user_id, project_id, execution_id, provider, model,
		prompt_tokens, completion_tokens, cached_tokens, cost_usd, cost_saved_usd, latency_ms, cache_hit, status, created_at)
	SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::text, $6::text, $7::bigint, $8::bigint, $9::bigint,
		$10::double precision, $11::double precision, $12::bigint, $13::boolean, $14::text, $15::timestamptz
	WHERE ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM projects p WHERE p.id = $3 AND p.user_id = $2))
	  AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM executions e WHERE e.id = $4 AND e.user_id = $2))`

// InsertUsage implements store.Usage. Rows get an id and a creation time when they
// have none, and status "ok" when it is empty; a nil-UUID project or execution counts
// as none. Everything goes to the server as one batch in one transaction; app.user_id
// is set to each row's owner before its insert, so the row-level security policy
// checks every row against its own tenant. A row naming another user's project or
// execution, or an unknown user, fails the whole batch with ErrNotFound.
func (s *Store) InsertUsage(ctx context.Context, rows []store.LLMUsage) error {
	if len(rows) == 0 {
		return nil
	}
	store.PrepareUsage(rows)
	write := func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		// rowOf maps each queued statement to its usage row; -1 marks set_config.
		rowOf := make([]int, 0, 2*len(rows))
		for i := range rows {
			r := &rows[i]
			if i == 0 || r.UserID != rows[i-1].UserID {
				b.Queue("SELECT set_config('app.user_id', $1, true)", r.UserID.String())
				rowOf = append(rowOf, -1)
			}
			b.Queue(insertUsage, r.ID, r.UserID, r.ProjectID, r.ExecutionID, r.Provider, r.Model,
				r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.CostUSD, r.CostSavedUSD, r.LatencyMS,
				r.CacheHit, r.Status, r.CreatedAt)
			rowOf = append(rowOf, i)
		}
		br := tx.SendBatch(ctx, b)
		for _, i := range rowOf {
			tag, err := br.Exec()
			if i < 0 {
				if err != nil {
					_ = br.Close()
					return err
				}
				continue
			}
			if err == nil && tag.RowsAffected() != 1 {
				err = fmt.Errorf("%w: project or execution is not the user's", store.ErrNotFound)
			}
			if err != nil {
				_ = br.Close()
				return fmt.Errorf("row %d (%s): %w", i, rows[i].ID, translate(err))
			}
		}
		return br.Close()
	}
	var err error
	if cur, ok := ctx.Value(txKey{}).(boundTx); ok {
		// In a caller's transaction (InTx): its rows only, under its tenant setting.
		for i := range rows {
			if rows[i].UserID != cur.userID {
				return fmt.Errorf("insert usage rows: a transaction of user %s cannot write a row of user %s", cur.userID, rows[i].UserID)
			}
		}
		// All or none inside the caller's transaction too: a savepoint undoes a
		// refused batch, and the caller's transaction goes on.
		err = pgx.BeginFunc(ctx, cur.tx, write)
	} else {
		err = pgx.BeginFunc(ctx, s.pool, write)
	}
	if err != nil {
		return fmt.Errorf("insert %d usage rows: %w", len(rows), translate(err))
	}
	return nil
}

// usageStatsQuery aggregates per provider and model. Sums of bigint are numeric in
// PostgreSQL, hence the casts; the "C" collation orders names bytewise, as SQLite does.
const usageStatsQuery = `SELECT provider, model, count(*),
		count(*) FILTER (WHERE cache_hit),
		count(*) FILTER (WHERE NOT cache_hit),
		coalesce(sum(prompt_tokens), 0)::bigint,
		coalesce(sum(completion_tokens), 0)::bigint,
		coalesce(sum(prompt_tokens + completion_tokens) FILTER (WHERE cache_hit), 0)::bigint,
		coalesce(sum(cost_usd), 0),
		coalesce(sum(cost_saved_usd), 0),
		coalesce(avg(latency_ms) FILTER (WHERE cache_hit), 0)::double precision,
		coalesce(avg(latency_ms) FILTER (WHERE NOT cache_hit), 0)::double precision
	FROM llm_usage WHERE created_at >= $1 %s
	GROUP BY provider, model
	ORDER BY provider COLLATE "C", model COLLATE "C"`

// UsageStats implements store.Usage. One user's stats are read as that tenant; all
// users' through adminTx, the only path on which llm_usage spans tenants.
func (s *Store) UsageStats(ctx context.Context, userID uuid.UUID, since time.Time) ([]store.UsageStats, error) {
	var out []store.UsageStats
	read := func(tx pgx.Tx) error {
		q, args := fmt.Sprintf(usageStatsQuery, ""), []any{since}
		if userID != uuid.Nil {
			q, args = fmt.Sprintf(usageStatsQuery, "AND user_id = $2"), append(args, userID)
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.Row) (*store.UsageStats, error) {
			var st store.UsageStats
			if err := r.Scan(&st.Provider, &st.Model, &st.Calls, &st.Hits, &st.Misses, &st.PromptTokens,
				&st.CompletionTokens, &st.TokensSaved, &st.CostUSD, &st.CostSavedUSD,
				&st.MeanHitLatencyMS, &st.MeanMissLatencyMS); err != nil {
				return nil, translate(err)
			}
			return &st, nil
		})
		return err
	}
	var err error
	if userID == uuid.Nil {
		err = s.adminTx(ctx, read)
	} else {
		err = s.tenantTx(ctx, userID, read)
	}
	if err != nil {
		return nil, fmt.Errorf("usage stats: %w", translate(err))
	}
	return out, nil
}

// MonthSpend implements store.Usage.
func (s *Store) MonthSpend(ctx context.Context, userID uuid.UUID, since time.Time) (float64, error) {
	var spend float64
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT coalesce(sum(cost_usd), 0) FROM llm_usage WHERE user_id = $1 AND created_at >= $2",
			userID, since).Scan(&spend)
	})
	if err != nil {
		return 0, fmt.Errorf("month spend of user %s: %w", userID, translate(err))
	}
	return spend, nil
}

// GetUserLimits implements store.Usage.
func (s *Store) GetUserLimits(ctx context.Context, userID uuid.UUID) (*store.UserLimits, error) {
	var l store.UserLimits
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT user_id, requests_per_minute, tokens_per_minute, monthly_budget_usd, updated_at
			FROM user_limits WHERE user_id = $1`, userID).
			Scan(&l.UserID, &l.RequestsPerMinute, &l.TokensPerMinute, &l.MonthlyBudgetUSD, &l.UpdatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("get limits of user %s: %w", userID, translate(err))
	}
	return &l, nil
}

// SetUserLimits implements store.Usage: it replaces every limit of the user (a nil
// field clears that limit) and sets UpdatedAt. An unknown user is ErrNotFound.
func (s *Store) SetUserLimits(ctx context.Context, l *store.UserLimits) error {
	now := store.Now()
	err := s.tenantTx(ctx, l.UserID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO user_limits (user_id, requests_per_minute, tokens_per_minute, monthly_budget_usd, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id) DO UPDATE SET requests_per_minute = EXCLUDED.requests_per_minute,
				tokens_per_minute = EXCLUDED.tokens_per_minute, monthly_budget_usd = EXCLUDED.monthly_budget_usd,
				updated_at = EXCLUDED.updated_at`,
			l.UserID, l.RequestsPerMinute, l.TokensPerMinute, l.MonthlyBudgetUSD, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("set limits of user %s: %w", l.UserID, translate(err))
	}
	l.UpdatedAt = now
	return nil
}

// ReserveBudget implements store.Usage with one conditional upsert. The SELECT's WHERE
// refuses a first reservation that alone exceeds the limit; the DO UPDATE's WHERE
// refuses one that would take an existing period past it. Under READ COMMITTED a
// concurrent reservation of the same row makes this one wait for the row lock and then
// re-evaluate the WHERE on the newest version, so concurrent callers, in any number
// of processes, cannot overspend.
func (s *Store) ReserveBudget(ctx context.Context, userID uuid.UUID, period string, limit, amount float64) error {
	from, to, err := store.BudgetPeriod(period, amount)
	if err != nil {
		return fmt.Errorf("reserve budget: %w", err)
	}
	err = s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		// The period's row, when it exists, is updated under its row lock with the
		// check in the same statement. Only a period's first reservation sums the
		// month's usage to start from; two first reservations racing meet in the
		// upsert's conflict arm, which checks the row that won.
		tag, err := tx.Exec(ctx, `UPDATE budget_periods SET reserved_usd = reserved_usd + $3::double precision
			WHERE user_id = $1::uuid AND period = $2::text
			  AND spent_usd + reserved_usd + $3::double precision <= $4::double precision + $5::double precision`,
			userID, period, amount, limit, budgetEpsilon)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM budget_periods WHERE user_id = $1::uuid AND period = $2::text)`,
			userID, period).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return store.ErrBudgetExceeded
		}
		var one int
		err = tx.QueryRow(ctx, `INSERT INTO budget_periods AS b (user_id, period, spent_usd, reserved_usd)
			SELECT $1::uuid, $2::text, u.spent, $3::double precision
			FROM (SELECT coalesce(sum(cost_usd), 0)::double precision AS spent FROM llm_usage
				WHERE user_id = $1::uuid AND created_at >= $6::timestamptz AND created_at < $7::timestamptz) AS u
			WHERE u.spent + $3::double precision <= $4::double precision + $5::double precision
			ON CONFLICT (user_id, period) DO UPDATE SET reserved_usd = b.reserved_usd + EXCLUDED.reserved_usd
			WHERE b.spent_usd + b.reserved_usd + EXCLUDED.reserved_usd <= $4::double precision + $5::double precision
			RETURNING 1`,
			userID, period, amount, limit, budgetEpsilon, from, to).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) { // nothing inserted or updated: the condition refused it
			return store.ErrBudgetExceeded
		}
		return err
	})
	if errors.Is(err, store.ErrBudgetExceeded) {
		return err
	}
	if err != nil {
		return fmt.Errorf("reserve budget of user %s for %s: %w", userID, period, translate(err))
	}
	return nil
}

// errNothingReserved reports a settlement that releases a reservation in a period
// that has none at all.
var errNothingReserved = errors.New("no reservation to release in this period")

// SettleBudget implements store.Usage. The release and the spend are one UPDATE of
// the period's row, atomic under the row lock. Without a row (spend that was never
// reserved) it creates one, provided reserved is zero; releasing a reservation in a
// period that has none is errNothingReserved. Releasing more than is reserved is a
// caller's bug the table's check refuses. Either way the period is left as it was.
// (An upsert cannot do both: the check is evaluated on the insert arm's proposed row
// before the conflict is detected, so it would have to carry a negative reservation.)
func (s *Store) SettleBudget(ctx context.Context, userID uuid.UUID, period string, reserved, actual float64) error {
	from, to, err := store.BudgetPeriod(period, reserved, actual)
	if err != nil {
		return fmt.Errorf("settle budget: %w", err)
	}
	err = s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE budget_periods SET reserved_usd = reserved_usd - $3, spent_usd = spent_usd + $4
			WHERE user_id = $1 AND period = $2`, userID, period, reserved, actual)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		if reserved > budgetEpsilon {
			return errNothingReserved
		}
		// The period's first row starts from the month's usage, as in ReserveBudget. A
		// concurrent first settlement may have created the row since the UPDATE.
		_, err = tx.Exec(ctx, `INSERT INTO budget_periods AS b (user_id, period, spent_usd, reserved_usd)
			SELECT $1::uuid, $2::text, u.spent + $3::double precision, 0
			FROM (SELECT coalesce(sum(cost_usd), 0)::double precision AS spent FROM llm_usage
				WHERE user_id = $1::uuid AND created_at >= $4::timestamptz AND created_at < $5::timestamptz) AS u
			ON CONFLICT (user_id, period) DO UPDATE SET spent_usd = b.spent_usd + $3::double precision`,
			userID, period, actual, from, to)
		return err
	})
	if err != nil {
		return fmt.Errorf("settle budget of user %s for %s: %w", userID, period, translate(err))
	}
	return nil
}

// BudgetState implements store.Usage.
func (s *Store) BudgetState(ctx context.Context, userID uuid.UUID, period string) (spent, reserved float64, err error) {
	err = s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT spent_usd, reserved_usd FROM budget_periods WHERE user_id = $1 AND period = $2",
			userID, period).Scan(&spent, &reserved)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("budget state of user %s for %s: %w", userID, period, translate(err))
	}
	return spent, reserved, nil
}

// UsageByDay implements store.UsageDays.
func (s *Store) UsageByDay(ctx context.Context, userID uuid.UUID, since time.Time) ([]store.DailyUsage, error) {
	var out []store.DailyUsage
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*),
			count(*) FILTER (WHERE cache_hit), coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint,
			coalesce(sum(cost_usd), 0), coalesce(sum(cost_saved_usd), 0)
			FROM llm_usage WHERE user_id = $1 AND created_at >= $2 GROUP BY day ORDER BY day`, userID, since)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.Row) (*store.DailyUsage, error) {
			var d store.DailyUsage
			if err := r.Scan(&d.Day, &d.Calls, &d.Hits, &d.Tokens, &d.CostUSD, &d.CostSavedUSD); err != nil {
				return nil, err
			}
			return &d, nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("usage by day: %w", translate(err))
	}
	return out, nil
}
