package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/httpapi"
	"github.com/vibecoder/vibecoder/internal/observe"
)

// jobCountInterval is how often the queue depth is counted in the database.
const jobCountInterval = 5 * time.Second

// enableMetrics builds the process's metrics and connects every component to them: the
// HTTP server (request metrics, GET /metrics), the LLM gateway, the job queue (finished
// attempts and the queue depth, refreshed in the background until ctx is done) and the
// database pool. It runs once the components exist.
func (a *App) enableMetrics(ctx context.Context) error {
	m := observe.NewMetrics(observe.MetricsConfig{})
	for _, p := range a.Store.Pools() {
		stats := p.Stats
		if err := m.AddDBPool(p.Name, func() observe.DBPoolStats {
			s := stats()
			return observe.DBPoolStats{MaxOpen: s.MaxOpen, InUse: s.InUse, Idle: s.Idle, WaitCount: s.WaitCount, WaitDuration: s.WaitDuration}
		}); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	var err error
	if g := a.LLM; g != nil {
		g.SetObserver(m)
		st := g.Stats()
		counter := func(name, help string, v func() int64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v()) })
		}
		err = m.Register(
			counter("vibecoder_llm_upstream_calls_total", "Calls the gateway made to providers, retries included.", st.UpstreamCalls.Load),
			counter("vibecoder_llm_retries_total", "Upstream calls that were retries.", st.Retries.Load),
			counter("vibecoder_llm_fallbacks_total", "Moves to a fallback model after the model kept failing.", st.Fallbacks.Load),
			counter("vibecoder_llm_coalesced_total", "Calls answered by an identical call already in flight.", st.Coalesced.Load),
			counter("vibecoder_llm_cache_errors_total", "LLM cache reads and writes that failed (reads count as misses).", st.CacheErrors.Load),
			counter("vibecoder_llm_limiter_errors_total", "Rate-limiter failures (the call was admitted).", st.LimiterErrors.Load),
			counter("vibecoder_llm_usage_write_failures_total", "Failed llm_usage batch writes (each retried).", g.UsageWriteFailures),
		)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	if a.Auth != nil {
		st := a.Auth.Stats
		counter := func(name, help string, v func(auth.Stats) int64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(st())) })
		}
		err = m.Register(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vibecoder_auth_password_hashes_running", Help: "argon2id computations running now (bounded by VIBECODER_PASSWORD_HASH_CONCURRENCY)."},
				func() float64 { return float64(st().HashRunning) }),
			counter("vibecoder_auth_password_busy_total", "Signups and logins refused with 503 because every hashing slot stayed busy.", func(s auth.Stats) int64 { return s.HashBusy }),
			counter("vibecoder_auth_login_failures_total", "Logins with a wrong password or an unknown email.", func(s auth.Stats) int64 { return s.LoginFailures }),
			counter("vibecoder_auth_login_throttled_total", "Logins refused with 429 by a failed-login limit.", func(s auth.Stats) int64 { return s.LoginsThrottled }),
			counter("vibecoder_auth_limiter_errors_total", "Failed-login limiter failures (counted in process instead).", func(s auth.Stats) int64 { return s.LimiterErrors }),
		)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	if q := a.Jobs; q != nil {
		q.WatchFinished(ctx, m.ObserveJob)
		go a.countJobs(ctx, m)
	}
	if err := a.HTTP.EnableMetrics(m, httpapi.MetricsConfig{Token: a.Config.MetricsToken, SlowRequest: a.Config.SlowRequest}); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// countJobs refreshes the queue-depth gauges every few seconds until ctx is done, so a
// scrape never waits on the database.
func (a *App) countJobs(ctx context.Context, m *observe.Metrics) {
	t := time.NewTicker(jobCountInterval)
	defer t.Stop()
	failing := false
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		counts, err := a.Jobs.CountActive(qctx)
		cancel()
		switch {
		case err == nil:
			m.SetJobCounts(counts)
			failing = false
		case ctx.Err() == nil && !failing:
			// Logged once per outage, not every few seconds.
			a.Log.Warn("count jobs for metrics", slog.Any("error", err))
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
