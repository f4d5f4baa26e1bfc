package cache

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

func TestTieredSharesThroughRedis(t *testing.T) {
	opt, err := redis.ParseURL(testutil.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	prefix := testutil.RedisPrefix(t)
	now := time.Now()
	clock := func() time.Time { return now }
	newTiered := func() *Tiered {
		near, err := NewMemory(1<<20, WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		return NewTiered(near, NewRedis(rdb, prefix), time.Second)
	}
	a, b := newTiered(), newTiered() // two processes
	ctx := context.Background()
	defer rdb.Del(ctx, prefix+"k")
	if err := a.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := b.Get(ctx, "k"); err != nil || !ok || string(v) != "v1" {
		t.Fatalf("b.Get after a.Set: %q %v %v", v, ok, err)
	}
	// b now holds a near copy: it answers even without Redis for up to the near TTL...
	rdb.Del(ctx, prefix+"k")
	if v, ok, _ := b.Get(ctx, "k"); !ok || string(v) != "v1" {
		t.Fatalf("near copy missing: %q %v", v, ok)
	}
	// ...and not after it.
	now = now.Add(2 * time.Second)
	if _, ok, _ := b.Get(ctx, "k"); ok {
		t.Fatal("near copy outlived its TTL")
	}
	if s := b.Stats(); s.Hits < 2 {
		t.Fatalf("stats %+v", s)
	}
}
