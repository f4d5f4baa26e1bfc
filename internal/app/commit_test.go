package app_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// TestCommitIsTheReviewedDiff: a project without a .gitignore whose test command writes
// bytecode and a log into the workspace (as Python's does), failing once so the coder
// gets a repair round. The diffs the reviewer and the events see, and the commit the
// branch gets, hold the coder's file and nothing the tests wrote.
func TestCommitIsTheReviewedDiff(t *testing.T) {
	remote := fixtureRepo(t)
	fake := llmtest.NewOpenAI(t, llmScript)
	s := startE2E(t, map[string]string{
		"VIBECODER_DATA_DIR":         t.TempDir(),
		"OPENAI_API_KEY":             "sk-test-0123456789abcdef0123",
		"OPENAI_BASE_URL":            fake.URL,
		"VIBECODER_DEFAULT_MODEL":    "openai/gpt-4o-mini",
		"VIBECODER_JOB_QUEUES":       "codegen:backoff=100ms;testrun:backoff=100ms;review:backoff=100ms;pr:backoff=100ms",
		"VIBECODER_LLM_RPM":          "1000",
		"VIBECODER_LOCAL_REPO_ROOTS": filepath.Dir(filepath.Dir(remote)),
	})
	u, err := s.a.Store.GetUserByEmail(t.Context(), "boundary@example.com")
	if err != nil {
		t.Fatal(err)
	}
	remote = giveRepo(t, remote, u.ID.String())
	testCmd := `mkdir -p __pycache__ && echo bytecode > __pycache__/calc.cpython-311.pyc && echo ran >> test.log && grep -q 'a + b' calc.go`
	var proj, task, run struct{ ID string }
	if code := s.c.do("POST", "/api/v1/projects", map[string]string{"name": "calc", "repo_url": "file://" + remote, "test_command": testCmd}, &proj); code != 201 {
		t.Fatalf("project: %d", code)
	}
	if code := s.c.do("POST", "/api/v1/projects/"+proj.ID+"/tasks", map[string]string{"title": "Fix Add so that it returns the sum"}, &task); code != 201 {
		t.Fatalf("task: %d", code)
	}
	if code := s.c.do("POST", "/api/v1/tasks/"+task.ID+"/run", nil, &run); code != 202 {
		t.Fatalf("run: %d", code)
	}
	events := readStream(t, s.base+"/api/v1/executions/"+run.ID+"/events", s.key, 5*time.Minute)
	var diffs []string
	for _, ev := range events {
		if ev.typ == "diff" {
			var d struct{ Diff string }
			_ = json.Unmarshal([]byte(ev.data), &d)
			diffs = append(diffs, d.Diff)
		}
	}
	if len(diffs) != 2 {
		t.Fatalf("%d diffs, want two (the wrong fix, then the repair)", len(diffs))
	}
	for i, d := range diffs {
		if !strings.Contains(d, "calc.go") || strings.Contains(d, "__pycache__") || strings.Contains(d, "test.log") {
			t.Errorf("diff %d holds what the tests wrote:\n%s", i+1, d)
		}
	}
	var ex struct {
		Status string `json:"status"`
		Commit *struct {
			SHA          string   `json:"sha"`
			Branch       string   `json:"branch"`
			FilesChanged []string `json:"files_changed"`
		} `json:"commit"`
	}
	s.c.do("GET", "/api/v1/executions/"+run.ID, nil, &ex)
	if ex.Status != "succeeded" || ex.Commit == nil {
		t.Fatalf("execution %s, commit %+v", ex.Status, ex.Commit)
	}
	files := strings.Fields(testutil.Git(t, remote, "diff-tree", "--no-commit-id", "--name-only", "-r", ex.Commit.SHA))
	if !slices.Equal(files, []string{"calc.go"}) || !slices.Equal(ex.Commit.FilesChanged, []string{"calc.go"}) {
		t.Fatalf("the pushed commit changes %v (recorded %v), want [calc.go] only", files, ex.Commit.FilesChanged)
	}
}
