package observe

import (
	"math"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// DefaultWindowSize is how many recent samples a latency window keeps for the JSON
// summary's percentiles.
const DefaultWindowSize = 1024

// maxLLMSeries bounds the LLM series: model names come from clients ("openai/anything"
// resolves), so past this many provider/model/outcome combinations new models are
// counted under model "other" rather than growing the exposition without limit.
const maxLLMSeries = 512

// MetricsConfig tunes Metrics. Zero values take the defaults noted.
type MetricsConfig struct {
	// WindowSize is how many recent samples each latency window keeps (1024).
	WindowSize int
}

// Metrics is the process's Prometheus metrics, in a registry of its own (with the Go
// runtime and process collectors), plus sliding windows of recent latencies from which
// the JSON summary computes exact percentiles. Its Observe methods are safe for
// concurrent use and do not allocate once a label combination has been seen.
type Metrics struct {
	reg    *prometheus.Registry
	window int

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpSlow     *prometheus.CounterVec
	httpMu       sync.RWMutex
	httpSeries   map[httpKey]*httpSeries
	httpRoutes   map[string]*Window
	httpAll      *Window

	llmRequests   *prometheus.CounterVec
	llmTokens     *prometheus.CounterVec
	llmCost       *prometheus.CounterVec
	llmDuration   *prometheus.HistogramVec
	cacheHits     prometheus.Counter
	cacheMisses   prometheus.Counter
	rateLimited   *prometheus.CounterVec
	budgetOver    prometheus.Counter
	budgetOverUSD prometheus.Counter
	llmMu         sync.RWMutex
	llmSeries     map[llmKey]*llmSeries
	llmModels     map[string]*Window
	llmAll        *Window
	cacheHitLat   *Window
	nHits, nMiss  atomic.Int64
	promptTok     atomic.Int64
	completionTok atomic.Int64
	costMicroUSD  atomic.Int64 // cost in millionths of a dollar, for the summary
	limitedMu     sync.Mutex
	limited       map[string]int64

	jobAttempts *prometheus.CounterVec
	jobRun      *prometheus.HistogramVec
	jobWait     *prometheus.HistogramVec
	jobsGauge   *prometheus.GaugeVec
	jobMu       sync.Mutex
	jobCounts   map[[2]string]int64 // kind, state → jobs waiting or running
	jobDone     map[[2]string]int64 // kind, state → attempts ended this way here
	jobRunAll   *Window
	jobWaitAll  *Window
}

type httpKey struct {
	route, method string
	status        int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
	route    *Window
}

type llmKey struct {
	provider, model, outcome string
	cached                   bool
}

type llmSeries struct {
	requests   prometheus.Counter
	prompt     prometheus.Counter
	completion prometheus.Counter
	cost       prometheus.Counter
	duration   prometheus.Observer
	model      *Window
}

// NewMetrics returns Metrics with every series family registered.
func NewMetrics(cfg MetricsConfig) *Metrics {
	if cfg.WindowSize <= 0 {
		cfg.WindowSize = DefaultWindowSize
	}
	m := &Metrics{reg: prometheus.NewRegistry(), window: cfg.WindowSize}
	m.initHTTP(cfg)
	m.initLLM(cfg)
	m.initJobs(cfg)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.httpSlow,
		m.llmRequests, m.llmTokens, m.llmCost, m.llmDuration, m.cacheHits, m.cacheMisses, m.rateLimited,
		m.budgetOver, m.budgetOverUSD,
		m.jobAttempts, m.jobRun, m.jobWait, m.jobsGauge,
	)
	return m
}

// initHTTP makes the HTTP server's metrics.
func (m *Metrics) initHTTP(cfg MetricsConfig) {
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vibecoder_http_requests_total",
		Help: "HTTP requests served, by route pattern (never the raw path), method and status.",
	}, []string{"route", "method", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vibecoder_http_request_duration_seconds",
		Help:    "Time to serve an HTTP request, by route pattern and method (event streams excluded).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method"})
	m.httpSlow = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vibecoder_http_slow_requests_total",
		Help: "HTTP requests slower than the slow-request threshold (each also logged as a warning).",
	}, []string{"route"})
	m.httpSeries = map[httpKey]*httpSeries{}
	m.httpRoutes = map[string]*Window{}
	m.httpAll = NewWindow(cfg.WindowSize)
}

// initLLM makes the LLM gateway's metrics.
func (m *Metrics) initLLM(cfg MetricsConfig) {
	m.llmRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vibecoder_llm_requests_total",
		Help: "LLM gateway calls, by provider, model, outcome (ok or an error type) and whether the cache answered.",
	}, []string{"provider", "model", "outcome", "cached"})
	m.llmTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vibecoder_llm_tokens_total",
		Help: "Tokens of LLM calls (cache hits included), by provider, model and type (prompt, completion).",
	}, []string{"provider", "model", "type"})
	m.llmCost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vibecoder_llm_cost_usd_total",
		Help: "Dollars spent upstream on LLM calls (cache hits cost nothing), by provider and model.",
	}, []string{"provider", "model"})
	m.llmDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vibecoder_llm_request_duration_seconds",
		Help:    "Latency of LLM gateway calls, retries and fallbacks included, by provider, model and whether the cache answered.",
		Buckets: []float64{.001, .005, .025, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120},
	}, []string{"provider", "model", "cached"})
	m.cacheHits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vibecoder_llm_cache_hits_total",
		Help: "LLM calls answered from the response cache or by an identical call in flight.",
	})
	m.cacheMisses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vibecoder_llm_cache_misses_total",
		Help: "LLM calls the cache could not answer (no-cache requests included; rate-limited calls excluded).",
	})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vibecoder_llm_rate_limited_total",
		Help: "LLM calls refused by a per-user limit, by kind (requests, tokens, budget).",
	}, []string{"kind"})
	m.budgetOver = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vibecoder_llm_budget_overruns_total",
		Help: "LLM calls whose provider-reported usage cost more than the call's budget reservation.",
	})
	m.budgetOverUSD = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vibecoder_llm_budget_overrun_usd_total",
		Help: "USD spent beyond budget reservations (provider-reported usage above the reserved worst case).",
	})
	m.llmSeries = map[llmKey]*llmSeries{}
	m.llmModels = map[string]*Window{}
	m.llmAll = NewWindow(cfg.WindowSize)
	m.cacheHitLat = NewWindow(cfg.WindowSize)
	m.limited = map[string]int64{}
}

// initJobs makes the job system's metrics.
func (m *Metrics) initJobs(cfg MetricsConfig) {
	m.jobAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vibecoder_job_attempts_total",
		Help: "Job attempts worked by this process, by kind and how they ended (completed, retryable, discarded, cancelled, snoozed, interrupted).",
	}, []string{"kind", "state"})
	m.jobRun = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vibecoder_job_run_duration_seconds",
		Help:    "Time a job attempt ran, by kind.",
		Buckets: []float64{.1, .5, 1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600},
	}, []string{"kind"})
	m.jobWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vibecoder_job_queue_wait_seconds",
		Help:    "Time a job waited available in its queue before an attempt started, by kind.",
		Buckets: []float64{.01, .1, .5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600},
	}, []string{"kind"})
	m.jobsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vibecoder_jobs",
		Help: "Jobs waiting or running in the queue (whole database, every process), by kind and state; refreshed every few seconds.",
	}, []string{"kind", "state"})
	m.jobCounts = map[[2]string]int64{}
	m.jobDone = map[[2]string]int64{}
	m.jobRunAll = NewWindow(cfg.WindowSize)
	m.jobWaitAll = NewWindow(cfg.WindowSize)
}

// Registry returns the registry the metrics are exposed from.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Register adds collectors (a component's own counters, say) to the registry.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// ObserveHTTP records one served request. route is the matched pattern ("unmatched"
// when none), never the raw path; timed is false for responses whose duration is not a
// latency (event streams), which are counted but kept out of the latency figures.
func (m *Metrics) ObserveHTTP(route, method string, status int, d time.Duration, timed bool) {
	k := httpKey{route: route, method: method, status: status}
	m.httpMu.RLock()
	s := m.httpSeries[k]
	m.httpMu.RUnlock()
	if s == nil {
		s = m.newHTTPSeries(k)
	}
	s.requests.Inc()
	if !timed {
		return
	}
	s.duration.Observe(d.Seconds())
	s.route.Observe(d)
	m.httpAll.Observe(d)
}

func (m *Metrics) newHTTPSeries(k httpKey) *httpSeries {
	m.httpMu.Lock()
	defer m.httpMu.Unlock()
	if s := m.httpSeries[k]; s != nil {
		return s
	}
	w := m.httpRoutes[k.route]
	if w == nil {
		w = NewWindow(m.window)
		m.httpRoutes[k.route] = w
	}
	s := &httpSeries{
		requests: m.httpRequests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status)),
		duration: m.httpDuration.WithLabelValues(k.route, k.method),
		route:    w,
	}
	m.httpSeries[k] = s
	return s
}

// ObserveSlowHTTP counts a request slower than the threshold.
func (m *Metrics) ObserveSlowHTTP(route string) { m.httpSlow.WithLabelValues(route).Inc() }

// ObserveLLM records one LLM gateway call (the gateway's Observer). outcome is "ok" or
// the error type; cached is true when the cache or an identical call in flight answered.
func (m *Metrics) ObserveLLM(provider, model, outcome string, cached bool, promptTokens, completionTokens int, costUSD float64, latency time.Duration) {
	k := llmKey{provider: provider, model: model, outcome: outcome, cached: cached}
	m.llmMu.RLock()
	s := m.llmSeries[k]
	m.llmMu.RUnlock()
	if s == nil {
		s = m.newLLMSeries(k)
	}
	s.requests.Inc()
	if promptTokens > 0 {
		s.prompt.Add(float64(promptTokens))
		m.promptTok.Add(int64(promptTokens))
	}
	if completionTokens > 0 {
		s.completion.Add(float64(completionTokens))
		m.completionTok.Add(int64(completionTokens))
	}
	if costUSD > 0 {
		s.cost.Add(costUSD)
		m.costMicroUSD.Add(int64(math.Round(costUSD * 1e6)))
	}
	s.duration.Observe(latency.Seconds())
	s.model.Observe(latency)
	m.llmAll.Observe(latency)
	switch {
	case cached:
		m.cacheHits.Inc()
		m.nHits.Add(1)
		m.cacheHitLat.Observe(latency)
	case outcome != "rate_limited":
		m.cacheMisses.Inc()
		m.nMiss.Add(1)
	}
}

func (m *Metrics) newLLMSeries(k llmKey) *llmSeries {
	m.llmMu.Lock()
	defer m.llmMu.Unlock()
	if s := m.llmSeries[k]; s != nil {
		return s
	}
	orig := k
	if len(m.llmSeries) >= maxLLMSeries {
		k.model = "other"
	}
	s := m.llmSeries[k]
	if s == nil {
		name := k.provider + "/" + k.model
		w := m.llmModels[name]
		if w == nil {
			w = NewWindow(m.window)
			m.llmModels[name] = w
		}
		s = &llmSeries{
			requests:   m.llmRequests.WithLabelValues(k.provider, k.model, k.outcome, strconv.FormatBool(k.cached)),
			prompt:     m.llmTokens.WithLabelValues(k.provider, k.model, "prompt"),
			completion: m.llmTokens.WithLabelValues(k.provider, k.model, "completion"),
			cost:       m.llmCost.WithLabelValues(k.provider, k.model),
			duration:   m.llmDuration.WithLabelValues(k.provider, k.model, strconv.FormatBool(k.cached)),
			model:      w,
		}
		m.llmSeries[k] = s
	}
	if orig != k && len(m.llmSeries) < 2*maxLLMSeries {
		// Remember the overflowed combination too, so its next call only reads.
		m.llmSeries[orig] = s
	}
	return s
}

// ObserveRateLimited counts a call refused by a per-user limit of kind (requests,
// tokens, budget).
func (m *Metrics) ObserveRateLimited(kind string) {
	m.rateLimited.WithLabelValues(kind).Inc()
	m.limitedMu.Lock()
	m.limited[kind]++
	m.limitedMu.Unlock()
}

// ObserveBudgetOverrun counts a call whose reported usage cost overUSD more than its
// budget reservation.
func (m *Metrics) ObserveBudgetOverrun(overUSD float64) {
	m.budgetOver.Inc()
	m.budgetOverUSD.Add(max(overUSD, 0))
}

// ObserveJob records one finished job attempt: its kind, how it ended, how long it ran
// and how long it waited in the queue first.
func (m *Metrics) ObserveJob(kind, state string, run, wait time.Duration) {
	m.jobAttempts.WithLabelValues(kind, state).Inc()
	m.jobRun.WithLabelValues(kind).Observe(run.Seconds())
	m.jobWait.WithLabelValues(kind).Observe(wait.Seconds())
	m.jobRunAll.Observe(run)
	m.jobWaitAll.Observe(wait)
	m.jobMu.Lock()
	m.jobDone[[2]string{kind, state}]++
	m.jobMu.Unlock()
}

// SetJobCounts replaces the queue-depth gauges with counts (kind → state → jobs);
// combinations that have gone are set to zero.
func (m *Metrics) SetJobCounts(counts map[string]map[string]int64) {
	m.jobMu.Lock()
	defer m.jobMu.Unlock()
	for k := range m.jobCounts {
		if _, ok := counts[k[0]][k[1]]; !ok {
			m.jobCounts[k] = 0
			m.jobsGauge.WithLabelValues(k[0], k[1]).Set(0)
		}
	}
	for kind, states := range counts {
		for state, n := range states {
			m.jobCounts[[2]string{kind, state}] = n
			m.jobsGauge.WithLabelValues(kind, state).Set(float64(n))
		}
	}
}

// DBPoolStats is a database connection pool's state.
type DBPoolStats struct {
	MaxOpen      int64
	InUse        int64
	Idle         int64
	WaitCount    int64         // acquisitions that had to wait, since start
	WaitDuration time.Duration // total time spent waiting, since start
}

// AddDBPool exposes a connection pool's state, read at every scrape, under pool=name.
func (m *Metrics) AddDBPool(name string, stats func() DBPoolStats) error {
	return m.reg.Register(&poolCollector{name: name, stats: stats})
}

var (
	poolConns = prometheus.NewDesc("vibecoder_db_pool_connections",
		"Open database connections, by pool and state (in_use, idle).", []string{"pool", "state"}, nil)
	poolMax = prometheus.NewDesc("vibecoder_db_pool_max_connections",
		"The most connections the pool may open.", []string{"pool"}, nil)
	poolWaits = prometheus.NewDesc("vibecoder_db_pool_waits_total",
		"Connection acquisitions that had to wait for a free connection.", []string{"pool"}, nil)
	poolWaitSecs = prometheus.NewDesc("vibecoder_db_pool_wait_seconds_total",
		"Total time spent waiting for a free connection.", []string{"pool"}, nil)
)

type poolCollector struct {
	name  string
	stats func() DBPoolStats
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConns
	ch <- poolMax
	ch <- poolWaits
	ch <- poolWaitSecs
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(s.InUse), c.name, "in_use")
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(s.Idle), c.name, "idle")
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxOpen), c.name)
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.WaitCount), c.name)
	ch <- prometheus.MustNewConstMetric(poolWaitSecs, prometheus.CounterValue, s.WaitDuration.Seconds(), c.name)
}

// Latency summarises a series' latencies in milliseconds. Count and Avg cover every
// sample since the process started; P50, P95 and P99 are exact (nearest-rank) over the
// most recent Samples samples.
type Latency struct {
	Count   int64   `json:"count"`
	Avg     float64 `json:"avg"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
	Samples int     `json:"samples"`
}

// HTTPSummary is the summary's httpRequests.
type HTTPSummary struct {
	Latency
	ByRoute map[string]Latency `json:"byRoute"`
}

// Tokens are token totals.
type Tokens struct {
	Prompt     int64 `json:"prompt"`
	Completion int64 `json:"completion"`
	Total      int64 `json:"total"`
}

// LLMSummary is the summary's llmRequests.
type LLMSummary struct {
	Latency
	Tokens      Tokens             `json:"tokens"`
	CostUSD     float64            `json:"costUSD"`
	RateLimited map[string]int64   `json:"rateLimited"`
	ByModel     map[string]Latency `json:"byModel"`
}

// CacheSummary is the summary's cachePerformance.
type CacheSummary struct {
	Hits    int64   `json:"hits"`
	Misses  int64   `json:"misses"`
	HitRate float64 `json:"hitRate"` // hits / (hits + misses), 0 before any call
	Latency Latency `json:"latency"` // of cache hits
}

// JobsSummary is the summary's jobs.
type JobsSummary struct {
	// ByKindState is jobs waiting or running, by kind then state (the queue depth).
	ByKindState map[string]map[string]int64 `json:"byKindState"`
	// Attempts is attempts this process worked, by kind then how they ended.
	Attempts  map[string]map[string]int64 `json:"attempts"`
	Duration  Latency                     `json:"duration"`
	QueueWait Latency                     `json:"queueWait"`
}

// MemorySummary is the summary's memory, in bytes.
type MemorySummary struct {
	RSS      uint64 `json:"rss"`
	HeapUsed uint64 `json:"heapUsed"`
}

// Summary is the JSON form of GET /metrics.
type Summary struct {
	HTTPRequests     HTTPSummary   `json:"httpRequests"`
	LLMRequests      LLMSummary    `json:"llmRequests"`
	CachePerformance CacheSummary  `json:"cachePerformance"`
	Jobs             JobsSummary   `json:"jobs"`
	Memory           MemorySummary `json:"memory"`
}

// Summary returns the metrics as the JSON summary shows them.
func (m *Metrics) Summary() Summary {
	var s Summary
	s.HTTPRequests.Latency = m.httpAll.Summary()
	m.httpMu.RLock()
	s.HTTPRequests.ByRoute = make(map[string]Latency, len(m.httpRoutes))
	for route, w := range m.httpRoutes {
		s.HTTPRequests.ByRoute[route] = w.Summary()
	}
	m.httpMu.RUnlock()

	s.LLMRequests.Latency = m.llmAll.Summary()
	p, c := m.promptTok.Load(), m.completionTok.Load()
	s.LLMRequests.Tokens = Tokens{Prompt: p, Completion: c, Total: p + c}
	s.LLMRequests.CostUSD = float64(m.costMicroUSD.Load()) / 1e6
	m.llmMu.RLock()
	s.LLMRequests.ByModel = make(map[string]Latency, len(m.llmModels))
	for name, w := range m.llmModels {
		s.LLMRequests.ByModel[name] = w.Summary()
	}
	m.llmMu.RUnlock()
	m.limitedMu.Lock()
	s.LLMRequests.RateLimited = make(map[string]int64, len(m.limited))
	for k, v := range m.limited {
		s.LLMRequests.RateLimited[k] = v
	}
	m.limitedMu.Unlock()

	hits, misses := m.nHits.Load(), m.nMiss.Load()
	s.CachePerformance = CacheSummary{Hits: hits, Misses: misses, Latency: m.cacheHitLat.Summary()}
	if hits+misses > 0 {
		s.CachePerformance.HitRate = float64(hits) / float64(hits+misses)
	}

	s.Jobs = JobsSummary{ByKindState: nested(nil), Attempts: nested(nil), Duration: m.jobRunAll.Summary(), QueueWait: m.jobWaitAll.Summary()}
	m.jobMu.Lock()
	nested(s.Jobs.ByKindState, m.jobCounts)
	nested(s.Jobs.Attempts, m.jobDone)
	m.jobMu.Unlock()

	s.Memory = ReadMemory()
	return s
}

// nested adds flat (kind, state → n) to out, skipping zeros; with out nil it returns a
// new empty map.
func nested(out map[string]map[string]int64, flat ...map[[2]string]int64) map[string]map[string]int64 {
	if out == nil {
		out = map[string]map[string]int64{}
	}
	for _, f := range flat {
		for k, n := range f {
			if n == 0 {
				continue
			}
			if out[k[0]] == nil {
				out[k[0]] = map[string]int64{}
			}
			out[k[0]][k[1]] = n
		}
	}
	return out
}

// ReadMemory returns the process's resident set size (from /proc where there is one,
// else the memory the Go runtime holds from the system) and the bytes of live and
// not-yet-swept heap objects.
func ReadMemory() MemorySummary {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	out := MemorySummary{HeapUsed: sampleUint(s[0]), RSS: sampleUint(s[1])}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				out.RSS = pages * uint64(os.Getpagesize())
			}
		}
	}
	return out
}

func sampleUint(s metrics.Sample) uint64 {
	if s.Value.Kind() == metrics.KindUint64 {
		return s.Value.Uint64()
	}
	return 0
}

// Window keeps the most recent samples of a latency (a fixed-size ring) together with
// the count and sum of every sample, so percentiles over recent traffic are exact
// rather than estimated from histogram buckets. It is safe for concurrent use.
type Window struct {
	mu    sync.Mutex
	buf   []time.Duration
	next  int
	n     int // samples in buf
	count int64
	sum   time.Duration
}

// NewWindow returns a Window keeping the last size samples.
func NewWindow(size int) *Window {
	return &Window{buf: make([]time.Duration, max(size, 1))}
}

// Observe adds a sample, displacing the oldest once the window is full.
func (w *Window) Observe(d time.Duration) {
	w.mu.Lock()
	w.buf[w.next] = d
	w.next++
	if w.next == len(w.buf) {
		w.next = 0
	}
	if w.n < len(w.buf) {
		w.n++
	}
	w.count++
	w.sum += d
	w.mu.Unlock()
}

// Summary returns the window's latency figures in milliseconds.
func (w *Window) Summary() Latency {
	w.mu.Lock()
	samples := slices.Clone(w.buf[:w.n])
	count, sum := w.count, w.sum
	w.mu.Unlock()
	out := Latency{Count: count, Samples: len(samples)}
	if count > 0 {
		out.Avg = ms(sum) / float64(count)
	}
	slices.Sort(samples)
	out.P50 = ms(Quantile(samples, 0.50))
	out.P95 = ms(Quantile(samples, 0.95))
	out.P99 = ms(Quantile(samples, 0.99))
	return out
}

// Quantile returns the q-quantile (0 < q ≤ 1) of sorted samples by the nearest-rank
// method: the smallest sample with at least q of all samples at or below it. It is
// always one of the samples, and exact for them; 0 when there are none.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps q*n that is an integer in exact arithmetic (0.95*100) from
	// rounding up past it in floating point.
	rank := int(math.Ceil(q*float64(n) - 1e-9))
	return sorted[min(max(rank, 1), n)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
