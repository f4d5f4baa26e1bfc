//go:build unix

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/pipeline"
	"github.com/vibecoder/vibecoder/internal/sandbox"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// The first-run fixture: a one-file Go module with one failing test. The scripted coder fixes
// it at once and the reviewer approves, so an execution is one codegen, one sandboxed
// `go test ./...`, one review and a commit pushed to the project's own repository.
var firstRunFiles = map[string]string{
	"go.mod":       "module example.com/calc\n\ngo 1.22\n",
	"calc.go":      "// Package calc adds numbers.\npackage calc\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n",
	"calc_test.go": "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif got := Add(2, 3); got != 5 {\n\t\tt.Fatalf(\"Add(2, 3) = %d, want 5\", got)\n\t}\n}\n",
}

func firstRunScript(req llmtest.RecordedRequest) llmtest.Reply {
	for _, m := range req.Messages {
		if m.Role == "system" && strings.Contains(m.Content, "code reviewer") {
			return llmtest.Reply{Text: `{"verdict": "approve", "summary": "Add returns the sum.", "comments": []}`}
		}
	}
	return llmtest.Reply{Text: "calc.go\n```go\n<<<<<<< SEARCH\n\treturn a - b\n=======\n\treturn a + b\n>>>>>>> REPLACE\n```\n"}
}

// firstRunApp is one server (API and workers) with its own data dir and user.
type firstRunApp struct {
	a     *app.App
	base  string
	key   string
	user  string
	repos string // VIBECODER_LOCAL_REPO_ROOTS
	n     int
}

func startFirstRunApp(b *testing.B, llmURL, seed string) *firstRunApp {
	b.Helper()
	repos := b.TempDir()
	vars := map[string]string{
		"VIBECODER_DATA_DIR":          b.TempDir(),
		"OPENAI_API_KEY":              "sk-test-0123456789abcdef0123",
		"OPENAI_BASE_URL":             llmURL,
		"VIBECODER_DEFAULT_MODEL":     "openai/gpt-4o-mini",
		"VIBECODER_LLM_RPM":           "100000",
		"VIBECODER_LOCAL_REPO_ROOTS":  repos,
		"VIBECODER_GO_CACHE_SEED":     seed,
		"VIBECODER_JOB_POLL_INTERVAL": "100ms",
		"LOG_LEVEL":                   "warn",
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		b.Fatal("bubblewrap is required: the benchmark measures sandboxed runs (scripts/install-deps.sh)")
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, observe.NewLogger(io.Discard, cfg.LogLevel, observe.NewRedactor(cfg.Secrets())))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.ServeListener(ctx, ln) }()
	b.Cleanup(func() { stop(); <-served; _ = a.Close() })
	u, err := a.Auth.Signup(ctx, fmt.Sprintf("bench-%s@example.com", seed), "Bench", "a long enough benchmark password", false)
	if err != nil {
		b.Fatal(err)
	}
	key, _, err := a.Auth.CreateAPIKey(ctx, u.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return &firstRunApp{a: a, base: "http://" + ln.Addr().String(), key: key, user: u.ID.String(), repos: repos}
}

func (f *firstRunApp) do(b *testing.B, method, path string, body, out any) {
	b.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, f.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			b.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// newProject makes a fresh repository and registers it: a project whose build cache is empty.
func (f *firstRunApp) newProject(b *testing.B) string {
	b.Helper()
	f.n++
	repo := filepath.Join(f.repos, f.user, fmt.Sprintf("calc%d", f.n))
	testutil.GitRepo(b, repo, firstRunFiles, "calc")
	var proj struct{ ID string }
	f.do(b, "POST", "/api/v1/projects", map[string]string{"name": fmt.Sprintf("calc%d", f.n), "repo_url": "file://" + repo}, &proj)
	return proj.ID
}

// execution is one timed run: POST run to the execution finished with its commit.
type execution struct {
	took   time.Duration
	tests  time.Duration // the sandboxed go test itself
	seeded bool
}

func (f *firstRunApp) run(b *testing.B, project string) execution {
	b.Helper()
	f.n++
	var task struct{ ID string }
	f.do(b, "POST", "/api/v1/projects/"+project+"/tasks", map[string]string{"title": fmt.Sprintf("Fix Add (%d)", f.n),
		"description": "TestAdd fails: Add(2, 3) must be 5."}, &task)
	var run struct{ ID string }
	start := time.Now()
	f.do(b, "POST", "/api/v1/tasks/"+task.ID+"/run", nil, &run)
	for deadline := start.Add(20 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ex struct {
			Status  string
			Error   string
			Commit  *struct{ SHA string }
			Details struct{ Tests []pipeline.TestRun }
		}
		f.do(b, "GET", "/api/v1/executions/"+run.ID, nil, &ex)
		switch {
		case ex.Status == "succeeded" && ex.Commit != nil:
			took := time.Since(start)
			if len(ex.Details.Tests) != 1 || !ex.Details.Tests[0].Passed || !ex.Details.Tests[0].Sandboxed {
				b.Fatalf("execution %s: tests %+v", run.ID, ex.Details.Tests)
			}
			t := ex.Details.Tests[0]
			return execution{took: took, tests: time.Duration(t.DurationMS) * time.Millisecond, seeded: t.Seeded}
		case ex.Status == "failed" || ex.Status == "cancelled":
			b.Fatalf("execution %s %s: %s", run.ID, ex.Status, ex.Error)
		}
	}
	b.Fatalf("execution %s did not finish in 20 minutes", run.ID)
	return execution{}
}

// compiles runs `go test -x` of the fixture in the app's sandbox with a copy of the seed as
// the build cache, and returns the packages it compiled: the check that the seed's keys are
// the keys a sandboxed run computes.
func (f *firstRunApp) compiles(b *testing.B) []string {
	b.Helper()
	ws, cache := b.TempDir(), filepath.Join(b.TempDir(), "cache", "probe")
	if err := os.MkdirAll(cache, 0o750); err != nil {
		b.Fatal(err)
	}
	testutil.WriteTree(b, ws, firstRunFiles)
	t0 := time.Now()
	if seeded, err := f.a.Pipeline.Seeder.Seed(context.Background(), cache); err != nil || !seeded {
		b.Fatalf("seed: %v %v", seeded, err)
	}
	var size int64
	files := 0
	_ = filepath.WalkDir(filepath.Join(cache, "go-build"), func(_ string, d fs.DirEntry, err error) error {
		if fi, ierr := d.Info(); err == nil && ierr == nil && d.Type().IsRegular() {
			size += fi.Size()
			files++
		}
		return nil
	})
	b.Logf("a copy of the seed: %d files, %.0f MB, copied in %v", files, float64(size)/1e6, time.Since(t0).Round(time.Millisecond))
	res, err := f.a.Pipeline.Sandbox.Run(context.Background(), sandbox.Spec{Dir: ws, Shell: "go test -x ./...", CacheDir: cache,
		Env: pipeline.TestEnv(cache), Timeout: 10 * time.Minute})
	if err != nil || !res.Sandboxed {
		b.Fatalf("go test -x: %v", err)
	}
	var pkgs []string
	for _, m := range regexp.MustCompile(`/compile [^\n]* -p (\S+) `).FindAllStringSubmatch(res.Output, -1) {
		pkgs = append(pkgs, m[1])
	}
	return pkgs
}

// BenchmarkFirstRun times a new Go project's first execution, from POST run to the
// execution finished with its commit, three ways, back to back in each round: cold (no seed:
// the run compiles the standard library it imports), seeded (VIBECODER_GO_CACHE_SEED=std,
// the seed built beforehand) and a warm rerun (a second task on the seeded project). Rounds:
// VIBECODER_BENCH_FIRSTRUN_ROUNDS (3). It compiles the standard library cold once per
// round, so it takes minutes:
//
//	go test -run '^$' -bench FirstRun -benchtime 1x -timeout 60m ./internal/bench/
func BenchmarkFirstRun(b *testing.B) {
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("VIBECODER_BENCH_FIRSTRUN_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	fake := llmtest.NewOpenAI(b, firstRunScript)
	cold := startFirstRunApp(b, fake.URL, "off")
	seeded := startFirstRunApp(b, fake.URL, "std")

	t0 := time.Now()
	if _, err := seeded.a.Pipeline.Seeder.Wait(context.Background()); err != nil {
		b.Fatal(err)
	}
	seedBuild := time.Since(t0)
	b.Logf("seed (std) ready after %v (built at worker start, not part of any run below); load %s", seedBuild.Round(time.Millisecond), loadavg())
	compiled := seeded.compiles(b)
	b.Logf("go test -x of the fixture with a copy of the seed compiled %d packages: %v", len(compiled), compiled)
	if slices.ContainsFunc(compiled, func(p string) bool { return p != "main" && !strings.HasPrefix(p, "example.com/") }) {
		b.Errorf("the seed missed: standard library packages compiled %v", compiled)
	}

	b.ResetTimer()
	var colds, seeds, warms []time.Duration
	for r := range rounds {
		before := loadavg()
		c := cold.run(b, cold.newProject(b))
		proj := seeded.newProject(b)
		s := seeded.run(b, proj)
		w := seeded.run(b, proj)
		if c.seeded || !s.seeded || w.seeded {
			b.Fatalf("seeded: cold %v, first %v, rerun %v", c.seeded, s.seeded, w.seeded)
		}
		colds, seeds, warms = append(colds, c.took), append(seeds, s.took), append(warms, w.took)
		b.Logf("round %d: cold %v (go test %v) | seeded %v (go test %v) | warm rerun %v (go test %v) | seeded/warm %.2f, cold/warm %.1f | load before %s, after %s",
			r+1, c.took.Round(time.Millisecond), c.tests, s.took.Round(time.Millisecond), s.tests, w.took.Round(time.Millisecond), w.tests,
			s.took.Seconds()/w.took.Seconds(), c.took.Seconds()/w.took.Seconds(), before, loadavg())
	}
	med := func(d []time.Duration) time.Duration { d = slices.Clone(d); slices.Sort(d); return d[len(d)/2] }
	b.ReportMetric(med(colds).Seconds(), "cold-s")
	b.ReportMetric(med(seeds).Seconds(), "seeded-s")
	b.ReportMetric(med(warms).Seconds(), "warm-s")
	b.ReportMetric(med(seeds).Seconds()/med(warms).Seconds(), "seeded/warm")
	b.ReportMetric(med(colds).Seconds()/med(warms).Seconds(), "cold/warm")
	b.ReportMetric(seedBuild.Seconds(), "seed-build-s")
	b.ReportMetric(0, "ns/op")
}

// loadavg is /proc/loadavg's first three fields: how busy the shared machine was.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
