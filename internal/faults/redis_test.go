package faults_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/faults/faultstest"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

// health is what the tests read of GET /health.
type health struct {
	Healthy  bool     `json:"healthy"`
	Status   string   `json:"status"`
	Down     []string `json:"down"`
	Degraded []string `json:"degraded"`
}

func getHealth(t *testing.T, p *faultstest.Proc) (health, int) {
	t.Helper()
	r := p.Get("/health")
	var h health
	if r.Status != 0 {
		if err := json.Unmarshal(r.Body, &h); err != nil {
			t.Fatalf("%s /health: %v: %s", p.Name, err, r.Body)
		}
	}
	return h, r.Status
}

// waitHealth polls /health until ok says its answer is the one wanted.
func waitHealth(t *testing.T, p *faultstest.Proc, what string, timeout time.Duration, ok func(h health, status int) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h, status := getHealth(t, p)
		if ok(h, status) {
			return
		}
		if p.Exited() {
			t.Fatalf("%s exited while waiting for /health to be %s; output:\n%s", p.Name, what, p.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /health not %s within %s; last: %d %+v", p.Name, what, timeout, status, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// traffic sends chat completions to each API process from its own goroutine until
// stopped, some prompts repeated so that the cache answers part of them, and counts
// the answers.
type traffic struct {
	ok     atomic.Int64
	mu     sync.Mutex
	failed []string
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

func startTraffic(key string, apis ...*faultstest.Proc) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	for _, api := range apis {
		tr.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				r := api.Chat(key, fmt.Sprintf("prompt %d", i%7))
				if r.Status == http.StatusOK {
					tr.ok.Add(1)
					continue
				}
				tr.mu.Lock()
				tr.failed = append(tr.failed, fmt.Sprintf("%s: %d %v %s", api.Name, r.Status, r.Err, r.Body))
				tr.mu.Unlock()
			}
		})
	}
	return tr
}

// Stop ends the traffic and returns the failed requests. It may be called again.
func (tr *traffic) Stop() []string {
	tr.once.Do(func() { close(tr.stop) })
	tr.wg.Wait()
	return tr.failed
}

// waitMore waits until at least n more requests have been answered.
func (tr *traffic) waitMore(t *testing.T, n int64) {
	t.Helper()
	target := tr.ok.Load() + n
	deadline := time.Now().Add(30 * time.Second)
	for tr.ok.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("traffic stalled: %d answered, waiting for %d", tr.ok.Load(), target)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric returns the value of an unlabelled series in a process's /metrics.
func metric(t *testing.T, p *faultstest.Proc, name string) float64 {
	t.Helper()
	r := p.Get("/metrics")
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestRedisOutageUnderTraffic kills the Redis that holds the LLM cache and the rate
// limiters while two API processes serve chat completions, then restarts it: no
// request fails, every process (the worker's too) stays ready and reports itself
// degraded, naming Redis, while it is down, and healthy again once it is back, without
// a restart. The failures are counted and logged.
func TestRedisOutageUnderTraffic(t *testing.T) {
	pg := faultstest.StartPostgres(t)
	rd := faultstest.StartRedis(t)
	llm := llmtest.NewOpenAI(t, llmtest.Text("hello"))
	env := faultstest.Env(t, pg.NewDatabase(t), rd.URL, llm.URL)
	api1 := faultstest.Serve(t, env, "VIBECODER_WORKERS", "false")
	api2 := faultstest.Serve(t, env, "VIBECODER_WORKERS", "false")
	wk := faultstest.Worker(t, env)
	procs := []*faultstest.Proc{api1, api2, wk}
	for _, p := range procs {
		p.WaitReady(t, startTimeout)
	}
	key := faultstest.NewAPIKey(t, env, "ada@example.com")
	for _, p := range procs {
		waitHealth(t, p, "ok", 10*time.Second, func(h health, status int) bool { return status == 200 && h.Status == "ok" })
	}

	tr := startTraffic(key, api1, api2)
	defer tr.Stop()
	tr.waitMore(t, 20)

	rd.Kill()
	for _, p := range procs {
		waitHealth(t, p, "degraded naming redis", 10*time.Second, func(h health, status int) bool {
			return status == 200 && h.Healthy && h.Status == "degraded" && slices.Equal(h.Degraded, []string{"redis"})
		})
		if r := p.Get("/readyz"); r.Status != http.StatusOK {
			t.Errorf("%s /readyz with Redis down: %d %s", p.Name, r.Status, r.Body)
		}
	}
	tr.waitMore(t, 20) // requests answered with Redis down

	rd.Start()
	for _, p := range procs {
		waitHealth(t, p, "ok again", 20*time.Second, func(h health, status int) bool { return status == 200 && h.Status == "ok" })
	}
	tr.waitMore(t, 20)
	if failed := tr.Stop(); len(failed) > 0 {
		t.Fatalf("%d requests failed around the Redis outage (of %d answered), first: %s", len(failed), tr.ok.Load(), failed[0])
	}

	// What the operator sees: the fail-open paths were counted, and the health
	// check's change was logged.
	if errs := metric(t, api1, "vibecoder_llm_limiter_errors_total") + metric(t, api2, "vibecoder_llm_limiter_errors_total"); errs == 0 {
		t.Error("vibecoder_llm_limiter_errors_total stayed 0 through the outage")
	}
	for _, p := range procs {
		if p.Exited() {
			t.Fatalf("%s exited during the Redis outage:\n%s", p.Name, p.Output())
		}
		out := p.Output()
		if !strings.Contains(out, `"msg":"health check failing","check":"redis","status":"degraded"`) ||
			!strings.Contains(out, `"msg":"health check recovered","check":"redis"`) {
			t.Errorf("%s did not log Redis going down and coming back:\n%s", p.Name, out)
		}
	}
}
