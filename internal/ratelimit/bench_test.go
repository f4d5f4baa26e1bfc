package ratelimit

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The limits are generous so every call does the full admit path (read, decide, write).
var benchLimit = Limit{Rate: 1 << 30, Period: time.Second, Burst: 1 << 30}

const benchKeys = 1000

func benchAllow(b *testing.B, l Limiter) {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
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

// benchAllowParallel reports the p99 latency of one Allow alongside the throughput.
func benchAllowParallel(b *testing.B, l Limiter, parallelism int) {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	ctx := context.Background()
	var (
		mu   sync.Mutex
		all  []time.Duration
		next atomic.Int64
	)
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		i := int(next.Add(7919))
		for pb.Next() {
			start := time.Now()
			if _, err := l.Allow(ctx, keys[i%len(keys)], benchLimit, 1); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(start))
			i++
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(all) > 0 {
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
	}
}

func BenchmarkMemoryAllow(b *testing.B) { benchAllow(b, NewMemory(nil)) }

func BenchmarkMemoryAllowParallel(b *testing.B) { benchAllowParallel(b, NewMemory(nil), 1) }

func BenchmarkRedisAllow(b *testing.B) {
	client, prefix := newTestRedis(b)
	benchAllow(b, NewRedis(client, prefix))
}

// BenchmarkRedisAllowParallel runs one goroutine per CPU, about the concurrency of
// 10,000 requests/s at a ~50µs round trip.
func BenchmarkRedisAllowParallel(b *testing.B) {
	client, prefix := newTestRedis(b)
	benchAllowParallel(b, NewRedis(client, prefix), 1)
}

// BenchmarkRedisAllowSaturated runs 8 goroutines per CPU to find the throughput ceiling.
func BenchmarkRedisAllowSaturated(b *testing.B) {
	client, prefix := newTestRedis(b)
	benchAllowParallel(b, NewRedis(client, prefix), 8)
}
