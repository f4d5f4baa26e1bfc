package app_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/store"
)

// TestPipelineSurvivesRestart: the server stops while the coder's LLM call is in
// flight; the step is cancelled and goes back to the queue, and a new server on the
// same data directory carries the execution through to the end.
func TestPipelineSurvivesRestart(t *testing.T) {
	remote := fixtureRepo(t)
	var calls atomic.Int64
	inFlight := make(chan struct{}, 1)
	fake := llmtest.NewOpenAI(t, func(req llmtest.RecordedRequest) llmtest.Reply {
		if calls.Add(1) == 1 {
			inFlight <- struct{}{}
			return llmtest.Reply{Text: wrongFix, Delay: time.Minute} // cut short by the restart
		}
		r := llmScript(req)
		if r.Text == wrongFix { // after the restart, go straight to the right fix
			r.Text = strings.ReplaceAll(rightFix, "return a * b", "return a - b")
		}
		return r
	})
	_, bwrapErr := exec.LookPath("bwrap")
	vars := map[string]string{
		"VIBECODER_DATA_DIR":          t.TempDir(),
		"OPENAI_API_KEY":              "sk-test-0123456789abcdef0123",
		"OPENAI_BASE_URL":             fake.URL,
		"VIBECODER_DEFAULT_MODEL":     "openai/gpt-4o-mini",
		"VIBECODER_ALLOW_UNSANDBOXED": fmt.Sprint(bwrapErr != nil),
		"VIBECODER_JOB_QUEUES":        "codegen:backoff=100ms;testrun:backoff=100ms;review:backoff=100ms;pr:backoff=100ms",
		"VIBECODER_JOB_SOFT_STOP":     "1s",
		"VIBECODER_LOCAL_REPO_ROOTS":  filepath.Dir(filepath.Dir(remote)),
	}
	cfg, err := config.Load(noSeed(func(k string) string { return vars[k] }))
	if err != nil {
		t.Fatal(err)
	}
	// shutdown stops a server started by startServer: neither serving nor closing fails.
	shutdown := func(stop func() (error, error)) {
		serveErr, closeErr := stop()
		if serveErr != nil {
			t.Errorf("serve: %v", serveErr)
		}
		if closeErr != nil {
			t.Errorf("close: %v", closeErr)
		}
	}

	a1, _, stop1 := startServer(t, cfg)
	u, err := a1.Auth.Signup(t.Context(), "restart@example.com", "", "restart password", false)
	if err != nil {
		t.Fatal(err)
	}
	remote = giveRepo(t, remote, u.ID.String())
	p := &store.Project{UserID: u.ID, Name: "calc", RepoURL: "file://" + remote, DefaultBranch: "main"}
	if err := a1.Store.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	task := &store.Task{UserID: u.ID, ProjectID: p.ID, Title: "Fix Add so that it returns the sum"}
	if err := a1.Store.CreateTask(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	e, _, err := a1.Pipeline.Run(t.Context(), u.ID, task.ID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-inFlight:
	case <-time.After(60 * time.Second):
		t.Fatal("the coder's LLM call never started")
	}
	shutdown(stop1) // SIGTERM, in effect, in the middle of codegen

	a2, _, stop2 := startServer(t, cfg)
	defer shutdown(stop2)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got, err := a2.Store.GetExecution(t.Context(), u.ID, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == store.ExecSucceeded {
			var d struct {
				Steps []struct{ Name, Status string }
			}
			_ = json.Unmarshal(got.Details, &d)
			if len(d.Steps) == 0 || d.Steps[0].Name != "codegen" || d.Steps[0].Status != "failed" {
				t.Fatalf("the interrupted step is not recorded: %+v", d.Steps)
			}
			break
		}
		if got.Status == store.ExecFailed || got.Status == store.ExecCancelled {
			t.Fatalf("execution %s after the restart: %s", got.Status, got.Error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution still %s/%s 3 minutes after the restart", got.Status, got.Step)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
