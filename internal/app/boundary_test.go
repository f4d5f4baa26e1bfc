package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/app"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// e2eServer is a running app and an API client signed in as a new user.
type e2eServer struct {
	a    *app.App
	base string
	key  string
	c    httpClient
	logs *testutil.SyncBuffer
}

// startE2E starts the app on config vars (the sandbox decided as for the end-to-end
// test) and signs a user up.
func startE2E(t *testing.T, vars map[string]string) *e2eServer {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and bubblewrap (bwrap) is not installed: scripts/install-deps.sh installs it")
		}
		t.Log("WARNING: bubblewrap is not installed; the tests of this run execute UNSANDBOXED")
		vars["VIBECODER_ALLOW_UNSANDBOXED"] = "true"
	}
	if os.Getenv("VIBECODER_E2E_POSTGRES") == "true" {
		vars["DATABASE_URL"] = testutil.PostgresDSN(t)
	}
	cfg, err := config.Load(noSeed(func(k string) string { return vars[k] }))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	a, err := app.New(t.Context(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.ServeListener(ctx, ln) }()
	t.Cleanup(func() { stop(); <-served })
	s := &e2eServer{a: a, base: "http://" + ln.Addr().String(), logs: logs}

	client := &http.Client{Jar: newJar()}
	post := func(path, csrf, body string, out any) {
		req, _ := http.NewRequest("POST", s.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d", path, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	var signup struct {
		CSRFToken string `json:"csrf_token"`
	}
	post("/api/v1/auth/signup", "", `{"email":"boundary@example.com","password":"boundary test password"}`, &signup)
	var key struct{ Key string }
	post("/api/v1/apikeys", signup.CSRFToken, `{"name":"e2e"}`, &key)
	s.key = key.Key
	s.c = httpClient{t: t, base: s.base, key: key.Key}
	return s
}

// e2eVars is the configuration the end-to-end tests share: a data directory of their
// own, llmURL as the OpenAI provider, fast retries, a high rate limit, and root as the
// local repository root; extra adds or replaces variables (key, value pairs).
func e2eVars(t *testing.T, llmURL, root string, extra ...string) map[string]string {
	vars := map[string]string{
		"VIBECODER_DATA_DIR":         t.TempDir(),
		"OPENAI_API_KEY":             "sk-test-0123456789abcdef0123",
		"OPENAI_BASE_URL":            llmURL,
		"VIBECODER_DEFAULT_MODEL":    "openai/gpt-4o-mini",
		"VIBECODER_JOB_QUEUES":       "codegen:backoff=100ms;testrun:backoff=100ms;review:backoff=100ms;pr:backoff=100ms",
		"VIBECODER_LLM_RPM":          "1000",
		"VIBECODER_LOCAL_REPO_ROOTS": root,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	return vars
}

// userID is the signed-up user's id.
func (s *e2eServer) userID(t *testing.T) uuid.UUID {
	t.Helper()
	u, err := s.a.Store.GetUserByEmail(t.Context(), "boundary@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// runTask creates a project and a task through the API, runs the task and returns the
// execution's id.
func (s *e2eServer) runTask(t *testing.T, project, task map[string]string) string {
	t.Helper()
	var proj, tk, run struct{ ID string }
	if code := s.c.do("POST", "/api/v1/projects", project, &proj); code != 201 {
		t.Fatalf("project: %d", code)
	}
	if code := s.c.do("POST", "/api/v1/projects/"+proj.ID+"/tasks", task, &tk); code != 201 {
		t.Fatalf("task: %d", code)
	}
	if code := s.c.do("POST", "/api/v1/tasks/"+tk.ID+"/run", nil, &run); code != 202 {
		t.Fatalf("run: %d", code)
	}
	return run.ID
}

// events follows an execution's event stream to its end.
func (s *e2eServer) events(t *testing.T, runID string) []streamEvent {
	t.Helper()
	return readStream(t, s.base+"/api/v1/executions/"+runID+"/events", s.key, 5*time.Minute)
}

// TestPipelineWorkspaceLinks is the attack on the server's reads of a workspace. The
// repository commits links to /proc/self/environ, /etc/shadow and the preview signing
// key; the project's test command adds more links, a FIFO and a /dev/zero link, then
// fails, so the coder gets a repair round built from that workspace. The run must
// finish (nothing blocks), and nothing the links point to may reach the model, the
// events or the execution's record.
func TestPipelineWorkspaceLinks(t *testing.T) {
	dataDir := t.TempDir()
	keyPath := filepath.Join(dataDir, "preview.key")
	const providerKey = "sk-test-boundary-0123456789abcdef"

	root := t.TempDir()
	src := filepath.Join(root, "src")
	testutil.GitRepo(t, src, map[string]string{
		"go.mod":  "module example.com/calc\n\ngo 1.22\n",
		"calc.go": "package calc\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n",
	}, "calc")
	for link, target := range map[string]string{"env.go": "/proc/self/environ", "shadow.go": "/etc/shadow", "key.go": keyPath, "parent.go": "../../../preview.key"} {
		if err := os.Symlink(target, filepath.Join(src, link)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Git(t, src, "add", "-A")
	testutil.Git(t, src, "commit", "-q", "-m", "links")
	remote := filepath.Join(root, "acme", "calc.git")
	testutil.Git(t, root, "clone", "-q", "--bare", src, remote)

	coder := func(req llmtest.RecordedRequest) llmtest.Reply {
		var system string
		for _, m := range req.Messages {
			if m.Role == "system" {
				system = m.Content
			}
		}
		switch {
		case strings.Contains(system, "code reviewer"):
			return llmtest.Reply{Text: `{"verdict":"approve","summary":"fine","comments":[]}`}
		case strings.Contains(req.LastUserMessage(), "The tests failed"):
			return llmtest.Reply{Text: "calc.go\n```go\n<<<<<<< SEARCH\n\treturn a * b\n=======\n\treturn a + b\n>>>>>>> REPLACE\n```\n"}
		default:
			return llmtest.Reply{Text: "calc.go\n```go\n<<<<<<< SEARCH\n\treturn a - b\n=======\n\treturn a * b\n>>>>>>> REPLACE\n```\n"}
		}
	}
	fake := llmtest.NewOpenAI(t, coder)
	vars := e2eVars(t, fake.URL, root, "OPENAI_API_KEY", providerKey)
	vars["VIBECODER_DATA_DIR"] = dataDir
	s := startE2E(t, vars)
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatalf("the server made no preview key: %v", err)
	}
	secrets := map[string]string{"provider key": providerKey, "preview key": strings.TrimSpace(string(key))}
	if shadow, err := os.ReadFile("/etc/shadow"); err == nil {
		if line, _, _ := strings.Cut(string(shadow), "\n"); strings.Contains(line, ":") {
			secrets["/etc/shadow"] = line
		}
	}

	// The test command plants more, the way a project's tests could, then fails until
	// the coder's second answer is in.
	testCmd := fmt.Sprintf(`grep -q 'a + b' calc.go && exit 0; `+
		`ln -sf /etc/shadow zz.go; ln -sf %s zkey.go; ln -sf /dev/zero zero.go; ln -sf /proc/self/environ zenv.go; `+
		`mkfifo hang.go 2>/dev/null; mkdir -p deep && ln -sfn / deep/root; echo 'Add is wrong'; exit 1`, keyPath)
	remote = giveRepo(t, remote, s.userID(t).String())
	runID := s.runTask(t, map[string]string{"name": "calc", "repo_url": "file://" + remote, "test_command": testCmd},
		map[string]string{"title": "Fix Add", "description": "Add must return the sum."})
	// A hang (a read blocked on the FIFO or /dev/zero) shows here as a stream that never ends.
	events := s.events(t, runID)

	var status struct {
		Status  string          `json:"status"`
		Details json.RawMessage `json:"details"`
	}
	s.c.do("GET", "/api/v1/executions/"+runID, nil, &status)
	if status.Status != "succeeded" {
		t.Errorf("execution %s, want succeeded: %s", status.Status, status.Details)
	}
	reqs := fake.Requests()
	if len(reqs) < 3 {
		t.Fatalf("%d model calls, want the first answer, the repair and the review", len(reqs))
	}
	repair := false
	for _, r := range reqs {
		repair = repair || strings.Contains(r.LastUserMessage(), "The tests failed")
	}
	if !repair {
		t.Fatal("no repair round was asked for: the planted files were never read back")
	}
	var seen strings.Builder
	for _, r := range reqs {
		seen.Write(r.RawBody)
	}
	for _, ev := range events {
		seen.WriteString(ev.data)
	}
	seen.Write(status.Details)
	all := seen.String()
	for what, secret := range secrets {
		if strings.Contains(all, secret) || strings.Contains(all, strings.ReplaceAll(secret, "/", `\/`)) {
			t.Errorf("the %s reached the model, the events or the execution record", what)
		}
	}
	if strings.Contains(all, "PATH=") || strings.Contains(all, "OPENAI_API_KEY") {
		t.Error("an environment reached the model, the events or the execution record")
	}
}

// TestFailedStepKeepsItsRecord: a codegen step that fails after three LLM calls (no
// answer has an edit that applies) keeps everything it did on the execution: its three
// edit rounds, the coder's last answer, and tokens and cost equal to the sum of its
// llm_usage rows.
func TestFailedStepKeepsItsRecord(t *testing.T) {
	remote := fixtureRepo(t)
	fake := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply {
		return llmtest.Reply{Text: "I would change calc.go, but I will not show how.", Usage: &llmtest.Usage{PromptTokens: 700, CompletionTokens: 40}}
	})
	s := startE2E(t, e2eVars(t, fake.URL, filepath.Dir(filepath.Dir(remote))))
	remote = giveRepo(t, remote, s.userID(t).String())
	runID := s.runTask(t, map[string]string{"name": "calc", "repo_url": "file://" + remote}, map[string]string{"title": "Fix Add"})
	s.events(t, runID)
	var ex struct {
		Status    string  `json:"status"`
		TokensIn  int64   `json:"tokens_in"`
		TokensOut int64   `json:"tokens_out"`
		CostUSD   float64 `json:"cost_usd"`
		Details   struct {
			Edits       []map[string]any `json:"edits"`
			CoderOutput string           `json:"coder_output"`
		} `json:"details"`
	}
	s.c.do("GET", "/api/v1/executions/"+runID, nil, &ex)
	calls := int64(fake.Calls())
	if ex.Status != "failed" || calls != 3 {
		t.Fatalf("execution %s after %d model calls, want failed after 3", ex.Status, calls)
	}
	if len(ex.Details.Edits) != 3 || ex.Details.CoderOutput == "" {
		t.Errorf("the failed step's record was dropped: %d edit rounds, coder output %q", len(ex.Details.Edits), ex.Details.CoderOutput)
	}
	if ex.TokensIn != 3*700 || ex.TokensOut != 3*40 {
		t.Errorf("tokens %d in, %d out; want %d, %d", ex.TokensIn, ex.TokensOut, 3*700, 3*40)
	}
	// The usage rows are written in batches off the request path: wait for all three.
	var rows []store.UsageStats
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if rows, err = s.a.Store.UsageStats(t.Context(), s.userID(t), time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		for _, r := range rows {
			n += r.Calls
		}
		if n == calls || time.Now().After(deadline) {
			break
		}
	}
	var in, out int64
	var cost float64
	for _, r := range rows {
		in, out, cost = in+r.PromptTokens, out+r.CompletionTokens, cost+r.CostUSD
	}
	if in != ex.TokensIn || out != ex.TokensOut || math.Abs(cost-ex.CostUSD) > 1e-12 || cost <= 0 {
		t.Errorf("usage rows: %d in, %d out, $%g; the execution: %d in, %d out, $%g", in, out, cost, ex.TokensIn, ex.TokensOut, ex.CostUSD)
	}
}
