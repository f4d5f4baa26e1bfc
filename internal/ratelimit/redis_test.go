package ratelimit

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

func newTestClient(t testing.TB) *redis.Client { return testutil.RedisClient(t) }

// newTestRedis returns a client and a key prefix of this test's own, whose keys are
// deleted when the test ends.
func newTestRedis(t testing.TB) (*redis.Client, string) { return testutil.RedisScratch(t) }

// rewind moves key's TAT back by d, as if d had passed on the server.
func rewind(t *testing.T, client *redis.Client, key string, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	tat, err := client.Get(ctx, key).Int64()
	if err != nil {
		t.Fatalf("read TAT: %v", err)
	}
	if err := client.Set(ctx, key, strconv.FormatInt(tat-d.Microseconds(), 10), redis.KeepTTL).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestRedisBurstThenReject(t *testing.T) {
	client, prefix := newTestRedis(t)
	l := NewRedis(client, prefix)
	lim := PerMinute(20)
	for i := range 20 {
		r := allow(t, l, "u1", lim, 1)
		if !r.Allowed || r.Limit != 20 || r.Remaining != 19-i {
			t.Fatalf("request %d: %+v, want admitted with %d remaining", i+1, r, 19-i)
		}
	}
	r := allow(t, l, "u1", lim, 1)
	if r.Allowed || r.Remaining != 0 {
		t.Fatalf("request 21: %+v, want rejected", r)
	}
	// The server clock moved on since the first request by an unknown amount, so the
	// wait is at most one emission interval, and exactly 57s (19 intervals) less than
	// the time to a full reset, both measured at the same server instant.
	if r.RetryAfter <= 0 || r.RetryAfter > 3*time.Second {
		t.Fatalf("RetryAfter = %v, want in (0, 3s]", r.RetryAfter)
	}
	if r.ResetAfter-r.RetryAfter != 57*time.Second {
		t.Fatalf("ResetAfter %v - RetryAfter %v != 57s", r.ResetAfter, r.RetryAfter)
	}

	// The key expires when the budget is full again (PX is rounded up to 1ms).
	pttl, err := client.PTTL(context.Background(), prefix+"u1").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > r.ResetAfter+time.Millisecond {
		t.Fatalf("PTTL = %v, want in (0, ResetAfter %v]", pttl, r.ResetAfter)
	}

	if r := allow(t, l, "u2", lim, 1); !r.Allowed || r.Remaining != 19 {
		t.Fatalf("keys not independent: %+v", r)
	}
}

func TestRedisRefill(t *testing.T) {
	client, prefix := newTestRedis(t)
	l := NewRedis(client, prefix)
	lim := PerMinute(20)
	for range 20 {
		allow(t, l, "k", lim, 1)
	}
	if allow(t, l, "k", lim, 1).Allowed {
		t.Fatal("21st admitted")
	}
	rewind(t, client, prefix+"k", 3*time.Second) // one interval passes
	if r := allow(t, l, "k", lim, 1); !r.Allowed {
		t.Fatalf("after one interval: %+v, want admitted", r)
	}
	if allow(t, l, "k", lim, 1).Allowed {
		t.Fatal("one interval refilled more than one request")
	}
	rewind(t, client, prefix+"k", time.Hour) // long idle: a full burst, not more
	n := 0
	for allow(t, l, "k", lim, 1).Allowed {
		n++
	}
	if n != 20 {
		t.Fatalf("after idle: %d admitted, want 20", n)
	}
}

// TestRedisRefillRealTime waits out a short RetryAfter on the server's clock.
func TestRedisRefillRealTime(t *testing.T) {
	client, prefix := newTestRedis(t)
	l := NewRedis(client, prefix)
	lim := Limit{Rate: 1, Period: 20 * time.Millisecond, Burst: 1}
	if !allow(t, l, "k", lim, 1).Allowed {
		t.Fatal("first rejected")
	}
	r := allow(t, l, "k", lim, 1)
	if r.Allowed {
		t.Fatal("second admitted within the period")
	}
	time.Sleep(r.RetryAfter)
	if r := allow(t, l, "k", lim, 1); !r.Allowed {
		t.Fatalf("after RetryAfter: %+v, want admitted", r)
	}
}

func TestRedisCost(t *testing.T) {
	client, prefix := newTestRedis(t)
	l := NewRedis(client, prefix)
	tpm := PerMinute(1000)
	if r := allow(t, l, "k", tpm, 400); !r.Allowed || r.Remaining != 600 {
		t.Fatalf("400: %+v", r)
	}
	if r := allow(t, l, "k", tpm, 400); !r.Allowed || r.Remaining != 200 {
		t.Fatalf("400 more: %+v", r)
	}
	r := allow(t, l, "k", tpm, 400)
	// 200 tokens short: up to 12s to wait, and exactly tolerance - increment
	// (60s - 24s) less than a full reset, both taken at the same server instant.
	if r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > 12*time.Second || r.ResetAfter-r.RetryAfter != 36*time.Second {
		t.Fatalf("400 over budget: %+v, want rejected with RetryAfter ≤ 12s = ResetAfter - 36s", r)
	}
	if r := allow(t, l, "k", tpm, 200); !r.Allowed || r.Remaining != 0 {
		t.Fatalf("the rejected request spent tokens: %+v", r)
	}
	if r := allow(t, l, "fresh", tpm, 1001); r.Allowed || r.RetryAfter != Never {
		t.Fatalf("cost > burst: %+v, want rejected with RetryAfter Never", r)
	}
	if n, _ := client.Exists(context.Background(), prefix+"fresh").Result(); n != 0 {
		t.Fatal("a rejected request on a new key wrote state")
	}
	if r := allow(t, l, "fresh", tpm, 0); !r.Allowed || r.Remaining != 1000 {
		t.Fatalf("peek: %+v", r)
	}
}

// TestRedisExactAcrossProcesses stands three clients in for three gateway processes
// hammering one key: the script makes every decision atomic on the server, so exactly
// the burst is admitted.
func TestRedisExactAcrossProcesses(t *testing.T) {
	_, prefix := newTestRedis(t)
	var admitted, calls atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		l := NewRedis(newTestClient(t), prefix)
		for range 10 {
			wg.Go(func() {
				for range 20 {
					r, err := l.Allow(context.Background(), "shared", PerMinute(20), 1)
					if err != nil {
						t.Error(err)
						return
					}
					calls.Add(1)
					if r.Allowed {
						admitted.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	if calls.Load() != 600 {
		t.Fatalf("%d calls completed, want 600", calls.Load())
	}
	if n := admitted.Load(); n != 20 {
		t.Fatalf("%d admitted across 3 clients, want exactly 20", n)
	}
}

func TestRedisInvalidArguments(t *testing.T) {
	client, prefix := newTestRedis(t)
	l := NewRedis(client, prefix)
	if _, err := l.Allow(context.Background(), "k", PerMinute(1), -1); !errors.Is(err, ErrInvalidCost) {
		t.Fatalf("negative cost: %v", err)
	}
	if _, err := l.Allow(context.Background(), "k", Limit{Rate: 1, Period: time.Nanosecond}, 1); err == nil {
		t.Fatal("sub-microsecond period: want an error")
	}
}

func TestRedisUnreachableReturnsError(t *testing.T) {
	l := NewRedis(testutil.UnreachableRedis(t), "x:")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if r, err := l.Allow(ctx, "k", PerMinute(20), 1); err == nil || r.Allowed {
		t.Fatalf("Allow = %+v, %v; want an error and not allowed", r, err)
	}
}

// TestRedisHonoursContextDeadline points the limiter at a server that accepts and never
// answers, with client timeouts disabled: only the ctx deadline can end the call, so a
// hang here (the test timing out) means the deadline was ignored.
func TestRedisHonoursContextDeadline(t *testing.T) {
	l := NewRedis(testutil.SilentRedis(t), "x:")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Allow(ctx, "k", PerMinute(20), 1); err == nil {
		t.Fatal("want an error")
	}
}

// pipelineGate is a go-redis hook that holds every pipeline of scripts until
// released, and records each one's length.
type pipelineGate struct {
	release chan struct{}
	mu      sync.Mutex
	sizes   []int
}

func (g *pipelineGate) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (g *pipelineGate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (g *pipelineGate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || cmds[0].Name() != "evalsha" {
			return next(ctx, cmds) // a new connection's set-up
		}
		g.mu.Lock()
		g.sizes = append(g.sizes, len(cmds))
		g.mu.Unlock()
		<-g.release
		return next(ctx, cmds)
	}
}

// TestRedisSharesRoundTrips: calls made while the limiter's pipelines are busy go out
// together in the next one, and every decision is still exact.
func TestRedisSharesRoundTrips(t *testing.T) {
	client, prefix := newTestRedis(t)
	l := NewRedis(client, prefix)
	// Cached on the server, so no EVAL fallback adds pipelines.
	if err := l.script.Load(context.Background(), client).Err(); err != nil {
		t.Fatal(err)
	}
	gate := &pipelineGate{release: make(chan struct{})}
	client.AddHook(gate)
	const waiting = 10
	var admitted atomic.Int64
	var wg sync.WaitGroup
	call := func() {
		r, err := l.Allow(context.Background(), "k", PerMinute(7), 1)
		if err != nil {
			t.Error(err)
			return
		}
		if r.Allowed {
			admitted.Add(1)
		}
	}
	// Two calls take both pipeline slots and are held in the hook ...
	for range maxInFlight {
		wg.Go(call)
	}
	waitFor(t, func() bool { gate.mu.Lock(); defer gate.mu.Unlock(); return len(gate.sizes) == maxInFlight })
	// ... so the next ones queue.
	for range waiting {
		wg.Go(call)
	}
	waitFor(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return len(l.pending) == waiting })
	close(gate.release)
	wg.Wait()
	gate.mu.Lock()
	defer gate.mu.Unlock()
	if len(gate.sizes) != maxInFlight+1 || gate.sizes[maxInFlight] != waiting {
		t.Fatalf("pipelines of %v commands; want %d of 1, then one of %d", gate.sizes, maxInFlight, waiting)
	}
	if n := admitted.Load(); n != 7 {
		t.Fatalf("%d of %d calls admitted by a limit of 7", n, maxInFlight+waiting)
	}
	// The slots are given back (just after the last answers are delivered).
	waitFor(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.inFlight == 0 })
}

// TestRedisReloadsFlushedScript: after SCRIPT FLUSH (a restarted or failed-over
// Redis) the limiter falls back to EVAL and keeps deciding.
func TestRedisReloadsFlushedScript(t *testing.T) {
	client, prefix := newTestRedis(t)
	l := NewRedis(client, prefix)
	for i := range 3 {
		if err := client.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		r, err := l.Allow(context.Background(), "k", PerMinute(2), 1)
		if err != nil {
			t.Fatalf("call %d after SCRIPT FLUSH: %v", i, err)
		}
		if r.Allowed != (i < 2) {
			t.Fatalf("call %d: allowed %v", i, r.Allowed)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRedisRefund(t *testing.T) {
	client, prefix := newTestRedis(t)
	testRefund(t, NewRedis(client, prefix))
	if n, err := client.Exists(context.Background(), prefix+"k").Result(); err != nil || n != 0 {
		t.Fatalf("a key refunded to a full budget still exists (%d, %v)", n, err)
	}
}
