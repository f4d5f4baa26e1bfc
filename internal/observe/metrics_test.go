package observe

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func msList(vs ...int) []time.Duration {
	out := make([]time.Duration, len(vs))
	for i, v := range vs {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestWindowPercentiles(t *testing.T) {
	for _, tc := range []struct {
		name          string
		size          int
		samples       []int // milliseconds, in arrival order
		p50, p95, p99 float64
		count         int64
		avg           float64
		kept          int
	}{
		{name: "empty", size: 10},
		{name: "one sample", size: 10, samples: []int{7}, p50: 7, p95: 7, p99: 7, count: 1, avg: 7, kept: 1},
		{name: "1..100", size: 100, samples: seq(1, 100), p50: 50, p95: 95, p99: 99, count: 100, avg: 50.5, kept: 100},
		{name: "1..10", size: 100, samples: seq(1, 10), p50: 5, p95: 10, p99: 10, count: 10, avg: 5.5, kept: 10},
		// 1..1000 through a window of 100: percentiles over the last 100 (901..1000),
		// count and average over all of them.
		{name: "window slides", size: 100, samples: seq(1, 1000), p50: 950, p95: 995, p99: 999, count: 1000, avg: 500.5, kept: 100},
		// 98 fast requests and 2 slow ones: p95 is fast, p99 catches a slow one.
		{name: "tail", size: 1024, samples: append(repeat(10, 98), 2000, 3000), p50: 10, p95: 10, p99: 2000, count: 100, avg: 59.8, kept: 100},
		{name: "1..200", size: 1024, samples: seq(1, 200), p50: 100, p95: 190, p99: 198, count: 200, avg: 100.5, kept: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Arrival order must not matter within the window: shuffle all but the
			// sliding case (where it decides which samples are kept).
			in := msList(tc.samples...)
			if len(in) <= tc.size {
				rand.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
			}
			w := NewWindow(tc.size)
			for _, d := range in {
				w.Observe(d)
			}
			got := w.Summary()
			want := Latency{Count: tc.count, Avg: tc.avg, P50: tc.p50, P95: tc.p95, P99: tc.p99, Samples: tc.kept}
			if fmt.Sprintf("%.6f", got.Avg) != fmt.Sprintf("%.6f", want.Avg) {
				t.Errorf("avg = %v, want %v", got.Avg, want.Avg)
			}
			got.Avg = want.Avg
			if got != want {
				t.Errorf("summary = %+v, want %+v", got, want)
			}
		})
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestQuantileNearestRank(t *testing.T) {
	s := msList(seq(1, 20)...)
	for q, want := range map[float64]int{0.01: 1, 0.05: 1, 0.1: 2, 0.5: 10, 0.51: 11, 0.9: 18, 0.95: 19, 0.99: 20, 1: 20} {
		if got := Quantile(s, q); got != time.Duration(want)*time.Millisecond {
			t.Errorf("Quantile(1..20, %v) = %v, want %dms", q, got, want)
		}
	}
}

// The hot paths allocate nothing once their label combination has been seen: the
// gateway serves tens of thousands of cache hits a second through ObserveLLM.
func TestObserveDoesNotAllocate(t *testing.T) {
	m := NewMetrics(MetricsConfig{})
	m.ObserveLLM("openai", "gpt-4o-mini", "ok", true, 10, 20, 0, time.Millisecond)
	m.ObserveHTTP("GET /api/v1/projects/{id}", "GET", 200, time.Millisecond, true)
	if n := testing.AllocsPerRun(1000, func() {
		m.ObserveLLM("openai", "gpt-4o-mini", "ok", true, 10, 20, 0, time.Millisecond)
	}); n != 0 {
		t.Errorf("ObserveLLM allocates %v times a call", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		m.ObserveHTTP("GET /api/v1/projects/{id}", "GET", 200, time.Millisecond, true)
	}); n != 0 {
		t.Errorf("ObserveHTTP allocates %v times a call", n)
	}
}

func TestLLMSeriesAndCache(t *testing.T) {
	m := NewMetrics(MetricsConfig{})
	m.ObserveLLM("openai", "gpt-4o-mini", "ok", false, 100, 50, 0.25, 400*time.Millisecond)
	m.ObserveLLM("openai", "gpt-4o-mini", "ok", true, 100, 50, 0, 2*time.Millisecond)
	m.ObserveLLM("openai", "gpt-4o-mini", "ok", true, 100, 50, 0, 4*time.Millisecond)
	m.ObserveLLM("openai", "gpt-4o-mini", "rate_limited", false, 0, 0, 0, time.Millisecond)
	m.ObserveRateLimited("requests")

	if got := testutil.ToFloat64(m.cacheHits); got != 2 {
		t.Errorf("cache hits = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.cacheMisses); got != 1 {
		t.Errorf("cache misses = %v, want 1 (a rate-limited call is no miss)", got)
	}
	if got := testutil.ToFloat64(m.llmTokens.WithLabelValues("openai", "gpt-4o-mini", "prompt")); got != 300 {
		t.Errorf("prompt tokens = %v, want 300", got)
	}
	s := m.Summary()
	if s.CachePerformance.Hits != 2 || s.CachePerformance.Misses != 1 || fmt.Sprintf("%.4f", s.CachePerformance.HitRate) != "0.6667" {
		t.Errorf("cache performance = %+v", s.CachePerformance)
	}
	if s.CachePerformance.Latency.P50 != 2 || s.CachePerformance.Latency.P99 != 4 {
		t.Errorf("cache hit latency = %+v, want p50 2ms, p99 4ms", s.CachePerformance.Latency)
	}
	if s.LLMRequests.Count != 4 || s.LLMRequests.Tokens.Total != 450 || s.LLMRequests.CostUSD != 0.25 {
		t.Errorf("llm summary = %+v", s.LLMRequests)
	}
	if s.LLMRequests.RateLimited["requests"] != 1 {
		t.Errorf("rate limited = %v", s.LLMRequests.RateLimited)
	}
	if _, ok := s.LLMRequests.ByModel["openai/gpt-4o-mini"]; !ok {
		t.Errorf("byModel = %v", s.LLMRequests.ByModel)
	}
}

// Clients choose model names, so the number of LLM series is bounded.
func TestLLMSeriesBounded(t *testing.T) {
	m := NewMetrics(MetricsConfig{WindowSize: 4})
	for i := range 3 * maxLLMSeries {
		m.ObserveLLM("openai", fmt.Sprintf("model-%d", i), "ok", false, 1, 1, 0, time.Millisecond)
	}
	if n := testutil.CollectAndCount(m.llmRequests); n > maxLLMSeries+1 {
		t.Errorf("%d request series, want at most %d", n, maxLLMSeries+1)
	}
	if got := testutil.ToFloat64(m.llmRequests.WithLabelValues("openai", "other", "ok", "false")); got != 2*maxLLMSeries {
		t.Errorf("calls counted under model other = %v, want %d", got, 2*maxLLMSeries)
	}
}

func TestJobCounts(t *testing.T) {
	m := NewMetrics(MetricsConfig{})
	m.SetJobCounts(map[string]map[string]int64{"index": {"available": 3, "running": 1}, "pr": {"scheduled": 2}})
	m.SetJobCounts(map[string]map[string]int64{"index": {"running": 2}})
	want := `
# HELP vibecoder_jobs Jobs waiting or running in the queue (whole database, every process), by kind and state; refreshed every few seconds.
# TYPE vibecoder_jobs gauge
vibecoder_jobs{kind="index",state="available"} 0
vibecoder_jobs{kind="index",state="running"} 2
vibecoder_jobs{kind="pr",state="scheduled"} 0
`
	if err := testutil.CollectAndCompare(m.jobsGauge, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	m.ObserveJob("index", "completed", 3*time.Second, 100*time.Millisecond)
	s := m.Summary()
	if s.Jobs.ByKindState["index"]["running"] != 2 || len(s.Jobs.ByKindState) != 1 {
		t.Errorf("byKindState = %v", s.Jobs.ByKindState)
	}
	if s.Jobs.Attempts["index"]["completed"] != 1 || s.Jobs.Duration.P50 != 3000 || s.Jobs.QueueWait.P99 != 100 {
		t.Errorf("jobs = %+v", s.Jobs)
	}
	if s.Memory.RSS == 0 || s.Memory.HeapUsed == 0 {
		t.Errorf("memory = %+v", s.Memory)
	}
}

func TestDBPool(t *testing.T) {
	m := NewMetrics(MetricsConfig{})
	if err := m.AddDBPool("postgres", func() DBPoolStats {
		return DBPoolStats{MaxOpen: 10, InUse: 3, Idle: 2, WaitCount: 5, WaitDuration: 1500 * time.Millisecond}
	}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP vibecoder_db_pool_connections Open database connections, by pool and state (in_use, idle).
# TYPE vibecoder_db_pool_connections gauge
vibecoder_db_pool_connections{pool="postgres",state="idle"} 2
vibecoder_db_pool_connections{pool="postgres",state="in_use"} 3
# HELP vibecoder_db_pool_wait_seconds_total Total time spent waiting for a free connection.
# TYPE vibecoder_db_pool_wait_seconds_total counter
vibecoder_db_pool_wait_seconds_total{pool="postgres"} 1.5
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"vibecoder_db_pool_connections", "vibecoder_db_pool_wait_seconds_total"); err != nil {
		t.Error(err)
	}
}
