package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

// The limits are generous so every call does the full admit path (read, decide, write).
var benchLimit = Limit{Rate: 1 << 30, Period: time.Second, Burst: 1 << 30}

const benchKeys = 1000

// userKeys returns benchKeys distinct keys, each a user of its own.
func userKeys() []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	return keys
}

func benchAllow(b *testing.B, l Limiter) {
	keys := userKeys()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Allow(ctx, keys[i%len(keys)], benchLimit, 1); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchAllowParallel runs Allows from parallelism goroutines per CPU and reports the
// p99 latency of one Allow alongside the throughput.
func benchAllowParallel(b *testing.B, l Limiter, parallelism int) {
	keys := userKeys()
	ctx := context.Background()
	testutil.BenchParallelP99(b, parallelism, func(i int) error {
		_, err := l.Allow(ctx, keys[i%len(keys)], benchLimit, 1)
		return err
	})
}

func BenchmarkMemoryAllow(b *testing.B) { benchAllow(b, NewMemory(nil)) }

func BenchmarkMemoryAllowParallel(b *testing.B) { benchAllowParallel(b, NewMemory(nil), 1) }

func BenchmarkRedisAllow(b *testing.B) { benchAllow(b, NewRedis(newTestRedis(b))) }

// BenchmarkRedisAllowParallel runs one goroutine per CPU, about the concurrency of
// 10,000 requests/s at a ~50µs round trip.
func BenchmarkRedisAllowParallel(b *testing.B) { benchAllowParallel(b, NewRedis(newTestRedis(b)), 1) }

// BenchmarkRedisAllowSaturated runs 8 goroutines per CPU to find the throughput ceiling.
func BenchmarkRedisAllowSaturated(b *testing.B) { benchAllowParallel(b, NewRedis(newTestRedis(b)), 8) }
