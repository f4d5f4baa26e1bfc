package testutil

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchParallelP99 runs op from parallelism goroutines per CPU (testing.B.SetParallelism)
// and reports the p99 latency of a single op, as "p99-ns", alongside the throughput.
// Each goroutine passes op a counter of its own, starting at its own offset, for
// spreading calls over a set of keys (keys[i%len(keys)]). An error from op fails the
// benchmark and stops that goroutine. Set-up done before the call is not timed.
func BenchParallelP99(b *testing.B, parallelism int, op func(i int) error) {
	b.Helper()
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
			if err := op(i); err != nil {
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
