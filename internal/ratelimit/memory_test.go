package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

func allow(t *testing.T, l Limiter, key string, limit Limit, cost int) Result {
	t.Helper()
	r, err := l.Allow(context.Background(), key, limit, cost)
	if err != nil {
		t.Fatalf("Allow(%s, %+v, %d): %v", key, limit, cost, err)
	}
	return r
}

func TestMemoryBurstThenReject(t *testing.T) {
	clk := testutil.NewClock()
	l := NewMemory(clk.Now)
	lim := PerMinute(20)
	for i := range 20 {
		r := allow(t, l, "u1", lim, 1)
		want := Result{Allowed: true, Limit: 20, Remaining: 19 - i, ResetAfter: time.Duration(i+1) * 3 * time.Second}
		if r != want {
			t.Fatalf("request %d: %+v, want %+v", i+1, r, want)
		}
	}
	r := allow(t, l, "u1", lim, 1)
	want := Result{Allowed: false, Limit: 20, Remaining: 0, RetryAfter: 3 * time.Second, ResetAfter: time.Minute}
	if r != want {
		t.Fatalf("request 21: %+v, want %+v", r, want)
	}

	clk.Advance(2 * time.Second) // the rejection spent nothing; 1s still to wait
	if r := allow(t, l, "u1", lim, 1); r.Allowed || r.RetryAfter != time.Second {
		t.Fatalf("after 2s: %+v, want rejected with RetryAfter 1s", r)
	}
	clk.Advance(time.Second)
	if r := allow(t, l, "u1", lim, 1); !r.Allowed || r.Remaining != 0 {
		t.Fatalf("after 3s: %+v, want one admitted", r)
	}
	if r := allow(t, l, "u1", lim, 1); r.Allowed {
		t.Fatalf("refill admitted more than one: %+v", r)
	}

	clk.Advance(time.Hour) // long idle: a full burst, not more
	n := 0
	for allow(t, l, "u1", lim, 1).Allowed {
		n++
	}
	if n != 20 {
		t.Fatalf("after idle: %d admitted, want 20", n)
	}

	if r := allow(t, l, "u2", lim, 1); !r.Allowed || r.Remaining != 19 {
		t.Fatalf("keys not independent: %+v", r)
	}
}

func TestMemoryBurstDiffersFromRate(t *testing.T) {
	clk := testutil.NewClock()
	l := NewMemory(clk.Now)
	lim := Limit{Rate: 10, Period: time.Second, Burst: 3} // one per 100ms, 3 at once
	for i := range 3 {
		if r := allow(t, l, "k", lim, 1); !r.Allowed {
			t.Fatalf("request %d rejected: %+v", i+1, r)
		}
	}
	r := allow(t, l, "k", lim, 1)
	if r.Allowed || r.RetryAfter != 100*time.Millisecond || r.ResetAfter != 300*time.Millisecond || r.Limit != 3 {
		t.Fatalf("request 4: %+v", r)
	}
	// Sustained rate: one every 100ms, never two.
	for range 50 {
		clk.Advance(100 * time.Millisecond)
		if !allow(t, l, "k", lim, 1).Allowed {
			t.Fatal("steady request rejected")
		}
		if allow(t, l, "k", lim, 1).Allowed {
			t.Fatal("faster than the rate admitted")
		}
	}
}

func TestMemoryCost(t *testing.T) {
	clk := testutil.NewClock()
	l := NewMemory(clk.Now)
	tpm := PerMinute(1000) // tokens per minute

	tests := []struct {
		cost int
		want Result
	}{
		{400, Result{Allowed: true, Limit: 1000, Remaining: 600, ResetAfter: 24 * time.Second}},
		{400, Result{Allowed: true, Limit: 1000, Remaining: 200, ResetAfter: 48 * time.Second}},
		// 200 short: 200 tokens take 12s to come back. Nothing is spent.
		{400, Result{Allowed: false, Limit: 1000, Remaining: 200, RetryAfter: 12 * time.Second, ResetAfter: 48 * time.Second}},
		{0, Result{Allowed: true, Limit: 1000, Remaining: 200, ResetAfter: 48 * time.Second}}, // a peek
		{200, Result{Allowed: true, Limit: 1000, Remaining: 0, ResetAfter: time.Minute}},
		// More than the whole burst can never be admitted.
		{1001, Result{Allowed: false, Limit: 1000, Remaining: 0, RetryAfter: Never, ResetAfter: time.Minute}},
	}
	for i, tt := range tests {
		if got := allow(t, l, "k", tpm, tt.cost); got != tt.want {
			t.Fatalf("step %d (cost %d): %+v\nwant %+v", i, tt.cost, got, tt.want)
		}
	}
	clk.Advance(24 * time.Hour)
	if r := allow(t, l, "k", tpm, 1001); r.Allowed || r.RetryAfter != Never {
		t.Fatalf("cost > burst after a full refill: %+v", r)
	}
	if r := allow(t, l, "k", tpm, 1000); !r.Allowed {
		t.Fatalf("cost == burst on a full budget rejected: %+v", r)
	}
}

func TestInvalidArguments(t *testing.T) {
	l := NewMemory(nil)
	tests := []struct {
		name  string
		limit Limit
		cost  int
	}{
		{"zero rate", Limit{Rate: 0, Period: time.Second}, 1},
		{"negative rate", Limit{Rate: -1, Period: time.Second}, 1},
		{"zero period", Limit{Rate: 1}, 1},
		{"negative burst", Limit{Rate: 1, Period: time.Second, Burst: -1}, 1},
		{"negative cost", PerSecond(1), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.Allow(context.Background(), "k", tt.limit, tt.cost); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	if r := allow(t, l, "k", Limit{Rate: 5, Period: time.Second}, 1); r.Limit != 5 || r.Remaining != 4 {
		t.Fatalf("Burst 0 should mean Burst = Rate: %+v", r)
	}
}

func TestMemoryForgetsIdleKeys(t *testing.T) {
	clk := testutil.NewClock()
	l := NewMemory(clk.Now)
	lim := PerSecond(1)
	for round := range 10 {
		for i := range 1000 {
			allow(t, l, fmt.Sprintf("r%d-k%d", round, i), lim, 1)
		}
		clk.Advance(2 * time.Second) // every key so far is idle again
	}
	if n := l.Len(); n > 2*1000+minSweep {
		t.Fatalf("table holds %d keys after 10 rounds of 1000 idle keys", n)
	}
	// A swept key starts with a full budget, as if it had never been seen.
	if r := allow(t, l, "r0-k0", lim, 1); !r.Allowed || r.Remaining != 0 {
		t.Fatalf("swept key: %+v", r)
	}
}

func TestMemoryConcurrentAdmitsExactlyBurst(t *testing.T) {
	clk := testutil.NewClock()
	l := NewMemory(clk.Now)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				r, err := l.Allow(context.Background(), "shared", PerMinute(20), 1)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 20 {
		t.Fatalf("%d admitted, want 20", n)
	}
}

func TestSetHeaders(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want map[string]string
	}{
		{"allowed", Result{Allowed: true, Limit: 20, Remaining: 19, ResetAfter: 2500 * time.Millisecond},
			map[string]string{"RateLimit-Limit": "20", "RateLimit-Remaining": "19", "RateLimit-Reset": "3", "Retry-After": ""}},
		{"rejected", Result{Limit: 20, RetryAfter: 3 * time.Second, ResetAfter: time.Minute},
			map[string]string{"RateLimit-Limit": "20", "RateLimit-Remaining": "0", "RateLimit-Reset": "60", "Retry-After": "3"}},
		{"rejected sub-second", Result{Limit: 20, RetryAfter: time.Millisecond, ResetAfter: time.Millisecond},
			map[string]string{"RateLimit-Reset": "1", "Retry-After": "1"}},
		{"never", Result{Limit: 20, RetryAfter: Never},
			map[string]string{"RateLimit-Reset": "0", "Retry-After": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			tt.r.SetHeaders(h)
			for k, v := range tt.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestMulDiv(t *testing.T) {
	tests := []struct{ a, b, c, want int64 }{
		{20, 60e9, 20, 60e9},
		{1, 60e9, 7, 8571428571},
		{1 << 40, 1 << 40, 1 << 30, 1 << 50}, // the product overflows int64
		{math.MaxInt64, math.MaxInt64, 1, math.MaxInt64},
		{0, 5, 3, 0},
	}
	for _, tt := range tests {
		if got := mulDiv(tt.a, tt.b, tt.c); got != tt.want {
			t.Errorf("mulDiv(%d, %d, %d) = %d, want %d", tt.a, tt.b, tt.c, got, tt.want)
		}
	}
}

// refunder is a Limiter that can give back what Allow spent.
type refunder interface {
	Limiter
	Refund(ctx context.Context, key string, limit Limit, cost int) error
}

// testRefund spends a burst of 5, refunds 2 and expects exactly 2 more admitted; then
// refunds more than was spent and expects a full burst, not more.
func testRefund(t *testing.T, l refunder) {
	t.Helper()
	ctx := context.Background()
	lim := Limit{Rate: 5, Period: time.Hour, Burst: 5}
	for range 5 {
		if r := allow(t, l, "k", lim, 1); !r.Allowed {
			t.Fatalf("within the burst: %+v", r)
		}
	}
	if r := allow(t, l, "k", lim, 1); r.Allowed {
		t.Fatalf("past the burst: %+v", r)
	}
	for range 2 {
		if err := l.Refund(ctx, "k", lim, 1); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if r := allow(t, l, "k", lim, 1); r.Allowed != (i < 2) {
			t.Fatalf("after refunding 2, request %d: %+v", i+1, r)
		}
	}
	for range 20 {
		if err := l.Refund(ctx, "k", lim, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Refund(ctx, "never-spent", lim, 1); err != nil {
		t.Fatal(err)
	}
	if r := allow(t, l, "k", lim, 0); r.Remaining != 5 {
		t.Fatalf("after refunding more than was spent: %+v, want a full burst of 5", r)
	}
	if err := l.Refund(ctx, "k", lim, -1); !errors.Is(err, ErrInvalidCost) {
		t.Fatalf("negative refund: %v", err)
	}
}

func TestMemoryRefund(t *testing.T) {
	l := NewMemory(testutil.NewClock().Now)
	testRefund(t, l)
	if n := l.Len(); n != 0 {
		t.Fatalf("a key refunded to a full budget is still held (%d keys)", n)
	}
}
