package cache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

const (
	benchKeys    = 10_000
	benchValSize = 2 << 10 // a typical completion body
)

func benchKey(i int) string { return fmt.Sprintf("%064x", i) } // like a hex sha256

func fill(b *testing.B, c Cache) []string {
	b.Helper()
	keys := make([]string, benchKeys)
	val := make([]byte, benchValSize)
	for i := range keys {
		keys[i] = benchKey(i)
		if err := c.Set(context.Background(), keys[i], val, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	return keys
}

func benchGet(b *testing.B, c Cache) {
	keys := fill(b, c)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok, err := c.Get(ctx, keys[i%len(keys)]); !ok || err != nil {
			b.Fatalf("miss: %v", err)
		}
		i++
	}
}

// benchGetParallel runs Gets from parallelism goroutines per CPU and reports the p99
// latency of a single Get alongside the throughput.
func benchGetParallel(b *testing.B, c Cache, parallelism int) {
	keys := fill(b, c)
	ctx := context.Background()
	testutil.BenchParallelP99(b, parallelism, func(i int) error {
		if _, ok, err := c.Get(ctx, keys[i%len(keys)]); !ok || err != nil {
			return fmt.Errorf("miss: %v", err)
		}
		return nil
	})
}

func newBenchMemory(b *testing.B) *Memory {
	m, err := NewMemory(64 << 20)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkMemoryGet(b *testing.B) { benchGet(b, newBenchMemory(b)) }

func BenchmarkMemoryGetParallel(b *testing.B) { benchGetParallel(b, newBenchMemory(b), 1) }

func BenchmarkMemorySet(b *testing.B) {
	m := newBenchMemory(b)
	ctx := context.Background()
	val := make([]byte, benchValSize)
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := m.Set(ctx, keys[i%len(keys)], val, time.Hour); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkRedisGet(b *testing.B) { benchGet(b, NewRedis(newTestRedis(b))) }

// BenchmarkRedisGetParallel runs one goroutine per CPU: at the target of 10,000 hits/s
// and a ~50µs round trip, about one request is in flight at a time (Little's law), so
// its p99 is the figure to compare with the 3ms target.
func BenchmarkRedisGetParallel(b *testing.B) { benchGetParallel(b, NewRedis(newTestRedis(b)), 1) }

// BenchmarkRedisGetSaturated runs 8 goroutines per CPU to find the throughput ceiling;
// its p99 is queueing on the CPUs the benchmark shares with Redis.
func BenchmarkRedisGetSaturated(b *testing.B) { benchGetParallel(b, NewRedis(newTestRedis(b)), 8) }
