package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vibecoder/vibecoder/internal/observe"
)

// MetricsConfig tunes GET /metrics and the request metrics.
type MetricsConfig struct {
	// Token, when set, must be presented as Authorization: Bearer <token> to read
	// /metrics; unset, /metrics is open (keep it off the public network).
	Token string
	// SlowRequest is the duration past which a request is logged as a warning (2s).
	SlowRequest time.Duration
	// Now is the clock requests are timed by (time.Now); tests drive it.
	Now func() time.Time
}

type httpMetrics struct {
	m     *observe.Metrics
	cfg   MetricsConfig
	token [sha256.Size]byte
	prom  http.Handler
}

// EnableMetrics records every request in m, logs slow ones, and serves GET /metrics:
// the Prometheus text exposition, or with Accept: application/json the JSON summary.
// Call it before serving.
func (s *Server) EnableMetrics(m *observe.Metrics, cfg MetricsConfig) error {
	if cfg.SlowRequest <= 0 {
		cfg.SlowRequest = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hm := &httpMetrics{m: m, cfg: cfg, token: sha256.Sum256([]byte(cfg.Token)),
		prom: promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
		})}
	if s.llmCacheInfo != nil {
		info := s.llmCacheInfo
		err := m.Register(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vibecoder_llm_cache_entries",
				Help: "Responses in the in-process LLM cache (0 with Redis, which keeps its own count)."},
				func() float64 { return float64(info().Entries) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vibecoder_llm_cache_bytes",
				Help: "Bytes held by the in-process LLM cache (0 with Redis)."},
				func() float64 { return float64(info().Bytes) }),
		)
		if err != nil {
			return err
		}
	}
	s.metrics = hm
	return nil
}

// observeHTTP counts and times every request by its route pattern — never the raw
// path, which carries ids — and logs those slower than the threshold. It runs inside
// the access log, on the request the mux sets the pattern on.
func (s *Server) observeHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hm := s.metrics
		if hm == nil {
			next.ServeHTTP(w, r)
			return
		}
		start := hm.cfg.Now()
		rec, ok := w.(*statusRecorder) // the access log's; saves a wrapper per request
		if !ok {
			rec = &statusRecorder{ResponseWriter: w}
			w = rec
		}
		next.ServeHTTP(w, r)
		took := hm.cfg.Now().Sub(start)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		// An event stream's duration is how long the client listened, not a latency.
		timed := !isEventStream(w.Header().Get("Content-Type"))
		hm.m.ObserveHTTP(route, metricMethod(r.Method), status, took, timed)
		if timed && took > hm.cfg.SlowRequest {
			hm.m.ObserveSlowHTTP(route)
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "slow http request",
				slog.String("request_id", observe.RequestID(r.Context())),
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(took.Microseconds())/1000),
				slog.Float64("threshold_ms", float64(hm.cfg.SlowRequest.Microseconds())/1000),
				slog.Int64("bytes", rec.bytes),
			)
		}
	})
}

func isEventStream(contentType string) bool {
	return strings.HasPrefix(contentType, "text/event-stream")
}

// metricMethod bounds the method label: clients may send any token as a method.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

func (s *Server) getMetrics(w http.ResponseWriter, r *http.Request) {
	hm := s.metrics
	if hm.cfg.Token != "" && !hm.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vibecoder-metrics"`)
		s.problem(w, r, http.StatusUnauthorized, "Unauthorized", "send Authorization: Bearer <metrics token>")
		return
	}
	if wantsJSON(r) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, hm.m.Summary())
		return
	}
	hm.prom.ServeHTTP(w, r)
}

// authorized compares the bearer token with the configured one in constant time (over
// digests, so not even the token's length leaks).
func (hm *httpMetrics) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], hm.token[:]) == 1
}

// wantsJSON reports whether the Accept header names application/json (a Prometheus
// scraper never does).
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}
