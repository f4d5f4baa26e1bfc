package cache

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

// newTestRedis returns a client for the test Redis and a key prefix of this test's own;
// the prefix's keys are deleted when the test ends.
func newTestRedis(t testing.TB) (*redis.Client, string) { return testutil.RedisScratch(t) }

func TestRedisRoundTrip(t *testing.T) {
	client, prefix := newTestRedis(t)
	c := NewRedis(client, prefix)
	ctx := context.Background()

	if _, ok, err := c.Get(ctx, "k"); err != nil || ok {
		t.Fatalf("Get on empty = %v, %v; want miss", ok, err)
	}
	val := []byte{0, 1, 2, 0xff, '\n', 'x'} // opaque bytes survive
	if err := c.Set(ctx, "k", val, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.Get(ctx, "k")
	if err != nil || !ok || string(got) != string(val) {
		t.Fatalf("Get = %q, %v, %v; want %q", got, ok, err, val)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete(missing): %v", err)
	}
	if _, ok, _ := c.Get(ctx, "k"); ok {
		t.Fatal("deleted key still present")
	}
	want := Stats{Hits: 1, Misses: 2, Sets: 1, Deletes: 2}
	if s := c.Stats(); s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
}

func TestRedisTTL(t *testing.T) {
	client, prefix := newTestRedis(t)
	c := NewRedis(client, prefix)
	ctx := context.Background()

	if err := c.Set(ctx, "ttl", []byte("v"), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	pttl, err := client.PTTL(ctx, prefix+"ttl").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > 1500*time.Millisecond {
		t.Fatalf("PTTL = %v, want in (0, 1.5s]", pttl)
	}

	if err := c.Set(ctx, "sub-ms", []byte("v"), time.Microsecond); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if pttl, _ := client.PTTL(ctx, prefix+"forever").Result(); pttl != -1 {
		t.Fatalf("PTTL without ttl = %v, want -1 (no expiry)", pttl)
	}

	// Expiry without sleeping: make the key's TTL 1ms and wait until Redis drops it,
	// checking the cache reports a miss once it has.
	if err := client.PExpire(ctx, prefix+"ttl", time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := client.Exists(ctx, prefix+"ttl").Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, ok, err := c.Get(ctx, "ttl"); ok || err != nil {
		t.Fatalf("Get after expiry = %v, %v; want miss", ok, err)
	}
}

func TestRedisIsolationByPrefix(t *testing.T) {
	client, prefix := newTestRedis(t)
	a := NewRedis(client, prefix+"a:")
	b := NewRedis(client, prefix+"b:")
	ctx := context.Background()

	if err := a.Set(ctx, "same", []byte("from a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Get(ctx, "same"); ok {
		t.Fatal("b sees a's key")
	}
	if err := b.Set(ctx, "same", []byte("from b"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "same"); err != nil {
		t.Fatal(err)
	}
	got, ok, err := a.Get(ctx, "same")
	if err != nil || !ok || string(got) != "from a" {
		t.Fatalf("a.Get = %q, %v, %v; b's writes leaked into a", got, ok, err)
	}
	if n, _ := client.Exists(ctx, prefix+"a:same").Result(); n != 1 {
		t.Fatal("key not stored under its prefix")
	}
}

func TestRedisUnreachableReturnsError(t *testing.T) {
	c := NewRedis(testutil.UnreachableRedis(t), "x:")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()

	if _, ok, err := c.Get(ctx, "k"); err == nil || ok {
		t.Fatalf("Get = %v, %v; want an error", ok, err)
	}
	if err := c.Set(ctx, "k", []byte("v"), time.Minute); err == nil {
		t.Fatal("Set: want an error")
	}
	if err := c.Delete(ctx, "k"); err == nil {
		t.Fatal("Delete: want an error")
	}
	if s := c.Stats(); s.Errors != 3 {
		t.Fatalf("Errors = %d, want 3", s.Errors)
	}
}

func TestRedisClosedClientReturnsError(t *testing.T) {
	_, prefix := newTestRedis(t)
	opt, err := redis.ParseURL(testutil.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	other := redis.NewClient(opt)
	c := NewRedis(other, prefix)
	other.Close()
	if _, _, err := c.Get(context.Background(), "k"); err == nil {
		t.Fatal("Get on a closed client: want an error")
	}
}

func TestRedisDisappearsReturnsError(t *testing.T) {
	client, prefix := newTestRedis(t)
	p := testutil.NewCutProxy(t, client.Options().Addr)
	opt := testutil.FailFastRedisOptions(p.Addr)
	opt.DB, opt.Username, opt.Password = client.Options().DB, client.Options().Username, client.Options().Password
	viaProxy := redis.NewClient(opt)
	defer viaProxy.Close()
	c := NewRedis(viaProxy, prefix)
	ctx := context.Background()

	if err := c.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set while up: %v", err)
	}
	p.Cut()
	if _, ok, err := c.Get(ctx, "k"); err == nil || ok {
		t.Fatalf("Get after Redis went away = %v, %v; want an error", ok, err)
	}
}

// TestRedisHonoursContextDeadline points the cache at a server that accepts connections
// and never answers, with client timeouts disabled: only the ctx deadline can end the
// call, so a hang here (the test timing out) means the deadline was ignored.
func TestRedisHonoursContextDeadline(t *testing.T) {
	c := NewRedis(testutil.SilentRedis(t), "x:")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, ok, err := c.Get(ctx, "k")
	if err == nil || ok {
		t.Fatalf("Get = %v, %v; want an error", ok, err)
	}
	var ne net.Error
	if !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("Get error = %v; want a timeout", err)
	}
}
