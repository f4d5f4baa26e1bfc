package httpapi_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vibecoder/vibecoder/internal/httpapi"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

const metricsToken = "metrics-token-0123456789abcdef"

// scrape reads /metrics as Prometheus does and parses it with Prometheus's own parser.
func scrape(t *testing.T, c *client) map[string]*dto.MetricFamily {
	t.Helper()
	c.e.settle()
	r := c.ok(http.StatusOK, "GET", "/metrics", nil, header("Authorization", "Bearer "+metricsToken))
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text exposition", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.raw))
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, r.raw)
	}
	return fams
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// series returns the metric of family name whose labels include want, or nil.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		got := labelsOf(m)
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func counterValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := series(fams, name, labels)
	if m == nil {
		t.Fatalf("no %s series with labels %v", name, labels)
	}
	return m.GetCounter().GetValue()
}

func TestMetrics(t *testing.T) {
	forEachDialectLLM(t, map[string]string{"VIBECODER_METRICS_TOKEN": metricsToken}, nil, func(t *testing.T, e *llmEnv) {
		e.secret(metricsToken)
		anon := e.anon(t)

		t.Run("token", func(t *testing.T) {
			anon := anon.in(t)
			wantProblem(t, anon.do("GET", "/metrics", nil), http.StatusUnauthorized, "no token")
			wantProblem(t, anon.do("GET", "/metrics", nil, header("Authorization", "Bearer wrong-token-0123456789abcdef")),
				http.StatusUnauthorized, "wrong token")
			wantProblem(t, anon.do("GET", "/metrics", nil, header("Authorization", "Basic "+metricsToken)),
				http.StatusUnauthorized, "not a bearer token")
			wantProblem(t, anon.do("GET", "/metrics", nil, header("Accept", "application/json")),
				http.StatusUnauthorized, "JSON without a token")
			anon.ok(http.StatusOK, "GET", "/metrics", nil, header("Authorization", "Bearer "+metricsToken))
		})

		// Known traffic: three reads of one project, a read of a project that does not
		// exist, a path no route matches, a made-up method, and the same LLM prompt
		// twice (a miss, then a cache hit).
		api := e.llmUser(t, "metrics")
		pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects",
			map[string]string{"name": "m", "repo_url": "https://github.com/acme/m.git"}).str("id")
		for range 3 {
			api.ok(http.StatusOK, "GET", "/api/v1/projects/"+pid, nil)
		}
		missing := uuid.NewString()
		wantProblem(t, api.do("GET", "/api/v1/projects/"+missing, nil), http.StatusNotFound, "missing project")
		wantProblem(t, anon.do("GET", "/no/such/"+missing, nil), http.StatusNotFound, "unmatched path")
		anon.do("BREW", "/api/v1/projects/"+missing, nil)
		api.ok(http.StatusOK, "POST", "/llm/generate", generateBody("metrics prompt"))
		if r := api.ok(http.StatusOK, "POST", "/llm/generate", generateBody("metrics prompt")); r.body["cached"] != true {
			t.Fatalf("second call not served from the cache: %s", r.raw)
		}

		fams := scrape(t, anon)

		t.Run("http series", func(t *testing.T) {
			byID := map[string]string{"route": "GET /api/v1/projects/{id}", "method": "GET"}
			if got := counterValue(t, fams, "vibecoder_http_requests_total", with(byID, "status", "200")); got != 3 {
				t.Errorf("GET /api/v1/projects/{id} 200: %v requests, want 3", got)
			}
			if got := counterValue(t, fams, "vibecoder_http_requests_total", with(byID, "status", "404")); got != 1 {
				t.Errorf("GET /api/v1/projects/{id} 404: %v requests, want 1", got)
			}
			if got := counterValue(t, fams, "vibecoder_http_requests_total",
				map[string]string{"route": "POST /api/v1/projects", "method": "POST", "status": "201"}); got != 1 {
				t.Errorf("POST /api/v1/projects 201: %v requests, want 1", got)
			}
			if got := counterValue(t, fams, "vibecoder_http_requests_total",
				map[string]string{"route": "unmatched", "method": "GET", "status": "404"}); got != 1 {
				t.Errorf("unmatched GET 404: %v requests, want 1", got)
			}
			if series(fams, "vibecoder_http_requests_total", map[string]string{"method": "OTHER"}) == nil {
				t.Errorf("the made-up method is not counted under method OTHER")
			}
			h := series(fams, "vibecoder_http_request_duration_seconds", byID)
			if h == nil || h.GetHistogram().GetSampleCount() != 4 {
				t.Errorf("duration histogram of GET /api/v1/projects/{id}: %v, want 4 samples", h)
			}
			for _, name := range []string{"vibecoder_http_requests_total", "vibecoder_http_request_duration_seconds"} {
				for _, m := range fams[name].GetMetric() {
					if l := labelsOf(m); l["route"] != "unmatched" && !strings.HasPrefix(l["route"], l["method"]+" ") && l["method"] != "HEAD" {
						t.Errorf("%s: route %q is not a pattern of method %q", name, l["route"], l["method"])
					}
				}
			}
		})

		t.Run("no raw ids in labels", func(t *testing.T) {
			for name, f := range fams {
				for _, m := range f.GetMetric() {
					for _, l := range m.GetLabel() {
						v := l.GetValue()
						if strings.Contains(v, pid) || strings.Contains(v, missing) || strings.Contains(v, "/no/such") || strings.Contains(v, "BREW") {
							t.Errorf("%s has label %s=%q: a raw path or method leaked into a label", name, l.GetName(), v)
						}
						if _, err := uuid.Parse(v); err == nil {
							t.Errorf("%s has label %s=%q, an id", name, l.GetName(), v)
						}
					}
				}
			}
		})

		t.Run("llm series", func(t *testing.T) {
			llm := map[string]string{"provider": "openai", "model": "gpt-4o-mini", "outcome": "ok"}
			if got := counterValue(t, fams, "vibecoder_llm_requests_total", with(llm, "cached", "false")); got != 1 {
				t.Errorf("uncached calls = %v, want 1", got)
			}
			if got := counterValue(t, fams, "vibecoder_llm_requests_total", with(llm, "cached", "true")); got != 1 {
				t.Errorf("cached calls = %v, want 1", got)
			}
			if got := counterValue(t, fams, "vibecoder_llm_cache_hits_total", nil); got != 1 {
				t.Errorf("cache hits = %v, want 1", got)
			}
			if got := counterValue(t, fams, "vibecoder_llm_cache_misses_total", nil); got != 1 {
				t.Errorf("cache misses = %v, want 1", got)
			}
			if got := counterValue(t, fams, "vibecoder_llm_upstream_calls_total", nil); got != 1 {
				t.Errorf("upstream calls = %v, want 1", got)
			}
			tok := map[string]string{"provider": "openai", "model": "gpt-4o-mini"}
			if counterValue(t, fams, "vibecoder_llm_tokens_total", with(tok, "type", "prompt")) <= 0 ||
				counterValue(t, fams, "vibecoder_llm_tokens_total", with(tok, "type", "completion")) <= 0 {
				t.Errorf("no tokens counted")
			}
			if counterValue(t, fams, "vibecoder_llm_cost_usd_total", tok) <= 0 {
				t.Errorf("no cost counted for a priced model")
			}
			if h := series(fams, "vibecoder_llm_request_duration_seconds", with(tok, "cached", "true")); h.GetHistogram().GetSampleCount() != 1 {
				t.Errorf("cache-hit latency histogram: %v", h)
			}
		})

		t.Run("runtime and database", func(t *testing.T) {
			pool := map[string]string{"sqlite": "sqlite_writer", "postgres": "postgres"}[e.dialect]
			if series(fams, "vibecoder_db_pool_max_connections", map[string]string{"pool": pool}) == nil {
				t.Errorf("no database pool metrics for pool %q", pool)
			}
			for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes"} {
				if fams[name] == nil {
					t.Errorf("no %s", name)
				}
			}
		})

		t.Run("json summary", func(t *testing.T) {
			r := anon.in(t).ok(http.StatusOK, "GET", "/metrics", nil,
				header("Authorization", "Bearer "+metricsToken), header("Accept", "application/json"))
			var s observe.Summary
			if err := json.Unmarshal(r.raw, &s); err != nil {
				t.Fatalf("summary: %v\n%s", err, r.raw)
			}
			for _, k := range []string{"httpRequests", "llmRequests", "cachePerformance", "jobs", "memory"} {
				if _, ok := r.body[k]; !ok {
					t.Errorf("summary has no %q: %s", k, r.raw)
				}
			}
			if got := s.HTTPRequests.ByRoute["GET /api/v1/projects/{id}"].Count; got != 4 {
				t.Errorf("byRoute GET /api/v1/projects/{id} count = %d, want 4", got)
			}
			if s.LLMRequests.Count != 2 || s.CachePerformance.Hits != 1 || s.CachePerformance.Misses != 1 || s.CachePerformance.HitRate != 0.5 {
				t.Errorf("llm %+v, cache %+v", s.LLMRequests.Latency, s.CachePerformance)
			}
			if s.Memory.RSS == 0 || s.Memory.HeapUsed == 0 {
				t.Errorf("memory = %+v", s.Memory)
			}
		})
	})
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}

// TestMetricsPercentiles drives known latencies through a test route (the handler
// moves a fake clock by the latency the path asks for) and checks the summary's
// percentiles exactly, the histogram's buckets against them, and the slow-request log.
func TestMetricsPercentiles(t *testing.T) {
	e := newEnv(t, "sqlite", nil) // the figures do not depend on the database
	clk := testutil.NewClock()    // handlers move it forward: the metrics see exactly the latencies the test chose
	logs := &testutil.SyncBuffer{}
	log := observe.NewLogger(logs, e.app.Config.LogLevel, observe.NewRedactor(nil))
	srv := httpapi.New(e.app.Store, e.app.Auth, observe.NewHealth("sqlite", e.app.Store.Ping, nil), log, httpapi.Config{})
	m := observe.NewMetrics(observe.MetricsConfig{})
	if err := srv.EnableMetrics(m, httpapi.MetricsConfig{Now: clk.Now, SlowRequest: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	srv.Handle("GET /test/latency/{ms}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("ms"))
		clk.Advance(time.Duration(n) * time.Millisecond)
		if r.URL.Query().Has("stream") {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	// settle waits for every request begun to be done with: a JSON answer (the
	// /metrics summary) reaches the client before its own metrics are taken, which
	// must not read the clock after the test has moved it on.
	var serving sync.RWMutex
	handler := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serving.RLock()
		defer serving.RUnlock()
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	settle := func() {
		serving.Lock()
		defer serving.Unlock()
	}
	get := func(path string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", hs.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}

	// 1..200 ms in random order, and a 60s event stream that must not count as latency.
	lat := make([]int, 200)
	for i := range lat {
		lat[i] = i + 1
	}
	rand.Shuffle(len(lat), func(i, j int) { lat[i], lat[j] = lat[j], lat[i] })
	for _, ms := range lat {
		get("/test/latency/" + strconv.Itoa(ms))
	}
	get("/test/latency/60000?stream=1")

	var s observe.Summary
	if err := json.NewDecoder(get("/metrics", "Accept", "application/json").Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	// Nearest rank over 1..200: p50 is the 100th sample, p95 the 190th, p99 the 198th.
	want := observe.Latency{Count: 200, Avg: 100.5, P50: 100, P95: 190, P99: 198, Samples: 200}
	if got := s.HTTPRequests.ByRoute["GET /test/latency/{ms}"]; got != want {
		t.Errorf("byRoute = %+v, want %+v", got, want)
	}

	fams, err := func() (map[string]*dto.MetricFamily, error) {
		p := expfmt.NewTextParser(model.UTF8Validation)
		return p.TextToMetricFamilies(get("/metrics").Body)
	}()
	if err != nil {
		t.Fatal(err)
	}
	route := map[string]string{"route": "GET /test/latency/{ms}", "method": "GET"}
	if got := counterValue(t, fams, "vibecoder_http_requests_total", with(route, "status", "204")); got != 201 {
		t.Errorf("requests = %v, want 201 (the stream counted too)", got)
	}
	h := series(fams, "vibecoder_http_request_duration_seconds", route).GetHistogram()
	if h.GetSampleCount() != 200 || math.Abs(h.GetSampleSum()-20.1) > 1e-9 {
		t.Errorf("histogram count %d sum %v, want 200 and 20.1s", h.GetSampleCount(), h.GetSampleSum())
	}
	// A histogram knows a quantile only to its bucket: the exact value must lie in the
	// bucket where the histogram puts that rank.
	for q, exact := range map[float64]float64{0.5: 0.100, 0.95: 0.190, 0.99: 0.198} {
		rank := q * float64(h.GetSampleCount())
		lower := 0.0
		for _, b := range h.GetBucket() {
			if float64(b.GetCumulativeCount()) >= rank {
				if exact <= lower || exact > b.GetUpperBound() {
					t.Errorf("p%v = %vs lies outside the histogram's bucket (%v, %v]", q*100, exact, lower, b.GetUpperBound())
				}
				break
			}
			lower = b.GetUpperBound()
		}
	}

	// A request over the threshold is logged as a warning with its route and timing.
	settle()
	get("/test/latency/2500")
	settle()
	found := false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line: %v: %s", err, line)
		}
		if l["msg"] != "slow http request" {
			continue
		}
		if found || l["level"] != "WARN" || l["route"] != "GET /test/latency/{ms}" || l["duration_ms"] != 2500.0 || l["threshold_ms"] != 2000.0 || l["request_id"] == "" {
			t.Errorf("slow request line: %s", line)
		}
		found = true
	}
	if !found {
		t.Errorf("no slow-request warning for a 2.5s request (and none wanted for the stream):\n%s", logs.String())
	}
}
