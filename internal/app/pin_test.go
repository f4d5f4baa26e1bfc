package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
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

// bareCalc makes the calc module (Add subtracts) as a bare repository at dir.
func bareCalc(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	testutil.GitRepo(t, src, map[string]string{
		"go.mod":  "module example.com/calc\n\ngo 1.22\n",
		"calc.go": "package calc\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n",
	}, "calc")
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Git(t, filepath.Dir(dir), "clone", "-q", "--bare", src, dir)
	return dir
}

// branches lists a repository's vibecoder/ branches.
func branches(t *testing.T, repo string) string {
	t.Helper()
	return testutil.Git(t, repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/vibecoder/")
}

// The push target is pinned: the project's repo_url changed while the run is under
// way — through the API to another repository the user may register, or (as a
// project registered under other rules would be) to one outside the roots — and the
// branch still lands only in the repository the run started with.
func TestRunPushesToPinnedRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	_, bwrapErr := exec.LookPath("bwrap")
	root := t.TempDir()
	reviewing := make(chan struct{}, 1)
	release := make(chan struct{})
	fake := llmtest.NewOpenAI(t, func(req llmtest.RecordedRequest) llmtest.Reply {
		usage := &llmtest.Usage{PromptTokens: 10, CompletionTokens: 10}
		for _, m := range req.Messages {
			if m.Role == "system" && strings.Contains(m.Content, "code reviewer") {
				reviewing <- struct{}{}
				select { // the test changes the project's repository meanwhile
				case <-release:
				case <-time.After(time.Minute):
				}
				return llmtest.Reply{Text: review, Usage: usage}
			}
		}
		return llmtest.Reply{Text: strings.ReplaceAll(rightFix, "return a * b", "return a - b"), Usage: usage}
	})
	vars := map[string]string{
		"VIBECODER_DATA_DIR":          t.TempDir(),
		"OPENAI_API_KEY":              "sk-test-0123456789abcdef0123",
		"OPENAI_BASE_URL":             fake.URL,
		"VIBECODER_DEFAULT_MODEL":     "openai/gpt-4o-mini",
		"VIBECODER_ALLOW_UNSANDBOXED": fmt.Sprint(bwrapErr != nil),
		"VIBECODER_JOB_QUEUES":        "codegen:backoff=100ms;testrun:backoff=100ms;review:backoff=100ms;pr:backoff=100ms",
		"VIBECODER_LOCAL_REPO_ROOTS":  root,
	}
	cfg, err := config.Load(noSeed(func(k string) string { return vars[k] }))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
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

	u, err := a.Auth.Signup(t.Context(), "pinned@example.com", "", "pinned long password", false)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := a.Auth.CreateAPIKey(t.Context(), u.ID, "k")
	if err != nil {
		t.Fatal(err)
	}
	c := httpClient{t: t, base: "http://" + ln.Addr().String(), key: key}
	own := filepath.Join(root, u.ID.String())

	for _, tc := range []struct {
		name string
		// swap changes the project's repository to other while the run is reviewed.
		swap func(t *testing.T, projectID, other string)
		// other is where the swap points (created by the test).
		other func(t *testing.T) string
	}{
		{
			name:  "PATCH to another repository of the user's",
			other: func(t *testing.T) string { return bareCalc(t, filepath.Join(own, "other.git")) },
			swap: func(t *testing.T, projectID, other string) {
				var out map[string]any
				if code := c.do("PATCH", "/api/v1/projects/"+projectID, map[string]string{"repo_url": "file://" + other}, &out); code != 200 {
					t.Fatalf("PATCH to the user's other repository: %d %v", code, out)
				}
			},
		},
		{
			name:  "repo_url outside the roots",
			other: func(t *testing.T) string { return bareCalc(t, filepath.Join(t.TempDir(), "outside.git")) },
			swap: func(t *testing.T, projectID, other string) {
				var out map[string]any
				if code := c.do("PATCH", "/api/v1/projects/"+projectID, map[string]string{"repo_url": other}, &out); code != 422 {
					t.Fatalf("PATCH outside the roots: %d %v", code, out)
				}
				// Registered under other rules (before the roots changed, say): set it directly.
				p, err := a.Store.GetProject(t.Context(), u.ID, uuid.MustParse(projectID))
				if err != nil {
					t.Fatal(err)
				}
				p.RepoURL = other
				if err := a.Store.UpdateProject(t.Context(), p); err != nil {
					t.Fatal(err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := bareCalc(t, filepath.Join(own, uuid.NewString()+".git"))
			other := tc.other(t)
			var proj, task, run struct{ ID string }
			if code := c.do("POST", "/api/v1/projects", map[string]string{"name": "calc", "repo_url": "file://" + orig, "test_command": "true"}, &proj); code != 201 {
				t.Fatalf("project: %d", code)
			}
			// A title of its own: the gateway's cache would answer the review of an
			// identical task without asking the (blocking) model.
			if code := c.do("POST", "/api/v1/projects/"+proj.ID+"/tasks", map[string]string{"title": "Fix Add: " + tc.name}, &task); code != 201 {
				t.Fatalf("task: %d", code)
			}
			if code := c.do("POST", "/api/v1/tasks/"+task.ID+"/run", nil, &run); code != 202 {
				t.Fatalf("run: %d", code)
			}
			select {
			case <-reviewing:
			case <-time.After(2 * time.Minute):
				t.Fatal("the run never reached the review")
			}
			tc.swap(t, proj.ID, other)
			release <- struct{}{}

			var ex struct {
				Status  string `json:"status"`
				Error   string `json:"error"`
				Details struct {
					Branch string `json:"branch"`
					Repo   struct {
						URL string `json:"url"`
					} `json:"repo"`
				} `json:"details"`
			}
			for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
				c.do("GET", "/api/v1/executions/"+run.ID, nil, &ex)
				if ex.Status == store.ExecSucceeded || ex.Status == store.ExecFailed || ex.Status == store.ExecCancelled {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("execution still %s", ex.Status)
				}
			}
			if ex.Status != store.ExecSucceeded || ex.Details.Repo.URL != "file://"+orig {
				b, _ := json.Marshal(ex)
				t.Fatalf("execution: %s", b)
			}
			if got := branches(t, orig); got != ex.Details.Branch || got == "" {
				t.Errorf("the original repository has branches %q, want %q", got, ex.Details.Branch)
			}
			if got := branches(t, other); got != "" {
				t.Errorf("the swapped-in repository %s received %q", other, got)
			}
		})
	}
}
