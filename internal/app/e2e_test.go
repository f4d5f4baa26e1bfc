package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/gitops/githubtest"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// fixtureRepo makes a Go module whose test fails (Add subtracts), pushed to a bare
// "remote" at <root>/acme/calc.git, and returns the remote's path.
func fixtureRepo(t *testing.T) string {
	root := t.TempDir()
	src := filepath.Join(root, "src")
	files := map[string]string{
		"go.mod":       "module example.com/calc\n\ngo 1.22\n",
		"calc.go":      "// Package calc adds numbers.\npackage calc\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n",
		"calc_test.go": "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif got := Add(2, 3); got != 5 {\n\t\tt.Fatalf(\"Add(2, 3) = %d, want 5\", got)\n\t}\n}\n",
	}
	testutil.GitRepo(t, src, files, "calc")
	remote := filepath.Join(root, "acme", "calc.git")
	testutil.Git(t, root, "clone", "-q", "--bare", src, remote)
	return remote
}

// giveRepo moves fixtureRepo's <root>/acme into <root>/<userID>/acme, the user's own
// directory of the local repository root (VIBECODER_LOCAL_REPO_ROOTS=<root>), and
// returns the remote's new path.
func giveRepo(t *testing.T, remote, userID string) string {
	t.Helper()
	root := filepath.Dir(filepath.Dir(remote))
	if err := os.MkdirAll(filepath.Join(root, userID), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "acme"), filepath.Join(root, userID, "acme")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, userID, "acme", filepath.Base(remote))
}

const (
	wrongFix = "The sum is wrong; multiply instead.\n\ncalc.go\n```go\n<<<<<<< SEARCH\n\treturn a - b\n=======\n\treturn a * b\n>>>>>>> REPLACE\n```\n"
	rightFix = "The test wants a sum.\n\ncalc.go\n```go\n<<<<<<< SEARCH\n\treturn a * b\n=======\n\treturn a + b\n>>>>>>> REPLACE\n```\n"
	review   = `{"verdict": "approve", "summary": "Add now returns the sum; the test passes.", "comments": [{"path": "calc.go", "line": 6, "body": "Correct."}]}`
)

// llmScript plays the coder (a wrong fix first, the right one once it has seen the
// failing test) and the reviewer.
func llmScript(req llmtest.RecordedRequest) llmtest.Reply {
	usage := &llmtest.Usage{PromptTokens: 900, CompletionTokens: 120}
	var system string
	for _, m := range req.Messages {
		if m.Role == "system" {
			system = m.Content
		}
	}
	switch {
	case strings.Contains(system, "code reviewer"):
		return llmtest.Reply{Text: review, Usage: usage}
	case strings.Contains(req.LastUserMessage(), "The tests failed"):
		return llmtest.Reply{Text: rightFix, Usage: usage}
	default:
		return llmtest.Reply{Text: wrongFix, Usage: usage}
	}
}

type httpClient struct {
	t    *testing.T
	base string
	key  string
}

func (c httpClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode
}

// TestPipelineEndToEnd: a task on a Go repository with a failing test. The coder's
// first fix is wrong; the sandboxed tests fail and their output goes back; the second
// fix passes; the reviewer approves; the change is committed on a new branch, pushed
// to the bare remote and a pull request is opened on a GitHub-speaking server. Every
// step is visible on the execution's event stream.
func TestPipelineEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	sandboxed := true
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and bubblewrap (bwrap) is not installed: scripts/install-deps.sh installs it")
		}
		t.Log("WARNING: bubblewrap is not installed; the tests of this run execute UNSANDBOXED")
		sandboxed = false
	}
	remote := fixtureRepo(t)
	fake := llmtest.NewOpenAI(t, llmScript)
	const token = "ghp_testtoken0123456789abcdefABCDEF"
	gh := githubtest.NewServer(t, token)

	vars := map[string]string{
		"VIBECODER_DATA_DIR":          t.TempDir(),
		"OPENAI_API_KEY":              "sk-test-0123456789abcdef0123",
		"OPENAI_BASE_URL":             fake.URL,
		"VIBECODER_DEFAULT_MODEL":     "openai/gpt-4o-mini",
		"GITHUB_TOKEN":                token,
		"GITHUB_API_URL":              gh.URL,
		"VIBECODER_ALLOW_UNSANDBOXED": fmt.Sprint(!sandboxed),
		"VIBECODER_JOB_QUEUES":        "codegen:backoff=100ms;testrun:backoff=100ms;review:backoff=100ms;pr:backoff=100ms",
		"VIBECODER_LLM_RPM":           "1000",
		"VIBECODER_LOCAL_REPO_ROOTS":  filepath.Dir(filepath.Dir(remote)),
		// What the fixture's go test needs, not the whole standard library: compiling it
		// is the cold compile this test's first run did before there was a seed.
		"VIBECODER_GO_CACHE_SEED": "testing",
	}
	if os.Getenv("VIBECODER_E2E_POSTGRES") == "true" {
		vars["DATABASE_URL"] = testutil.PostgresDSN(t)
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	a, err := app.New(t.Context(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.ServeListener(ctx, ln) }()
	defer func() { stop(); <-served }()
	base := "http://" + ln.Addr().String()

	anon := httpClient{t: t, base: base}
	var signup struct {
		CSRFToken string `json:"csrf_token"`
	}
	// Signup sets a cookie; the key is created with it, then used for everything else.
	jar := newJar()
	http.DefaultClient.Jar = jar
	defer func() { http.DefaultClient.Jar = nil }()
	if code := anon.do("POST", "/api/v1/auth/signup", map[string]string{"email": "e2e@example.com", "password": "end to end password"}, &signup); code != 201 {
		t.Fatalf("signup: %d", code)
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/apikeys", strings.NewReader(`{"name":"e2e"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", signup.CSRFToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var key struct{ Key string }
	_ = json.NewDecoder(resp.Body).Decode(&key)
	resp.Body.Close()
	http.DefaultClient.Jar = nil
	c := httpClient{t: t, base: base, key: key.Key}
	var me struct{ ID string }
	if code := c.do("GET", "/api/v1/me", nil, &me); code != 200 {
		t.Fatalf("me: %d", code)
	}
	remote = giveRepo(t, remote, me.ID)
	gh.AddRepo("acme/calc", remote)

	var proj, task struct{ ID string }
	if code := c.do("POST", "/api/v1/projects", map[string]string{"name": "calc", "repo_url": "file://" + remote}, &proj); code != 201 {
		t.Fatalf("project: %d", code)
	}
	if code := c.do("POST", "/api/v1/projects/"+proj.ID+"/tasks", map[string]string{"title": "Fix Add so that it returns the sum",
		"description": "TestAdd fails: Add(2, 3) must be 5."}, &task); code != 201 {
		t.Fatalf("task: %d", code)
	}
	var run struct {
		ID    string `json:"id"`
		JobID string `json:"job_id"`
	}
	if code := c.do("POST", "/api/v1/tasks/"+task.ID+"/run", nil, &run); code != 202 {
		t.Fatalf("run: %d", code)
	}

	// Follow the execution's event stream to its end.
	events := readStream(t, base+"/api/v1/executions/"+run.ID+"/events", key.Key, 5*time.Minute)
	var types []string
	for _, ev := range events {
		types = append(types, ev.typ)
	}
	t.Logf("events: %v", types)
	for _, want := range []string{"execution.queued", "step.started", "workspace.ready", "llm.output", "edits.applied", "diff",
		"tests.finished", "review", "commit", "pushed", "pr.opened", "execution.finished", "end"} {
		if !contains(types, want) {
			t.Errorf("event %q never came: %v", want, types)
		}
	}
	var testRuns []map[string]any
	for _, ev := range events {
		if ev.typ == "tests.finished" {
			var d map[string]any
			_ = json.Unmarshal([]byte(ev.data), &d)
			testRuns = append(testRuns, d)
		}
	}
	if len(testRuns) != 2 || testRuns[0]["passed"] != false || testRuns[1]["passed"] != true || testRuns[1]["sandboxed"] != sandboxed {
		t.Fatalf("test runs: %v", testRuns)
	}
	// The project's first run started from the seed; the repair run from what the first left.
	if testRuns[0]["seeded"] != true || testRuns[1]["seeded"] != false {
		t.Errorf("seeded: first run %v, second %v; want true, false", testRuns[0]["seeded"], testRuns[1]["seeded"])
	}
	if l := logs.String(); !strings.Contains(l, `"msg":"go build cache seed built"`) || !strings.Contains(l, `"msg":"go build cache seeded"`) {
		t.Errorf("the seed's build and copy are not logged:\n%s", l)
	}
	if !strings.Contains(fmt.Sprint(testRuns[0]["output"]), "Add(2, 3) = 6, want 5") {
		t.Errorf("the failing run's output lacks the failure: %v", testRuns[0]["output"])
	}

	var ex struct {
		Status    string  `json:"status"`
		TokensIn  int64   `json:"tokens_in"`
		TokensOut int64   `json:"tokens_out"`
		CostUSD   float64 `json:"cost_usd"`
		Details   struct {
			Tests  []map[string]any `json:"tests"`
			Branch string           `json:"branch"`
			PRURL  string           `json:"pr_url"`
			Diff   string           `json:"diff"`
			Steps  []map[string]any `json:"steps"`
		} `json:"details"`
		Review *struct {
			Verdict string `json:"verdict"`
			Summary string `json:"summary"`
		} `json:"review"`
		Commit *struct {
			SHA    string `json:"sha"`
			Branch string `json:"branch"`
			PRURL  string `json:"pr_url"`
		} `json:"commit"`
	}
	c.do("GET", "/api/v1/executions/"+run.ID, nil, &ex)
	if ex.Status != "succeeded" || ex.TokensIn != 3*900 || ex.TokensOut != 3*120 || ex.CostUSD <= 0 {
		t.Fatalf("execution: %+v", ex)
	}
	if ex.Review == nil || ex.Review.Verdict != "approve" || ex.Commit == nil || ex.Commit.PRURL == "" || ex.Commit.PRURL != ex.Details.PRURL {
		t.Fatalf("review/commit: %+v %+v", ex.Review, ex.Commit)
	}
	if !strings.Contains(ex.Details.Diff, "+\treturn a + b") || len(ex.Details.Steps) < 6 {
		t.Fatalf("details: diff %q, %d steps", ex.Details.Diff, len(ex.Details.Steps))
	}
	if !strings.HasPrefix(ex.Commit.Branch, "vibecoder/"+task.ID+"-fix-add") {
		t.Errorf("branch %q", ex.Commit.Branch)
	}
	// The branch is on the remote with the fix.
	if sha := testutil.Git(t, remote, "rev-parse", ex.Commit.Branch); sha != ex.Commit.SHA {
		t.Fatalf("remote branch at %s, commit %s", sha, ex.Commit.SHA)
	}
	if body := testutil.Git(t, remote, "show", ex.Commit.Branch+":calc.go"); !strings.Contains(body, "return a + b") {
		t.Fatalf("pushed calc.go:\n%s", body)
	}
	prs := gh.PullRequests("acme", "calc")
	if len(prs) != 1 || prs[0].Head != ex.Commit.Branch || prs[0].Base != "main" || !strings.Contains(prs[0].Body, "the test passes") {
		t.Fatalf("pull requests: %+v", prs)
	}
	// The workspace is gone, the task is done, and the gateway accounted each call. The
	// worker removes the workspace just after it commits the finished status (so a
	// failed commit can still retry in it): give it a moment.
	var entries []os.DirEntry
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if entries, _ = os.ReadDir(filepath.Join(vars["VIBECODER_DATA_DIR"], "workspaces")); len(entries) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(entries) != 0 {
		t.Errorf("workspaces left behind: %v", entries)
	}
	var tk struct{ Status string }
	c.do("GET", "/api/v1/tasks/"+task.ID, nil, &tk)
	if tk.Status != "done" || fake.Calls() != 3 {
		t.Fatalf("task %q, LLM calls %d", tk.Status, fake.Calls())
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("the GitHub token reached the logs")
	}
	// The audit trail has the run, the code generation, the push and the pull request.
	var audit struct {
		Items []struct {
			Action  string `json:"action"`
			Outcome string `json:"outcome"`
		} `json:"items"`
	}
	c.do("GET", "/api/v1/audit?action=task.run&action=codegen.finish&action=git.push&action=pr.open", nil, &audit)
	seen := map[string]int{}
	for _, it := range audit.Items {
		seen[it.Action]++
	}
	if seen["task.run"] != 1 || seen["codegen.finish"] != 2 || seen["git.push"] != 1 || seen["pr.open"] != 1 {
		t.Fatalf("audit events: %v", seen)
	}
}

type streamEvent struct{ typ, data string }

func readStream(t *testing.T, url, key string, limit time.Duration) []streamEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []streamEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	var ev streamEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.typ != "" {
				out = append(out, ev)
				if ev.typ == "end" {
					return out
				}
			}
			ev = streamEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
	t.Fatalf("the event stream ended without an end event (%v); events so far: %v", sc.Err(), out)
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
