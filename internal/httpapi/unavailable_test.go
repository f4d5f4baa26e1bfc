package httpapi_test

import (
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

// TestDatabaseDownIs503 cuts the server's connection to PostgreSQL (a proxy between
// them): requests that need the database answer 503 with Retry-After, as problem+json
// on the API and in OpenAI's error format on /v1, without internals; /readyz says not
// ready. Nothing is answered 500.
func TestDatabaseDownIs503(t *testing.T) {
	dsn, proxy := testutil.ProxyURL(t, testutil.PostgresDSN(t))
	e := newEnv(t, "postgres", map[string]string{"DATABASE_URL": dsn})
	user := e.signup(t, "down@example.com", "correct horse battery")
	// A key never used yet: the server has not cached it, so checking it needs the database.
	keyed, _ := user.newAPIKey("laptop")
	proxy.Cut()

	leaks := []string{"connect", "127.0.0.1", proxy.Addr, "postgres", "dial", "refused"}
	noLeak := func(t *testing.T, r response) {
		t.Helper()
		for _, s := range leaks {
			if strings.Contains(strings.ToLower(string(r.raw)), strings.ToLower(s)) {
				t.Errorf("answer leaks %q: %s", s, r.raw)
			}
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After: %v", r.header)
		}
	}

	for _, tc := range []struct {
		name   string
		c      *client
		method string
		path   string
		body   any
	}{
		{"session, list", user, "GET", "/api/v1/projects", nil},
		{"api key, me", keyed, "GET", "/api/v1/me", nil},
		{"session, create", user, "POST", "/api/v1/projects", map[string]string{"name": "p", "repo_url": "https://example.com/p.git"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.in(t).do(tc.method, tc.path, tc.body)
			wantProblem(t, r, http.StatusServiceUnavailable, tc.method+" "+tc.path)
			noLeak(t, r)
		})
	}

	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/chat/completions", map[string]any{"model": "openai/gpt-4o-mini", "messages": []map[string]string{{"role": "user", "content": "hi"}}}},
		{"GET", "/v1/models", nil},
	} {
		t.Run("openai "+tc.path, func(t *testing.T) {
			r := keyed.in(t).do(tc.method, tc.path, tc.body)
			wantStatus(t, r, http.StatusServiceUnavailable, tc.path)
			if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "application/json" {
				t.Errorf("Content-Type %q, want application/json (OpenAI's error format)", r.header.Get("Content-Type"))
			}
			errObj, _ := r.body["error"].(map[string]any)
			if errObj == nil || errObj["message"] == "" || errObj["type"] != "server_error" || errObj["code"] != "service_unavailable" {
				t.Errorf("not OpenAI's error shape with type server_error, code service_unavailable: %s", r.raw)
			}
			noLeak(t, r)
		})
	}

	r := e.anon(t).do("GET", "/readyz", nil)
	wantStatus(t, r, http.StatusServiceUnavailable, "/readyz with the database down")
	e.settle()
	if logs := e.logText(); !strings.Contains(logs, "request failed: database unavailable") {
		t.Errorf("no warning names the cause in the logs:\n%s", logs)
	}
	for _, l := range e.accessLines(t) {
		if l["status"] == float64(http.StatusInternalServerError) {
			t.Errorf("a request was answered 500: %v", l)
		}
	}
}
