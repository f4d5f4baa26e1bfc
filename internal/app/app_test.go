package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

func newApp(t *testing.T, env map[string]string) *app.App {
	t.Helper()
	cfg, err := config.Load(noSeed(func(k string) string { return env[k] }))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func dialects(t *testing.T, fn func(t *testing.T, env map[string]string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, map[string]string{"VIBECODER_DATA_DIR": t.TempDir()}) })
	t.Run("postgres", func(t *testing.T) {
		fn(t, map[string]string{"VIBECODER_DATA_DIR": t.TempDir(), "DATABASE_URL": testutil.PostgresDSN(t)})
	})
}

// TestGracefulShutdown: after the stop signal an in-flight request still completes,
// new connections are refused, and Serve returns cleanly.
func TestGracefulShutdown(t *testing.T) {
	a := newApp(t, map[string]string{"VIBECODER_DATA_DIR": t.TempDir(), "VIBECODER_SHUTDOWN_TIMEOUT": "10s"})
	defer a.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	a.HTTP.Handle("GET /test/slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.ServeListener(ctx, ln) }()

	base := "http://" + ln.Addr().String()
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/test/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	stop()
	// Wait until the listener is closed: new connections are refused.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if i > 500 {
			t.Fatal("server still accepts connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned before the in-flight request finished: %v", err)
	default:
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestRestartKeepsData: what one process wrote, the next one reads.
func TestRestartKeepsData(t *testing.T) {
	dialects(t, func(t *testing.T, env map[string]string) {
		a := newApp(t, env)
		u, err := a.Auth.Signup(t.Context(), "restart@example.com", "R", "long-enough-password", false)
		if err != nil {
			t.Fatal(err)
		}
		p := &store.Project{UserID: u.ID, Name: "survivor", RepoURL: "/srv/r"}
		if err := a.Store.CreateProject(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		key, _, err := a.Auth.CreateAPIKey(t.Context(), u.ID, "k")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}

		b := newApp(t, env)
		defer b.Close()
		if _, err := b.Auth.CheckLogin(t.Context(), "restart@example.com", "long-enough-password", ""); err != nil {
			t.Fatalf("login after restart: %v", err)
		}
		if _, _, err := b.Auth.APIKeyUser(t.Context(), key); err != nil {
			t.Fatalf("api key after restart: %v", err)
		}
		got, err := b.Store.GetProject(t.Context(), u.ID, p.ID)
		if err != nil || got.Name != "survivor" {
			t.Fatalf("project after restart: %+v, %v", got, err)
		}
	})
}

// TestRedisUnreachableAtStartIsDegraded: a process whose Redis does not answer starts
// anyway, ready and degraded (cache and limits fail open); a REDIS_URL that does not
// parse still stops it.
func TestRedisUnreachableAtStartIsDegraded(t *testing.T) {
	a := newApp(t, map[string]string{"VIBECODER_DATA_DIR": t.TempDir(), "REDIS_URL": "redis://" + testutil.DeadAddr(t) + "/0"})
	defer a.Close()
	srv := httptestServer(t, a)
	h, code := getHealth(t, srv+"/health")
	if code != http.StatusOK || !h.Healthy || h.Status != "degraded" || h.Redis.Status != "down" || !slices.Equal(h.Degraded, []string{"redis"}) {
		t.Fatalf("health with Redis unreachable at start: %d %+v", code, h)
	}
	if _, code := getHealth(t, srv+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with Redis unreachable at start: %d", code)
	}

	cfg, err := config.Load(func(k string) string {
		return map[string]string{"VIBECODER_DATA_DIR": t.TempDir(), "REDIS_URL": "redis://127.0.0.1:1/0?protocol=nine"}[k]
	})
	if err == nil {
		if b, err := app.New(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil {
			b.Close()
			t.Fatal("started with a REDIS_URL that does not parse")
		}
	}
}

// healthBody is what the tests read of /health and /readyz.
type healthBody struct {
	Healthy  bool
	Status   string
	Redis    struct{ Status string }
	Degraded []string
	Down     []string
}

func getHealth(t *testing.T, url string) (healthBody, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h healthBody
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h, resp.StatusCode
}

// TestHealthReportsRedis: Redis going away makes the process degraded, never
// unready: /health says so and names it, /readyz stays 200.
func TestHealthReportsRedis(t *testing.T) {
	a := newApp(t, map[string]string{"VIBECODER_DATA_DIR": t.TempDir(), "REDIS_URL": testutil.RedisURL(t)})
	defer a.Close()
	srv := httptestServer(t, a)
	if h, code := getHealth(t, srv+"/health"); code != http.StatusOK || !h.Healthy || h.Redis.Status != "up" || h.Status != "ok" {
		t.Fatalf("health with Redis: %d %+v", code, h)
	}
	a.Redis.Close()
	h, code := getHealth(t, srv+"/health")
	if code != http.StatusOK || !h.Healthy || h.Status != "degraded" || h.Redis.Status != "down" || !slices.Equal(h.Degraded, []string{"redis"}) {
		t.Fatalf("health with Redis gone: %d %+v", code, h)
	}
	if h, code := getHealth(t, srv+"/readyz"); code != http.StatusOK || h.Status != "degraded" {
		t.Fatalf("/readyz with Redis gone: %d %+v", code, h)
	}
}

func httptestServer(t *testing.T, a *app.App) string {
	srv := httptest.NewServer(a.HTTP.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestHealthReportsJobsAndDisk: a process working jobs shows up as a live worker, and
// the data directory's free space is reported.
func TestHealthReportsJobsAndDisk(t *testing.T) {
	a := newApp(t, map[string]string{"VIBECODER_DATA_DIR": t.TempDir()})
	defer a.Close()
	stop, err := a.StartBackground(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	srv := httptestServer(t, a)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(srv + "/health")
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Healthy bool
			Status  string
			Jobs    struct {
				Status  string
				Workers int
			}
			Disk struct {
				Status    string
				FreeBytes uint64 `json:"free_bytes"`
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if h.Jobs.Workers >= 1 {
			if !h.Healthy || h.Jobs.Status != "up" || h.Disk.FreeBytes == 0 || h.Disk.Status == "" {
				t.Fatalf("health: %+v", h)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no live worker reported: %+v", h)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWorkerServesOps: a worker-only process (vibecoder worker with
// VIBECODER_WORKER_ADDR) serves its metrics and health, and nothing of the API.
func TestWorkerServesOps(t *testing.T) {
	a := newApp(t, map[string]string{"VIBECODER_DATA_DIR": t.TempDir(), "VIBECODER_WORKER_ADDR": "127.0.0.1:0"})
	defer a.Close()
	ln, err := net.Listen("tcp", a.Config.WorkerAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.RunWorkersListener(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/livez", "/readyz", "/health"} {
		if code, body := get(p); code != http.StatusOK {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, `vibecoder_http_requests_total{method="GET",route="GET /livez",status="200"} 1`) ||
		!strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	for _, p := range []string{"/api/v1/projects", "/v1/models", "/"} {
		if code, body := get(p); code != http.StatusNotFound || !strings.Contains(body, "a worker serves only") {
			t.Fatalf("%s on a worker: %d %s", p, code, body)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("RunWorkersListener: %v", err)
	}
	if _, err := http.Get(base + "/livez"); err == nil {
		t.Fatal("the ops listener still answers after the worker stopped")
	}
}

// TestProviderOutageLeavesReady: LLM providers are not probed: one that is down
// leaves the process ready and healthy, and its calls fail on their own (docs/OPERATIONS.md,
// "Dependencies and readiness").
func TestProviderOutageLeavesReady(t *testing.T) {
	a := newApp(t, map[string]string{"VIBECODER_DATA_DIR": t.TempDir(),
		"OPENAI_BASE_URL": "http://" + testutil.DeadAddr(t) + "/v1", "VIBECODER_DEFAULT_MODEL": "openai/gpt-4o-mini"})
	defer a.Close()
	srv := httptestServer(t, a)
	if h, code := getHealth(t, srv+"/health"); code != http.StatusOK || h.Status != "ok" {
		t.Fatalf("health with the LLM provider down: %d %+v", code, h)
	}
	if _, code := getHealth(t, srv+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with the LLM provider down: %d", code)
	}
}
