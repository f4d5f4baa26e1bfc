package faults_test

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/faults/faultstest"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

// TestPostgresOutage stops PostgreSQL under an API process (which also works jobs) and
// a worker, then starts it again. While it is down, requests that need it answer 503
// with Retry-After — problem+json on the API, OpenAI's error format on /v1 — without
// internals; the processes say they are not ready (the database is their one hard
// dependency) but stay alive. Once it is back they are ready again without a restart,
// every chat completion answered (before the outage, and during it on an API key the
// process had already checked) has its llm_usage row, and both processes still shut
// down cleanly.
func TestPostgresOutage(t *testing.T) {
	pg := faultstest.StartPostgres(t)
	llm := llmtest.NewOpenAI(t, llmtest.Text("hello"))
	db := pg.NewDatabase(t)
	env := faultstest.Env(t, db, "", llm.URL)
	api := faultstest.Serve(t, env)
	wk := faultstest.Worker(t, env)
	api.WaitReady(t, startTimeout)
	wk.WaitReady(t, startTimeout)
	warm := faultstest.NewAPIKey(t, env, "ada@example.com")
	cold := faultstest.NewAPIKey(t, env, "bob@example.com") // not used until the database is down

	answered := 0
	for i := range 5 {
		if r := api.Chat(warm, fmt.Sprintf("before %d", i)); r.Status != http.StatusOK {
			t.Fatalf("chat before the outage: %d %s", r.Status, r.Body)
		}
		answered++
	}

	pg.Stop()
	// The process checked the warm key moments ago and remembers it for a few
	// seconds: those calls are answered, their usage rows wait for the database.
	during := 0
	for i := range 3 {
		switch r := api.Chat(warm, fmt.Sprintf("during %d", i)); r.Status {
		case http.StatusOK:
			during++
		case http.StatusServiceUnavailable:
		default:
			t.Fatalf("chat on a checked key with the database down: %d %s", r.Status, r.Body)
		}
	}
	if during == 0 {
		t.Error("no call on an already-checked key was answered while the database was down")
	}
	answered += during

	t.Run("openai routes answer 503 in OpenAI's format", func(t *testing.T) {
		for _, r := range []faultstest.Response{
			api.Chat(cold, "who am I?"),
			api.Do("GET", "/v1/models", cold, nil),
		} {
			unavailable(t, r, "application/json")
			var body struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil || body.Error.Message == "" ||
				body.Error.Type != "server_error" || body.Error.Code == nil || *body.Error.Code != "service_unavailable" {
				t.Errorf("not OpenAI's error format (type server_error, code service_unavailable): %s", r.Body)
			}
		}
	})
	t.Run("api routes answer 503 as problem+json", func(t *testing.T) {
		for _, path := range []string{"/api/v1/me", "/api/v1/projects"} {
			r := api.Do("GET", path, cold, nil)
			unavailable(t, r, "application/problem+json")
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(r.Body, &p); err != nil || p.Status != http.StatusServiceUnavailable || p.Detail == "" {
				t.Errorf("%s: not a 503 problem: %s", path, r.Body)
			}
		}
	})
	t.Run("not ready, alive, says why", func(t *testing.T) {
		for _, p := range []*faultstest.Proc{api, wk} {
			if r := p.Get("/readyz"); r.Status != http.StatusServiceUnavailable {
				t.Errorf("%s /readyz with the database down: %d %s", p.Name, r.Status, r.Body)
			}
			if r := p.Get("/livez"); r.Status != http.StatusOK {
				t.Errorf("%s /livez with the database down: %d %s", p.Name, r.Status, r.Body)
			}
			if h, status := getHealth(t, p); status != http.StatusServiceUnavailable || h.Status != "down" || !slices.Contains(h.Down, "database") {
				t.Errorf("%s /health with the database down: %d %+v", p.Name, status, h)
			}
		}
	})
	time.Sleep(2 * time.Second) // let background work (jobs, listeners, usage writes) fail for a while

	pg.Start()
	for _, p := range []*faultstest.Proc{api, wk} {
		p.WaitReady(t, 30*time.Second)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := api.Chat(cold, "after")
		if r.Status == http.StatusOK {
			answered++
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chat after the database came back: %d %s", r.Status, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every answered call has its usage row, and no refused one has a row.
	var rows int
	deadline = time.Now().Add(30 * time.Second)
	for {
		faultstest.Query(t, pg.AsSuperuser(db), "SELECT count(*) FROM llm_usage", &rows)
		if rows >= answered || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rows != answered {
		t.Errorf("llm_usage has %d rows; %d calls were answered (%d while the database was down)", rows, answered, during)
	}
	for _, p := range []*faultstest.Proc{api, wk} {
		if p.Exited() {
			t.Fatalf("%s exited during the outage:\n%s", p.Name, p.Output())
		}
		if code := p.Stop(30 * time.Second); code != 0 {
			t.Errorf("%s: exit %d on SIGTERM after the outage (wedged?); output:\n%s", p.Name, code, p.Output())
		}
	}
}

// unavailable checks a 503 answer: Retry-After, the content type, and no internals.
func unavailable(t *testing.T, r faultstest.Response, contentType string) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503: %s", r.Status, r.Body)
		return
	}
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != contentType {
		t.Errorf("Content-Type %q, want %s", r.Header.Get("Content-Type"), contentType)
	}
	for _, leak := range []string{"127.0.0.1", "connect", "dial", "postgres", "pgx", "sql"} {
		if strings.Contains(strings.ToLower(string(r.Body)), leak) {
			t.Errorf("answer leaks %q: %s", leak, r.Body)
		}
	}
}
