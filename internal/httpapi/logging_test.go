package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vibecoder/vibecoder/internal/httpapi"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

var uuidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

func TestRequestIDs(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		const password = "request id password"
		api, _ := e.signup(t, "ids@example.com", password).newAPIKey("k")
		missing := "/api/v1/projects/" + uuid.NewString()

		// A well-formed id is kept, echoed and put in the problem body.
		r := api.do("GET", missing, nil, header("X-Request-ID", "abc-123"))
		wantProblem(t, r, http.StatusNotFound, "GET missing project")
		if got := r.header.Get("X-Request-ID"); got != "abc-123" {
			t.Errorf("X-Request-ID echoed as %q, want abc-123", got)
		}
		if r.str("request_id") != "abc-123" {
			t.Errorf("problem request_id = %q, want abc-123", r.str("request_id"))
		}
		line := e.accessLine(t, r)
		if line["route"] != "GET /api/v1/projects/{id}" || line["method"] != "GET" || line["status"] != float64(404) {
			t.Errorf("access line: %v", line)
		}

		// Without one, each request gets a fresh id.
		seen := map[string]bool{}
		for range 3 {
			r := api.do("GET", missing, nil)
			id := r.header.Get("X-Request-ID")
			if id == "" || seen[id] || r.str("request_id") != id {
				t.Fatalf("generated request id %q (seen before: %v), body request_id %q", id, seen[id], r.str("request_id"))
			}
			seen[id] = true
		}

		// A malformed one is replaced, not echoed.
		for _, bad := range []string{strings.Repeat("a", 200), "has spaces in it", "<script>", `a"b`, "abc/../etc"} {
			r := api.do("GET", "/api/v1/me", nil, header("X-Request-ID", bad))
			got := r.header.Get("X-Request-ID")
			if got == "" || got == bad || strings.ContainsAny(got, ` <>"/`) || len(got) > 128 {
				t.Errorf("X-Request-ID %q answered with %q, want a fresh id", bad, got)
			}
			if strings.Contains(e.logText(), bad) {
				t.Errorf("malformed request id %q reached the logs", bad)
			}
		}
	})
}

func TestAccessLog(t *testing.T) {
	forEachDialect(t, nil, func(t *testing.T, e *env) {
		web := e.signup(t, "log@example.com", "access log password")
		api, _ := web.newAPIKey("k")
		pid := api.ok(http.StatusCreated, "POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://github.com/acme/p.git"}).str("id")
		tid := api.ok(http.StatusCreated, "POST", "/api/v1/projects/"+pid+"/tasks", map[string]string{"title": "t"}).str("id")

		checks := []struct {
			method, path string
			body         any
			c            *client
			route        string
			status       int
		}{
			{"GET", "/api/v1/projects/" + pid, nil, api, "GET /api/v1/projects/{id}", 200},
			{"PATCH", "/api/v1/tasks/" + tid, map[string]string{"status": "done"}, api, "PATCH /api/v1/tasks/{id}", 200},
			{"GET", "/api/v1/projects/" + pid + "/tasks?limit=5", nil, api, "GET /api/v1/projects/{id}/tasks", 200},
			{"GET", "/api/v1/tasks/not-a-uuid", nil, api, "GET /api/v1/tasks/{id}", 404},
			{"POST", "/api/v1/projects", `{"name":`, api, "POST /api/v1/projects", 400},
			{"POST", "/api/v1/projects", map[string]string{"name": "x", "repo_url": "https://github.com/acme/x.git"}, web.withCSRF(""), "POST /api/v1/projects", 403},
			{"GET", "/api/v1/projects", nil, e.anon(t), "GET /api/v1/projects", 401},
			{"GET", "/no/such/" + pid, nil, api, "unmatched", 404},
			{"GET", "/health", nil, e.anon(t), "GET /health", 200},
			{"DELETE", "/api/v1/projects/" + pid, nil, api, "DELETE /api/v1/projects/{id}", 204},
		}
		for _, c := range checks {
			r := c.c.do(c.method, c.path, c.body)
			wantStatus(t, r, c.status, c.method+" "+c.path)
			line := e.accessLine(t, r)
			if line["level"] != "INFO" || line["method"] != c.method || line["route"] != c.route || line["status"] != float64(c.status) {
				t.Errorf("%s %s: access line %v, want route %q status %d", c.method, c.path, line, c.route, c.status)
			}
			if d, ok := line["duration_ms"].(float64); !ok || d < 0 {
				t.Errorf("%s %s: duration_ms %v", c.method, c.path, line["duration_ms"])
			}
		}

		// Exactly one line per request the server handled, every one of them with its
		// own request id and a route, never a raw id.
		lines := e.accessLines(t)
		if n := e.requestCount(); len(lines) != n {
			t.Errorf("%d access-log lines for %d requests", len(lines), n)
		}
		ids := map[any]bool{}
		for _, l := range lines {
			route, _ := l["route"].(string)
			if route == "" || uuidRE.MatchString(route) || strings.Contains(route, "not-a-uuid") {
				t.Errorf("access line route %q: want a pattern", route)
			}
			for _, k := range []string{"method", "status", "duration_ms", "request_id"} {
				if _, ok := l[k]; !ok {
					t.Errorf("access line without %s: %v", k, l)
				}
			}
			if ids[l["request_id"]] {
				t.Errorf("request id %v logged twice", l["request_id"])
			}
			ids[l["request_id"]] = true
		}

		// Nothing the test sent as a credential reached the logs (also checked for every
		// test at cleanup).
		e.assertNoSecretsInLogs(t)
		logs := e.logText()
		for _, s := range []string{"access log password", api.bearer, web.cookie, web.csrf} {
			if s == "" || strings.Contains(logs, s) {
				t.Errorf("logs contain a credential (%.6s...)", s)
			}
		}
	})
}

// gatedLog holds back every access-log line until open is closed.
type gatedLog struct {
	open chan struct{}
	held atomic.Int32
}

func (g *gatedLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"msg":"http request"`)) {
		g.held.Add(1)
		select {
		case <-g.open:
		case <-time.After(30 * time.Second):
		}
	}
	return len(p), nil
}

// TestAnswerSentBeforeBookkeeping: a JSON answer reaches the client whole before the
// request's access-log line is written (and its metrics and span recorded): a slow log
// sink or the logging work itself does not delay the answer — with tracing on too,
// whose middleware wraps the response writer. The log line is held back until the
// answer has arrived; had the answer waited for it, the client would time out.
func TestAnswerSentBeforeBookkeeping(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"without tracing", nil},
		{"with tracing", sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &gatedLog{open: make(chan struct{})}
			var once sync.Once
			release := func() { once.Do(func() { close(g.open) }) }
			log := observe.NewLogger(g, e.app.Config.LogLevel, observe.NewRedactor(nil))
			srv := httpapi.New(e.app.Store, e.app.Auth, observe.NewHealth("sqlite", e.app.Store.Ping, nil), log, httpapi.Config{Tracer: tc.tp})
			if err := srv.EnableMetrics(observe.NewMetrics(observe.MetricsConfig{}), httpapi.MetricsConfig{}); err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv.Handler())
			t.Cleanup(hs.Close)
			t.Cleanup(release) // before the server closes: its handler may be holding the line

			resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(hs.URL + "/health")
			if err != nil {
				t.Fatalf("the answer waited for the access log: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			if resp.StatusCode != http.StatusOK || !json.Valid(body) {
				t.Fatalf("health: %d %q", resp.StatusCode, body)
			}
			if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0 {
				t.Errorf("Content-Length %d, Transfer-Encoding %v for a %d-byte answer: want its length, not chunks", resp.ContentLength, resp.TransferEncoding, len(body))
			}
			// The request's log line comes after its answer, and is held back until
			// released: see it being written, so the test knows it was this one.
			for deadline := time.Now().Add(10 * time.Second); g.held.Load() == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the request's access-log line was never written")
				}
			}
			release()
		})
	}
}

// TestAccessLogGathersLinesInFlight: with a LogBuffer, the access log marks each
// request in flight on it, so its line is held (with the lines of the requests around
// it) and they leave together, in order, when the buffer's interval passes — not one
// write per request, even when the requests come one at a time.
func TestAccessLogGathersLinesInFlight(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	var dst testutil.SyncBuffer
	lb := observe.NewLogBuffer(&dst, time.Hour) // only Flush (the interval's timer) lets lines out
	log := observe.NewLogger(lb, e.app.Config.LogLevel, observe.NewRedactor(nil))
	srv := httpapi.New(e.app.Store, e.app.Auth, observe.NewHealth("sqlite", e.app.Store.Ping, nil), log, httpapi.Config{LogBuffer: lb})
	entered, release := make(chan struct{}), make(chan struct{})
	srv.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	get := func(path string) {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	get("/livez")
	done := make(chan struct{})
	go func() { defer close(done); get("/slow") }()
	<-entered
	get("/livez")
	close(release)
	<-done
	if out := dst.String(); out != "" {
		t.Fatalf("before the interval passed: %q written, want the lines held", out)
	}
	if err := lb.Flush(); err != nil {
		t.Fatal(err)
	}
	out := dst.String()
	live, live2, slow := strings.Index(out, `"route":"GET /livez"`), strings.LastIndex(out, `"route":"GET /livez"`), strings.Index(out, `"route":"GET /slow"`)
	if strings.Count(out, `"msg":"http request"`) != 3 || live < 0 || live2 == live || slow < live2 {
		t.Fatalf("after the interval: %q, want the three lines in the order they ended", out)
	}
}
