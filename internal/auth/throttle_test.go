package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/ratelimit"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

func newService(t *testing.T, st store.Store, cfg auth.Config) *auth.Service {
	t.Helper()
	if cfg.Argon2.Memory == 0 {
		cfg.Argon2 = fast
	}
	svc, err := auth.New(st, slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func signup(t *testing.T, svc *auth.Service, email, password string) {
	t.Helper()
	if _, err := svc.Signup(t.Context(), email, "", password, false); err != nil {
		t.Fatal(err)
	}
}

// wantThrottled asserts a *ThrottledError whose RetryAfter is in (0, most].
func wantThrottled(t *testing.T, err error, most time.Duration, what string) {
	t.Helper()
	var te *auth.ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("%s: %v, want a *ThrottledError", what, err)
	}
	if te.RetryAfter <= 0 || te.RetryAfter > most {
		t.Fatalf("%s: RetryAfter %v, want in (0, %v]", what, te.RetryAfter, most)
	}
}

// TestFailedLoginsThrottledPerAccount guesses 30 wrong passwords for one account: the
// first five are checked, the rest refused without hashing, the right password too,
// until the budget decays; another account elsewhere is unaffected throughout.
func TestFailedLoginsThrottledPerAccount(t *testing.T) {
	clk := testutil.NewClock()
	st := newStore(t)
	var hashes atomic.Int64
	svc := newService(t, st, auth.Config{Limiter: ratelimit.NewMemory(clk.Now), BeforeHash: func() { hashes.Add(1) },
		AccountLimit: ratelimit.Limit{Rate: 5, Period: 15 * time.Minute, Burst: 5}})
	signup(t, svc, "victim@example.com", "the right password")
	signup(t, svc, "bystander@example.com", "another password")
	hashes.Store(0)
	ctx := t.Context()

	for i := range 30 {
		_, err := svc.CheckLogin(ctx, "Victim@Example.com ", "guess", "203.0.113.7")
		if i < 5 {
			if !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("guess %d: %v, want ErrInvalidCredentials", i+1, err)
			}
			continue
		}
		wantThrottled(t, err, 15*time.Minute, "guess past the limit")
	}
	if n := hashes.Load(); n != 5 {
		t.Fatalf("%d passwords hashed for 30 guesses, want 5: throttled guesses must cost no hashing", n)
	}
	_, err := svc.CheckLogin(ctx, "victim@example.com", "the right password", "198.51.100.1")
	wantThrottled(t, err, 3*time.Minute, "the right password during the lockout, from elsewhere")
	if _, err := svc.CheckLogin(ctx, "bystander@example.com", "another password", "198.51.100.2"); err != nil {
		t.Fatalf("another account from another address: %v", err)
	}

	// The budget refills at 5 per 15 minutes: one attempt every 3 minutes.
	clk.Advance(3 * time.Minute)
	if _, err := svc.CheckLogin(ctx, "victim@example.com", "the right password", "198.51.100.1"); err != nil {
		t.Fatalf("after 3 minutes: %v", err)
	}
	_, err = svc.CheckLogin(ctx, "victim@example.com", "guess", "203.0.113.7")
	if !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("a success must not spend the budget: %v", err)
	}
	_, err = svc.CheckLogin(ctx, "victim@example.com", "guess", "203.0.113.7")
	wantThrottled(t, err, 3*time.Minute, "second guess after 3 minutes")

	clk.Advance(15 * time.Minute)
	for i := range 20 {
		if _, err := svc.CheckLogin(ctx, "victim@example.com", "the right password", "198.51.100.1"); err != nil {
			t.Fatalf("success %d once the budget is full: %v (successes must not count)", i+1, err)
		}
	}
	if s := svc.Stats(); s.LoginsThrottled != 27 || s.LoginFailures != 6 || s.LimiterErrors != 0 {
		t.Fatalf("stats %+v, want 27 throttled, 6 failures, no limiter errors", s)
	}
}

// TestFailedLoginsThrottledPerAddress tries many accounts from one address: the
// address runs out, other addresses do not; an IPv6 /64 is one address.
func TestFailedLoginsThrottledPerAddress(t *testing.T) {
	clk := testutil.NewClock()
	svc := newService(t, newStore(t), auth.Config{Limiter: ratelimit.NewMemory(clk.Now),
		AddressLimit: ratelimit.Limit{Rate: 10, Period: 15 * time.Minute, Burst: 10}})
	signup(t, svc, "real@example.com", "the right password")
	ctx := t.Context()
	for _, tc := range []struct{ name, first, second string }{
		{"ipv4", "192.0.2.10", "192.0.2.10"},
		{"ipv6 /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff::99"},
		{"ipv4-mapped ipv6", "::ffff:192.0.2.20", "192.0.2.20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 10 {
				ip := tc.first
				if i%2 == 1 {
					ip = tc.second
				}
				if _, err := svc.CheckLogin(ctx, testutil.RandomSuffix(4)+"@example.com", "guess", ip); !errors.Is(err, auth.ErrInvalidCredentials) {
					t.Fatalf("account %d: %v", i+1, err)
				}
			}
			_, err := svc.CheckLogin(ctx, testutil.RandomSuffix(4)+"@example.com", "guess", tc.second)
			wantThrottled(t, err, 90*time.Second, "eleventh account from the address")
			_, err = svc.CheckLogin(ctx, "real@example.com", "the right password", tc.first)
			wantThrottled(t, err, 90*time.Second, "a real account from the exhausted address")
		})
	}
	if _, err := svc.CheckLogin(ctx, "real@example.com", "the right password", "2001:db8:1:3::1"); err != nil {
		t.Fatalf("the next /64: %v", err)
	}
	if _, err := svc.CheckLogin(ctx, "real@example.com", "the right password", "192.0.2.11"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// TestConcurrentGuessesCannotOvershoot sends 40 wrong guesses at once for an account
// with a budget of 5: the budget is spent before each check, so exactly 5 are checked.
func TestConcurrentGuessesCannotOvershoot(t *testing.T) {
	svc := newService(t, newStore(t), auth.Config{HashConcurrency: 8, HashWait: time.Minute,
		AccountLimit: ratelimit.Limit{Rate: 5, Period: time.Hour, Burst: 5}})
	var checked, throttled atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			_, err := svc.CheckLogin(context.Background(), "target@example.com", "guess", "")
			switch {
			case errors.Is(err, auth.ErrInvalidCredentials):
				checked.Add(1)
			case errors.Is(err, auth.ErrThrottled):
				throttled.Add(1)
			default:
				t.Errorf("CheckLogin: %v", err)
			}
		})
	}
	wg.Wait()
	if checked.Load() != 5 || throttled.Load() != 35 {
		t.Fatalf("%d checked, %d throttled; want 5 and 35", checked.Load(), throttled.Load())
	}
}

// TestHashingBounded holds the hashing slots and asserts the bound: no more
// computations than slots, ErrBusy after the wait for signups and logins alike.
func TestHashingBounded(t *testing.T) {
	release := make(chan struct{})
	var inHook, mostInHook atomic.Int64
	svc := newService(t, newStore(t), auth.Config{HashConcurrency: 2, HashWait: 50 * time.Millisecond,
		BeforeHash: func() {
			n := inHook.Add(1)
			for m := mostInHook.Load(); n > m && !mostInHook.CompareAndSwap(m, n); m = mostInHook.Load() {
			}
			<-release
			inHook.Add(-1)
		}})
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = svc.Signup(context.Background(), testutil.RandomSuffix(4)+"@example.com", "", "a long password", false)
			} else {
				_, err = svc.CheckLogin(context.Background(), testutil.RandomSuffix(4)+"@example.com", "guess", "")
			}
			errs <- err
		})
	}
	for range 10 {
		if err := <-errs; !errors.Is(err, auth.ErrBusy) {
			t.Fatalf("with both slots held: %v, want ErrBusy", err)
		}
	}
	close(release)
	wg.Wait()
	close(errs)
	var wrong int64
	for err := range errs {
		if errors.Is(err, auth.ErrInvalidCredentials) {
			wrong++
		} else if err != nil {
			t.Fatalf("the two that held the slots: %v", err)
		}
	}
	s := svc.Stats()
	if s.HashSlots != 2 || s.HashPeak != 2 || mostInHook.Load() != 2 || s.HashBusy != 10 || s.HashRunning != 0 {
		t.Fatalf("stats %+v, most in hook %d; want 2 slots, peak 2, 10 busy", s, mostInHook.Load())
	}
	// A busy refusal is not a failed login: the budget is given back.
	if s.LoginFailures != wrong {
		t.Fatalf("%d login failures counted, want %d (the ones that were checked)", s.LoginFailures, wrong)
	}
}

// TestFailedLoginsSharedThroughRedis runs two services (two replicas) on one Redis:
// failures on either count toward one limit.
func TestFailedLoginsSharedThroughRedis(t *testing.T) {
	client, prefix := testutil.RedisScratch(t)
	st := newStore(t)
	limit := ratelimit.Limit{Rate: 5, Period: 15 * time.Minute, Burst: 5}
	a := newService(t, st, auth.Config{Limiter: ratelimit.NewRedis(client, prefix), AccountLimit: limit})
	b := newService(t, st, auth.Config{Limiter: ratelimit.NewRedis(testutil.RedisClient(t), prefix), AccountLimit: limit})
	signup(t, a, "shared@example.com", "the right password")
	for i := range 5 {
		svc := []*auth.Service{a, b}[i%2]
		if _, err := svc.CheckLogin(t.Context(), "shared@example.com", "guess", "192.0.2.1"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	for _, svc := range []*auth.Service{a, b} {
		_, err := svc.CheckLogin(t.Context(), "shared@example.com", "the right password", "192.0.2.2")
		wantThrottled(t, err, 3*time.Minute, "after 5 failures across two replicas")
	}
	keys, err := client.Keys(t.Context(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(strings.ToLower(k), "shared") || strings.Contains(k, "example.com") {
			t.Fatalf("a Redis key holds the email: %s", k)
		}
	}
	if s := a.Stats(); s.LimiterErrors != 0 {
		t.Fatalf("limiter errors: %+v", s)
	}
}

// TestFailedLoginsWhenRedisIsDown: the throttle counts in process instead, so logins
// keep working and guessing stays limited; the failures are counted.
func TestFailedLoginsWhenRedisIsDown(t *testing.T) {
	svc := newService(t, newStore(t), auth.Config{Limiter: ratelimit.NewRedis(testutil.UnreachableRedis(t), "x:"),
		AccountLimit: ratelimit.Limit{Rate: 3, Period: 15 * time.Minute, Burst: 3}})
	signup(t, svc, "ok@example.com", "the right password")
	if _, err := svc.CheckLogin(t.Context(), "ok@example.com", "the right password", "192.0.2.1"); err != nil {
		t.Fatalf("login with Redis down: %v", err)
	}
	for range 3 {
		if _, err := svc.CheckLogin(t.Context(), "ok@example.com", "guess", "192.0.2.1"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	_, err := svc.CheckLogin(t.Context(), "ok@example.com", "guess", "192.0.2.1")
	wantThrottled(t, err, 5*time.Minute, "past the limit with Redis down")
	if s := svc.Stats(); s.LimiterErrors == 0 {
		t.Fatalf("limiter errors not counted: %+v", s)
	}
}
