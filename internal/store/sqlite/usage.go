package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

// budgetEpsilon absorbs floating-point residue when comparing money: a reservation
// that lands on the limit exactly must not be refused because 0.1+0.2 > 0.3.
const budgetEpsilon = 1e-9

// Usage rows are written only when their project and execution, if named, are the
// row owner's: llm_usage references them by id alone, so without the guard a row
// could point at another tenant's project. A guarded-out row inserts nothing.

// usageChunks are the rows per INSERT statement InsertUsage uses, largest first: a
// batch is written as the fewest statements of these sizes (15 parameters a row,
// well under SQLite's 32766), each prepared once per store. One statement per chunk
// rather than per row, and no SQL parsed per batch: the gateway records a row for
// every call, cache hits included, and per-row statements cost more CPU than the rest
// of a cache hit's path.
var usageChunks = []int{64, 16, 4, 1}

// insertUsageRows is the INSERT of n usage rows. A row whose guard fails is skipped;
// the caller compares the rows affected with n.
func insertUsageRows(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO llm_usage (id, user_id, project_id, execution_id, provider, model,
		prompt_tokens, completion_tokens, cached_tokens, cost_usd, cost_saved_usd, latency_ms, cache_hit, status, created_at)
	SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, v.column9,
		v.column10, v.column11, v.column12, v.column13, v.column14, v.column15
	FROM (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	b.WriteString(`) AS v
	WHERE (v.column3 IS NULL OR EXISTS (SELECT 1 FROM projects p WHERE p.id = v.column3 AND p.user_id = v.column2))
	  AND (v.column4 IS NULL OR EXISTS (SELECT 1 FROM executions e WHERE e.id = v.column4 AND e.user_id = v.column2))`)
	return b.String()
}

// usageStmt returns the prepared INSERT of n rows.
func (s *Store) usageStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	if st := s.usageStmts[n]; st != nil {
		return st, nil
	}
	st, err := s.writer.PrepareContext(ctx, insertUsageRows(n))
	if err != nil {
		return nil, err
	}
	if s.usageStmts == nil {
		s.usageStmts = map[int]*sql.Stmt{}
	}
	s.usageStmts[n] = st
	return st, nil
}

func usageArgs(args []any, r *store.LLMUsage) []any {
	hit := 0
	if r.CacheHit {
		hit = 1
	}
	return append(args, r.ID.String(), r.UserID.String(), uuidPtrArg(r.ProjectID),
		uuidPtrArg(r.ExecutionID), r.Provider, r.Model, r.PromptTokens, r.CompletionTokens, r.CachedTokens,
		r.CostUSD, r.CostSavedUSD, r.LatencyMS, hit, r.Status, fmtTime(r.CreatedAt))
}

// InsertUsage implements store.Usage. Rows get an id and a creation time when they
// have none, and status "ok" when it is empty; a nil-UUID project or execution counts
// as none. All rows go in one write transaction. A row naming another user's project
// or execution, or an unknown user, fails the whole batch with ErrNotFound.
func (s *Store) InsertUsage(ctx context.Context, rows []store.LLMUsage) error {
	if len(rows) == 0 {
		return nil
	}
	store.PrepareUsage(rows)
	// The statements are prepared before the transaction begins: the writer has one
	// connection, which the transaction holds. Inside a caller's transaction they are
	// prepared on it, for this call only.
	var sizes []int
	for left := len(rows); left > 0; {
		size := usageChunks[len(usageChunks)-1]
		for _, c := range usageChunks {
			if c <= left {
				size = c
				break
			}
		}
		sizes = append(sizes, size)
		left -= size
	}
	joined := ctxTx(ctx) != nil
	stmts := map[int]*sql.Stmt{}
	if !joined {
		for _, size := range sizes {
			st, err := s.usageStmt(ctx, size)
			if err != nil {
				return fmt.Errorf("insert %d usage rows: %w", len(rows), translate(err))
			}
			stmts[size] = st
		}
	}
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		if joined {
			// All or none inside the caller's transaction too: a refused row undoes
			// the rows before it, and the caller's transaction goes on.
			if _, err := tx.ExecContext(ctx, "SAVEPOINT insert_usage"); err != nil {
				return err
			}
			defer func() {
				if err != nil {
					_, _ = tx.ExecContext(ctx, "ROLLBACK TO insert_usage")
				}
				if _, rerr := tx.ExecContext(ctx, "RELEASE insert_usage"); err == nil {
					err = rerr
				}
			}()
		}
		args := make([]any, 0, 15*sizes[0])
		start := 0
		for _, size := range sizes {
			chunk := rows[start : start+size]
			args = args[:0]
			for i := range chunk {
				args = usageArgs(args, &chunk[i])
			}
			var res sql.Result
			var err error
			if joined {
				res, err = tx.ExecContext(ctx, insertUsageRows(size), args...)
			} else {
				res, err = tx.StmtContext(ctx, stmts[size]).ExecContext(ctx, args...)
			}
			if err != nil {
				return translate(err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n == int64(len(chunk)) {
				start += size
				continue
			}
			// A guard refused a row: find it, to name it in the error.
			for i := range chunk {
				r := &chunk[i]
				var one int
				err := tx.QueryRowContext(ctx, `SELECT 1 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)
					AND (?3 IS NULL OR EXISTS (SELECT 1 FROM projects p WHERE p.id = ?3 AND p.user_id = ?2))
					AND (?4 IS NULL OR EXISTS (SELECT 1 FROM executions e WHERE e.id = ?4 AND e.user_id = ?2))`,
					nil, r.UserID.String(), uuidPtrArg(r.ProjectID), uuidPtrArg(r.ExecutionID)).Scan(&one)
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("row %d (%s): %w", start+i, r.ID, store.ErrNotFound)
				}
			}
			return fmt.Errorf("rows %d to %d: %w", start, start+len(chunk)-1, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert %d usage rows: %w", len(rows), translate(err))
	}
	return nil
}

// usageStatsQuery aggregates per provider and model; avg over a CASE without ELSE
// averages only the matching rows and is NULL (hence 0) when there are none.
const usageStatsQuery = `SELECT provider, model, count(*),
		coalesce(sum(cache_hit), 0),
		coalesce(sum(1 - cache_hit), 0),
		coalesce(sum(prompt_tokens), 0),
		coalesce(sum(completion_tokens), 0),
		coalesce(sum(CASE WHEN cache_hit = 1 THEN prompt_tokens + completion_tokens ELSE 0 END), 0),
		total(cost_usd),
		total(cost_saved_usd),
		coalesce(avg(CASE WHEN cache_hit = 1 THEN latency_ms END), 0.0),
		coalesce(avg(CASE WHEN cache_hit = 0 THEN latency_ms END), 0.0)
	FROM llm_usage WHERE created_at >= ? %s
	GROUP BY provider, model
	ORDER BY provider, model`

// UsageStats implements store.Usage.
func (s *Store) UsageStats(ctx context.Context, userID uuid.UUID, since time.Time) ([]store.UsageStats, error) {
	q, args := fmt.Sprintf(usageStatsQuery, ""), []any{fmtTime(since)}
	if userID != uuid.Nil {
		q, args = fmt.Sprintf(usageStatsQuery, "AND user_id = ?"), append(args, userID.String())
	}
	rows, err := s.r(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("usage stats: %w", translate(err))
	}
	out, err := collect(rows, func(r scanner) (*store.UsageStats, error) {
		var st store.UsageStats
		if err := r.Scan(&st.Provider, &st.Model, &st.Calls, &st.Hits, &st.Misses, &st.PromptTokens,
			&st.CompletionTokens, &st.TokensSaved, &st.CostUSD, &st.CostSavedUSD,
			&st.MeanHitLatencyMS, &st.MeanMissLatencyMS); err != nil {
			return nil, translate(err)
		}
		return &st, nil
	})
	if err != nil {
		return nil, fmt.Errorf("usage stats: %w", err)
	}
	return out, nil
}

// MonthSpend implements store.Usage.
func (s *Store) MonthSpend(ctx context.Context, userID uuid.UUID, since time.Time) (float64, error) {
	var spend float64
	err := s.r(ctx).QueryRowContext(ctx, "SELECT total(cost_usd) FROM llm_usage WHERE user_id = ? AND created_at >= ?",
		userID.String(), fmtTime(since)).Scan(&spend)
	if err != nil {
		return 0, fmt.Errorf("month spend of user %s: %w", userID, translate(err))
	}
	return spend, nil
}

// GetUserLimits implements store.Usage.
func (s *Store) GetUserLimits(ctx context.Context, userID uuid.UUID) (*store.UserLimits, error) {
	var l store.UserLimits
	var rpm, tpm sql.NullInt64
	var budget sql.NullFloat64
	var updated string
	err := s.r(ctx).QueryRowContext(ctx, `SELECT user_id, requests_per_minute, tokens_per_minute, monthly_budget_usd, updated_at
		FROM user_limits WHERE user_id = ?`, userID.String()).Scan(&l.UserID, &rpm, &tpm, &budget, &updated)
	if err != nil {
		return nil, fmt.Errorf("get limits of user %s: %w", userID, translate(err))
	}
	if rpm.Valid {
		l.RequestsPerMinute = new(int(rpm.Int64))
	}
	if tpm.Valid {
		l.TokensPerMinute = new(int(tpm.Int64))
	}
	if budget.Valid {
		l.MonthlyBudgetUSD = new(budget.Float64)
	}
	if l.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, fmt.Errorf("get limits of user %s: %w", userID, err)
	}
	return &l, nil
}

// SetUserLimits implements store.Usage: it replaces every limit of the user (a nil
// field clears that limit) and sets UpdatedAt. An unknown user is ErrNotFound.
func (s *Store) SetUserLimits(ctx context.Context, l *store.UserLimits) error {
	now := store.Now()
	_, err := s.w(ctx).ExecContext(ctx, `INSERT INTO user_limits (user_id, requests_per_minute, tokens_per_minute, monthly_budget_usd, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET requests_per_minute = excluded.requests_per_minute,
			tokens_per_minute = excluded.tokens_per_minute, monthly_budget_usd = excluded.monthly_budget_usd,
			updated_at = excluded.updated_at`,
		l.UserID.String(), intPtrArg(l.RequestsPerMinute), intPtrArg(l.TokensPerMinute), floatPtrArg(l.MonthlyBudgetUSD), fmtTime(now))
	if err != nil {
		return fmt.Errorf("set limits of user %s: %w", l.UserID, translate(err))
	}
	l.UpdatedAt = now
	return nil
}

func intPtrArg(v *int) any {
	if v == nil {
		return nil
	}
	return int64(*v)
}

func floatPtrArg(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// ReserveBudget implements store.Usage with one conditional upsert. The SELECT's WHERE
// refuses a first reservation that alone exceeds the limit; the DO UPDATE's WHERE
// refuses one that would take an existing period past it. SQLite runs one writer at a
// time, so the check and the increment cannot interleave with another reservation,
// even one from another process.
func (s *Store) ReserveBudget(ctx context.Context, userID uuid.UUID, period string, limit, amount float64) error {
	from, to, err := store.BudgetPeriod(period, amount)
	if err != nil {
		return fmt.Errorf("reserve budget: %w", err)
	}
	// One write transaction (SQLite has one writer): the period's row is updated if it
	// exists; only its first reservation sums the month's usage to start from.
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE budget_periods SET reserved_usd = reserved_usd + ?3
			WHERE user_id = ?1 AND period = ?2 AND spent_usd + reserved_usd + ?3 <= ?4 + ?5`,
			userID.String(), period, amount, limit, budgetEpsilon)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM budget_periods WHERE user_id = ? AND period = ?)`,
			userID.String(), period).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return store.ErrBudgetExceeded
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO budget_periods (user_id, period, spent_usd, reserved_usd)
			SELECT ?1, ?2, u.spent, ?3 FROM (SELECT total(cost_usd) AS spent FROM llm_usage
				WHERE user_id = ?1 AND created_at >= ?6 AND created_at < ?7) AS u
			WHERE u.spent + ?3 <= ?4 + ?5`,
			userID.String(), period, amount, limit, budgetEpsilon, fmtTime(from), fmtTime(to))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return store.ErrBudgetExceeded
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
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE budget_periods SET reserved_usd = reserved_usd - ?3, spent_usd = spent_usd + ?4
			WHERE user_id = ?1 AND period = ?2`, userID.String(), period, reserved, actual)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		if reserved > budgetEpsilon {
			return errNothingReserved
		}
		// The period's first row starts from the month's usage, as in ReserveBudget.
		_, err = tx.ExecContext(ctx, `INSERT INTO budget_periods (user_id, period, spent_usd, reserved_usd)
			SELECT ?1, ?2, u.spent + ?3, 0.0 FROM (SELECT total(cost_usd) AS spent FROM llm_usage
				WHERE user_id = ?1 AND created_at >= ?4 AND created_at < ?5) AS u`,
			userID.String(), period, actual, fmtTime(from), fmtTime(to))
		return err
	})
	if err != nil {
		return fmt.Errorf("settle budget of user %s for %s: %w", userID, period, translate(err))
	}
	return nil
}

// BudgetState implements store.Usage.
func (s *Store) BudgetState(ctx context.Context, userID uuid.UUID, period string) (spent, reserved float64, err error) {
	err = s.r(ctx).QueryRowContext(ctx, "SELECT spent_usd, reserved_usd FROM budget_periods WHERE user_id = ? AND period = ?",
		userID.String(), period).Scan(&spent, &reserved)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("budget state of user %s for %s: %w", userID, period, translate(err))
	}
	return spent, reserved, nil
}

// UsageByDay implements store.UsageDays.
func (s *Store) UsageByDay(ctx context.Context, userID uuid.UUID, since time.Time) ([]store.DailyUsage, error) {
	rows, err := s.r(ctx).QueryContext(ctx, `SELECT substr(created_at, 1, 10) AS day, count(*), total(cache_hit),
		total(prompt_tokens + completion_tokens), total(cost_usd), total(cost_saved_usd)
		FROM llm_usage WHERE user_id = ? AND created_at >= ? GROUP BY day ORDER BY day`, userID.String(), fmtTime(since))
	if err != nil {
		return nil, fmt.Errorf("usage by day: %w", translate(err))
	}
	return collect(rows, func(r scanner) (*store.DailyUsage, error) {
		var d store.DailyUsage
		var hits, tokens float64
		if err := r.Scan(&d.Day, &d.Calls, &hits, &tokens, &d.CostUSD, &d.CostSavedUSD); err != nil {
			return nil, err
		}
		d.Hits, d.Tokens = int64(hits), int64(tokens)
		return &d, nil
	})
}
