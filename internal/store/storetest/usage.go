package storetest

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

// approx compares money and means: sums of float64 depend on the order rows are added.
func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// sameStats compares everything exactly except the float fields, which it compares
// with approx.
func sameStats(got, want store.UsageStats) bool {
	fg, fw := got, want
	fg.CostUSD, fg.CostSavedUSD, fg.MeanHitLatencyMS, fg.MeanMissLatencyMS = 0, 0, 0, 0
	fw.CostUSD, fw.CostSavedUSD, fw.MeanHitLatencyMS, fw.MeanMissLatencyMS = 0, 0, 0, 0
	return fg == fw && approx(got.CostUSD, want.CostUSD) && approx(got.CostSavedUSD, want.CostSavedUSD) &&
		approx(got.MeanHitLatencyMS, want.MeanHitLatencyMS) && approx(got.MeanMissLatencyMS, want.MeanMissLatencyMS)
}

func wantStats(t *testing.T, what string, got, want []store.UsageStats) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = sameStats(got[i], want[i])
	}
	if !ok {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testUsageStats(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	pa := newProject(t, s, a)
	ea := newExecution(t, s, newTask(t, s, pa))
	now := store.Now()
	old := now.Add(-48 * time.Hour)
	rows := []store.LLMUsage{
		{UserID: a.ID, ProjectID: &pa.ID, ExecutionID: &ea.ID, Provider: "anthropic", Model: "claude",
			PromptTokens: 100, CompletionTokens: 50, CostUSD: 0.01, LatencyMS: 800},
		{UserID: b.ID, Provider: "openai", Model: "gpt-4o-mini",
			PromptTokens: 30, CompletionTokens: 20, CostSavedUSD: 0.002, LatencyMS: 20, CacheHit: true},
		{UserID: a.ID, ProjectID: &pa.ID, Provider: "anthropic", Model: "claude",
			PromptTokens: 200, CompletionTokens: 100, CachedTokens: 64, CostUSD: 0.02, LatencyMS: 1200},
		{UserID: a.ID, Provider: "anthropic", Model: "claude",
			PromptTokens: 100, CompletionTokens: 50, CostSavedUSD: 0.01, LatencyMS: 10, CacheHit: true},
		{UserID: b.ID, Provider: "anthropic", Model: "claude",
			PromptTokens: 10, CompletionTokens: 5, CostUSD: 0.001, LatencyMS: 400, Status: "upstream_error"},
		// Outside the 24-hour window.
		{UserID: a.ID, Provider: "openai", Model: "gpt-4o-mini",
			PromptTokens: 1000, CompletionTokens: 1000, CostUSD: 1, LatencyMS: 5000, CreatedAt: old},
	}
	must(t, s.InsertUsage(ctx(t), rows))
	for i, r := range rows {
		if r.ID == uuid.Nil || r.CreatedAt.IsZero() || r.Status == "" {
			t.Fatalf("row %d: InsertUsage did not fill id, time and status: %+v", i, r)
		}
	}
	if !rows[5].CreatedAt.Equal(old) || rows[4].Status != "upstream_error" {
		t.Fatalf("InsertUsage overwrote fields the caller set: %+v, %+v", rows[5], rows[4])
	}
	must(t, s.InsertUsage(ctx(t), nil))

	day := now.Add(-24 * time.Hour)
	got, err := s.UsageStats(ctx(t), a.ID, day)
	must(t, err)
	wantStats(t, "a's stats", got, []store.UsageStats{
		{Provider: "anthropic", Model: "claude", Calls: 3, Hits: 1, Misses: 2, PromptTokens: 400, CompletionTokens: 200,
			TokensSaved: 150, CostUSD: 0.03, CostSavedUSD: 0.01, MeanHitLatencyMS: 10, MeanMissLatencyMS: 1000},
	})
	got, err = s.UsageStats(ctx(t), uuid.Nil, day)
	must(t, err)
	wantStats(t, "all users' stats", got, []store.UsageStats{
		{Provider: "anthropic", Model: "claude", Calls: 4, Hits: 1, Misses: 3, PromptTokens: 410, CompletionTokens: 205,
			TokensSaved: 150, CostUSD: 0.031, CostSavedUSD: 0.01, MeanHitLatencyMS: 10, MeanMissLatencyMS: 800},
		{Provider: "openai", Model: "gpt-4o-mini", Calls: 1, Hits: 1, PromptTokens: 30, CompletionTokens: 20,
			TokensSaved: 50, CostSavedUSD: 0.002, MeanHitLatencyMS: 20},
	})
	got, err = s.UsageStats(ctx(t), a.ID, old)
	must(t, err)
	wantStats(t, "a's stats since the old row (inclusive)", got, []store.UsageStats{
		{Provider: "anthropic", Model: "claude", Calls: 3, Hits: 1, Misses: 2, PromptTokens: 400, CompletionTokens: 200,
			TokensSaved: 150, CostUSD: 0.03, CostSavedUSD: 0.01, MeanHitLatencyMS: 10, MeanMissLatencyMS: 1000},
		{Provider: "openai", Model: "gpt-4o-mini", Calls: 1, Misses: 1, PromptTokens: 1000, CompletionTokens: 1000,
			CostUSD: 1, MeanMissLatencyMS: 5000},
	})
	got, err = s.UsageStats(ctx(t), newUser(t, s).ID, old)
	must(t, err)
	if got == nil || len(got) != 0 {
		t.Fatalf("stats of a user without usage = %#v, want an empty slice", got)
	}

	spend, err := s.MonthSpend(ctx(t), a.ID, day)
	must(t, err)
	if !approx(spend, 0.03) {
		t.Fatalf("MonthSpend(a, day) = %v, want 0.03", spend)
	}
	spend, err = s.MonthSpend(ctx(t), a.ID, old)
	must(t, err)
	if !approx(spend, 1.03) {
		t.Fatalf("MonthSpend(a, old) = %v, want 1.03", spend)
	}
	spend, err = s.MonthSpend(ctx(t), b.ID, now.Add(time.Hour))
	must(t, err)
	if spend != 0 {
		t.Fatalf("MonthSpend in the future = %v, want 0", spend)
	}
}

// testUsageAllOrNone: one bad row, wherever it is in the batch, writes nothing; a
// row naming another tenant's project or execution is ErrNotFound.
func testUsageAllOrNone(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	pa := newProject(t, s, a)
	ea := newExecution(t, s, newTask(t, s, pa))
	pb := newProject(t, s, b)
	eb := newExecution(t, s, newTask(t, s, pb))
	good := func(u *store.User) store.LLMUsage {
		return store.LLMUsage{UserID: u.ID, Provider: "openai", Model: "gpt", PromptTokens: 1, CostUSD: 0.5}
	}
	usageBadBatches(t, s, good, a, b, pa, ea, pb)
	// A long batch goes in whole.
	usageLongBatches(t, s, good, b)
	// The same rows, each with its own user's references, go in together.
	usageMixedTenants(t, s, a, b, pa, ea, pb, eb)
}

// usageBadBatches: a batch with a bad row (another tenant's project or execution, a
// missing project, an unknown user; first, last, or in a later statement chunk) or a
// duplicate id writes nothing; only the row written alone before is there.
func usageBadBatches(t *testing.T, s store.Store, good func(*store.User) store.LLMUsage, a, b *store.User,
	pa *store.Project, ea *store.Execution, pb *store.Project) {
	missing := store.NewID()
	for _, tc := range []struct {
		name string
		bad  store.LLMUsage
	}{
		{"b's row naming a's project", store.LLMUsage{UserID: b.ID, ProjectID: &pa.ID, Provider: "openai", Model: "gpt"}},
		{"b's row naming a's execution", store.LLMUsage{UserID: b.ID, ProjectID: &pb.ID, ExecutionID: &ea.ID, Provider: "openai", Model: "gpt"}},
		{"a missing project", store.LLMUsage{UserID: a.ID, ProjectID: &missing, Provider: "openai", Model: "gpt"}},
		{"an unknown user", store.LLMUsage{UserID: missing, Provider: "openai", Model: "gpt"}},
	} {
		for _, batch := range [][]store.LLMUsage{
			{tc.bad, good(a), good(b)},
			{good(a), good(b), tc.bad},
		} {
			wantErr(t, s.InsertUsage(ctx(t), batch), store.ErrNotFound, tc.name)
		}
		// A batch longer than the dialects' statement chunks, the bad row in a later chunk.
		long := make([]store.LLMUsage, 0, 150)
		for i := range 150 {
			if i == 130 {
				long = append(long, tc.bad)
				continue
			}
			long = append(long, good(a))
		}
		wantErr(t, s.InsertUsage(ctx(t), long), store.ErrNotFound, tc.name+" in a long batch")
	}
	dup := good(a)
	dup.ID = store.NewID()
	must(t, s.InsertUsage(ctx(t), []store.LLMUsage{dup}))
	wantErr(t, s.InsertUsage(ctx(t), []store.LLMUsage{good(b), dup}), store.ErrConflict, "a duplicate id")

	got, err := s.UsageStats(ctx(t), uuid.Nil, time.Time{})
	must(t, err)
	if len(got) != 1 || got[0].Calls != 1 {
		t.Fatalf("failed batches wrote rows: %+v", got)
	}
}

// usageLongBatches: a batch of 150 rows goes in whole, in a caller's transaction too,
// and is rolled back with it; a refused batch in a transaction writes none of its rows.
func usageLongBatches(t *testing.T, s store.Store, good func(*store.User) store.LLMUsage, b *store.User) {
	long := make([]store.LLMUsage, 150)
	for i := range long {
		long[i] = good(b)
		long[i].CostUSD = 0
	}
	must(t, s.InsertUsage(ctx(t), long))
	got, err := s.UsageStats(ctx(t), b.ID, time.Time{})
	must(t, err)
	if len(got) != 1 || got[0].Calls != 150 {
		t.Fatalf("a batch of 150 rows: %+v", got)
	}

	// Inside a caller's transaction too; rolled back with it.
	for i := range long {
		long[i].ID = uuid.Nil // InsertUsage filled them in
	}
	errRollback := errors.New("roll back")
	err = s.InTx(ctx(t), b.ID, func(ctx context.Context) error {
		if err := s.InsertUsage(ctx, long[:70]); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("InsertUsage in a transaction: %v", err)
	}
	for i := range long {
		long[i].ID = uuid.Nil
	}
	must(t, s.InTx(ctx(t), b.ID, func(ctx context.Context) error { return s.InsertUsage(ctx, long[:70]) }))
	// A refused batch inside a transaction writes none of its rows; the transaction,
	// which handles the error, commits what else it did.
	missingProject := store.NewID()
	must(t, s.InTx(ctx(t), b.ID, func(ctx context.Context) error {
		bad := []store.LLMUsage{good(b), good(b), {UserID: b.ID, ProjectID: &missingProject, Provider: "openai", Model: "gpt"}}
		wantErr(t, s.InsertUsage(ctx, bad), store.ErrNotFound, "a refused batch in a transaction")
		return nil
	}))
	got, err = s.UsageStats(ctx(t), b.ID, time.Time{})
	must(t, err)
	if len(got) != 1 || got[0].Calls != 220 {
		t.Fatalf("after a rolled-back and a committed transaction of 70 rows each: %+v", got)
	}
}

// usageMixedTenants: rows of two users, each with its own references, go in together
// and count for their own user.
func usageMixedTenants(t *testing.T, s store.Store, a, b *store.User, pa *store.Project, ea *store.Execution,
	pb *store.Project, eb *store.Execution) {
	nilID := uuid.Nil
	must(t, s.InsertUsage(ctx(t), []store.LLMUsage{
		{UserID: a.ID, ProjectID: &pa.ID, ExecutionID: &ea.ID, Provider: "openai", Model: "gpt"},
		{UserID: b.ID, ProjectID: &pb.ID, ExecutionID: &eb.ID, Provider: "openai", Model: "gpt"},
		{UserID: b.ID, ProjectID: &nilID, Provider: "openai", Model: "gpt"},
	}))
	for _, u := range []*store.User{a, b} {
		spend, err := s.MonthSpend(ctx(t), u.ID, time.Time{})
		must(t, err)
		stats, err := s.UsageStats(ctx(t), u.ID, time.Time{})
		must(t, err)
		wantCalls := map[uuid.UUID]int64{a.ID: 2, b.ID: 222}[u.ID]
		wantSpend := map[uuid.UUID]float64{a.ID: 0.5, b.ID: 0}[u.ID]
		if len(stats) != 1 || stats[0].Calls != wantCalls || !approx(spend, wantSpend) {
			t.Fatalf("user %s: stats %+v, spend %v; want %d calls, spend %v", u.ID, stats, spend, wantCalls, wantSpend)
		}
	}
}

func testUserLimits(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	_, err := s.GetUserLimits(ctx(t), a.ID)
	wantErr(t, err, store.ErrNotFound, "limits never set")

	l := &store.UserLimits{UserID: a.ID, RequestsPerMinute: new(60), MonthlyBudgetUSD: new(25.5)}
	must(t, s.SetUserLimits(ctx(t), l))
	if l.UpdatedAt.IsZero() {
		t.Fatal("SetUserLimits did not set UpdatedAt")
	}
	got, err := s.GetUserLimits(ctx(t), a.ID)
	must(t, err)
	if got.UserID != a.ID || got.RequestsPerMinute == nil || *got.RequestsPerMinute != 60 || got.TokensPerMinute != nil ||
		got.MonthlyBudgetUSD == nil || *got.MonthlyBudgetUSD != 25.5 || !got.UpdatedAt.Equal(l.UpdatedAt) {
		t.Fatalf("GetUserLimits = %+v, want %+v", got, l)
	}

	first := l.UpdatedAt
	l = &store.UserLimits{UserID: a.ID, TokensPerMinute: new(100_000)}
	must(t, s.SetUserLimits(ctx(t), l))
	got, err = s.GetUserLimits(ctx(t), a.ID)
	must(t, err)
	if got.RequestsPerMinute != nil || got.TokensPerMinute == nil || *got.TokensPerMinute != 100_000 ||
		got.MonthlyBudgetUSD != nil || !got.UpdatedAt.Equal(l.UpdatedAt) || got.UpdatedAt.Before(first) {
		t.Fatalf("after update GetUserLimits = %+v, want %+v", got, l)
	}

	_, err = s.GetUserLimits(ctx(t), b.ID)
	wantErr(t, err, store.ErrNotFound, "b's limits, after a set theirs")
	wantErr(t, s.SetUserLimits(ctx(t), &store.UserLimits{UserID: store.NewID(), RequestsPerMinute: new(1)}),
		store.ErrNotFound, "limits of an unknown user")
}

func wantBudget(t *testing.T, s store.Store, u *store.User, period string, spent, reserved float64) {
	t.Helper()
	gotSpent, gotReserved, err := s.BudgetState(ctx(t), u.ID, period)
	must(t, err)
	if !approx(gotSpent, spent) || !approx(gotReserved, reserved) {
		t.Fatalf("BudgetState(%s) = spent %v reserved %v; want %v, %v", period, gotSpent, gotReserved, spent, reserved)
	}
}

func testBudget(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	const june, july = "2025-06", "2025-07"
	wantBudget(t, s, a, june, 0, 0)

	must(t, s.ReserveBudget(ctx(t), a.ID, june, 1.0, 0.4))
	must(t, s.ReserveBudget(ctx(t), a.ID, june, 1.0, 0.4))
	wantBudget(t, s, a, june, 0, 0.8)
	wantErr(t, s.ReserveBudget(ctx(t), a.ID, june, 1.0, 0.3), store.ErrBudgetExceeded, "reserve past the limit")
	wantBudget(t, s, a, june, 0, 0.8)

	must(t, s.SettleBudget(ctx(t), a.ID, june, 0.4, 0.35))
	wantBudget(t, s, a, june, 0.35, 0.4)
	// 0.35 + 0.4 + 0.25 lands on the limit exactly: allowed, despite float residue.
	must(t, s.ReserveBudget(ctx(t), a.ID, june, 1.0, 0.25))
	wantErr(t, s.ReserveBudget(ctx(t), a.ID, june, 1.0, 0.001), store.ErrBudgetExceeded, "reserve at a full budget")
	must(t, s.SettleBudget(ctx(t), a.ID, june, 0.4, 0.5))
	must(t, s.SettleBudget(ctx(t), a.ID, june, 0.25, 0))
	wantBudget(t, s, a, june, 0.85, 0)
	// A raised limit admits more.
	must(t, s.ReserveBudget(ctx(t), a.ID, june, 2.0, 1.0))
	wantBudget(t, s, a, june, 0.85, 1.0)

	// A first reservation larger than the limit is refused and creates nothing.
	wantErr(t, s.ReserveBudget(ctx(t), a.ID, july, 1.0, 1.5), store.ErrBudgetExceeded, "first reservation past the limit")
	wantBudget(t, s, a, july, 0, 0)
	// Spend without a reservation creates the period.
	must(t, s.SettleBudget(ctx(t), a.ID, july, 0, 0.7))
	wantBudget(t, s, a, july, 0.7, 0)
	wantErr(t, s.ReserveBudget(ctx(t), a.ID, july, 1.0, 0.31), store.ErrBudgetExceeded, "reserve past spend")
	// Releasing more than is reserved is a bug: it fails and changes nothing.
	if err := s.SettleBudget(ctx(t), a.ID, july, 0.5, 0.1); err == nil {
		t.Fatal("settling a reservation that was never made succeeded")
	}
	wantBudget(t, s, a, july, 0.7, 0)
	if err := s.SettleBudget(ctx(t), a.ID, "2025-09", 0.1, 0.1); err == nil {
		t.Fatal("releasing a reservation in a period without any succeeded")
	}
	wantBudget(t, s, a, "2025-09", 0, 0)

	// Periods are per user.
	wantBudget(t, s, b, june, 0, 0)
	must(t, s.ReserveBudget(ctx(t), b.ID, june, 1.0, 1.0))
	wantBudget(t, s, b, june, 0, 1.0)
	wantBudget(t, s, a, june, 0.85, 1.0)

	for _, bad := range []struct {
		period string
		amount float64
	}{{"2025-6", 0.1}, {"2025-13", 0.1}, {"june", 0.1}, {"2025-06", -0.1}, {"2025-06", math.NaN()}} {
		err := s.ReserveBudget(ctx(t), a.ID, bad.period, 10, bad.amount)
		if err == nil || errors.Is(err, store.ErrBudgetExceeded) {
			t.Fatalf("ReserveBudget(%q, %v) = %v, want an invalid-argument error", bad.period, bad.amount, err)
		}
	}
	wantErr(t, s.ReserveBudget(ctx(t), store.NewID(), june, 1, 0.1), store.ErrNotFound, "budget of an unknown user")

	// A period's first reservation counts the month's usage from before the budget:
	// only that month's (UTC), and only the user's.
	c := newUser(t, s)
	at := func(v string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, v)
		must(t, err)
		return tm
	}
	must(t, s.InsertUsage(ctx(t), []store.LLMUsage{
		{UserID: c.ID, Provider: "openai", Model: "m", CostUSD: 7, CreatedAt: at("2025-07-31T23:59:59.999Z")},
		{UserID: c.ID, Provider: "openai", Model: "m", CostUSD: 0.25, CreatedAt: at("2025-08-01T00:00:00Z")},
		{UserID: c.ID, Provider: "openai", Model: "m", CostUSD: 0.35, CreatedAt: at("2025-08-31T23:59:59.999Z")},
		{UserID: c.ID, Provider: "openai", Model: "m", CostUSD: 5, CreatedAt: at("2025-09-01T00:00:00Z")},
		{UserID: b.ID, Provider: "openai", Model: "m", CostUSD: 9, CreatedAt: at("2025-08-15T12:00:00Z")},
	}))
	wantErr(t, s.ReserveBudget(ctx(t), c.ID, "2025-08", 1.0, 0.5), store.ErrBudgetExceeded, "reserve past the month's earlier spend")
	wantBudget(t, s, c, "2025-08", 0, 0)
	must(t, s.ReserveBudget(ctx(t), c.ID, "2025-08", 1.0, 0.4))
	wantBudget(t, s, c, "2025-08", 0.6, 0.4)
	// So does a period's first settlement without a reservation.
	must(t, s.SettleBudget(ctx(t), c.ID, "2025-09", 0, 0.5))
	wantBudget(t, s, c, "2025-09", 5.5, 0)
}

// testBudgetConcurrent: 50 callers each reserve $0.03 against $1.00 at once; exactly 33
// fit, and no observer ever sees spent + reserved above the limit.
func testBudgetConcurrent(t *testing.T, s store.Store) {
	u := newUser(t, s)
	const (
		period  = "2025-08"
		limit   = 1.00
		amount  = 0.03
		actual  = 0.02
		callers = 50
	)
	var (
		wg       sync.WaitGroup
		granted  atomic.Int64
		refused  atomic.Int64
		done     = make(chan struct{})
		observed = make(chan error, 1)
	)
	go func() { // the observer
		defer close(observed)
		for {
			select {
			case <-done:
				return
			default:
			}
			spent, reserved, err := s.BudgetState(ctx(t), u.ID, period)
			if err == nil && spent+reserved > limit+1e-9 {
				err = errors.New("overspent")
			}
			if err != nil {
				observed <- err
				return
			}
		}
	}()
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			switch err := s.ReserveBudget(ctx(t), u.ID, period, limit, amount); {
			case err == nil:
				granted.Add(1)
			case errors.Is(err, store.ErrBudgetExceeded):
				refused.Add(1)
			default:
				t.Errorf("ReserveBudget: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(done)
	if err := <-observed; err != nil {
		t.Fatalf("observer: %v", err)
	}
	if granted.Load() != 33 || refused.Load() != callers-33 {
		t.Fatalf("granted %d, refused %d; want 33 and %d", granted.Load(), refused.Load(), callers-33)
	}
	wantBudget(t, s, u, period, 0, 33*amount)

	for range granted.Load() {
		wg.Go(func() {
			if err := s.SettleBudget(ctx(t), u.ID, period, amount, actual); err != nil {
				t.Errorf("SettleBudget: %v", err)
			}
		})
	}
	wg.Wait()
	wantBudget(t, s, u, period, 33*actual, 0)
}
